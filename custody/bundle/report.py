"""The human side of a bundle: instructions for stock tools (the report itself: custody.report)."""

from __future__ import annotations


def verify_md(bundle_id: str) -> str:
    """Instructions for checking the bundle with stock tools only."""
    return f"""# Verifying bundle {bundle_id} with stock tools

This bundle is a BagIt bag (RFC 8493). Nothing here requires custody itself.

## 0. Decrypt (only if you received `{bundle_id}.zip.age`)

    age -d -i your-identity.txt -o {bundle_id}.zip {bundle_id}.zip.age

## 1. Unpack and check every payload file

    unzip {bundle_id}.zip && cd {bundle_id}
    sha256sum -c manifest-sha256.txt
    sha512sum -c manifest-sha512.txt
    sha256sum -c tagmanifest-sha256.txt

or, with the Library of Congress `bagit` tool: `bagit.py --validate {bundle_id}`.

## 2. Check the seal

The exporting actor signed the tag manifest (which lists the digest of every other file)
with Ed25519. `custody/seal.pub.pem` is that actor's public key; its SHA-256 (of the raw
32-byte key) is the key id under which it also appears in `custody/keys/`.

    openssl pkeyutl -verify -pubin -inkey custody/seal.pub.pem -rawin \\
        -in tagmanifest-sha256.txt -sigfile custody/seal.sig

## 3. Check that the custody log contains these events

`custody/checkpoint.txt` is a signed tree head of the archive's append-only log
(C2SP tlog-checkpoint in a C2SP signed note), signed by the archive key in `custody/vkey.txt`.
Compare that key and the checkpoint with ones the archive published independently
(for example a checkpoint sent to you or printed in an earlier report). Each line of
`custody/events.jsonl` is one log event; its Merkle leaf hash is
SHA-256(0x00 || RFC 8785 canonical JSON of the event), and `custody/proofs.json` gives
its RFC 9162 inclusion proof to that checkpoint.

## 4. Check who signed what

`custody/items.json` holds each item's signed record (canonical JSON, RFC 8785) with the
signer's key id; every event carries its actor's key id and Ed25519 signature over the
canonical event without its `sig` field. The public keys are in `custody/keys/<key id>.pem`.

## 5. Check the trusted timestamps (RFC 3161)

When the archive has a time-stamp authority, `custody/seal.tsr` is a token over the SHA-256
of `custody/seal.sig`: it proves the sealed bundle existed no later than the time it states.
`custody/seal.tsa-certs.pem` holds the TSA's certificate; obtain the TSA's root certificate
(`TSA_ROOT.pem`) from the TSA itself, not from this bundle, then:

    openssl ts -verify -data custody/seal.sig -in custody/seal.tsr \
        -CAfile TSA_ROOT.pem -untrusted custody/seal.tsa-certs.pem
    openssl ts -reply -in custody/seal.tsr -text

The second command prints the attested time ("Time stamp:"). When present,
`custody/checkpoint.tsr` does the same for `custody/checkpoint.txt`:

    openssl ts -verify -data custody/checkpoint.txt -in custody/checkpoint.tsr \
        -CAfile TSA_ROOT.pem -untrusted custody/checkpoint.tsa-certs.pem

If these files are absent, the TSA could not be reached at export time or none was configured:
the bundle then proves who sealed it, not when.

`custody verify-bundle {bundle_id}.zip --tsa-ca TSA_ROOT.pem` performs all of the above at once.
"""
