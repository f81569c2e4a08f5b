"""The human side of a bundle: a chain-of-custody report and instructions for stock tools."""

from __future__ import annotations

from html import escape
from typing import Any

from ..log.item_names import named_items
from ..metadata import describe_content_credentials

_STYLE = """
body{font-family:Georgia,serif;max-width:60em;margin:2em auto;color:#111}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif} table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
td,th{border:1px solid #999;padding:.25em .5em;vertical-align:top;text-align:left;font-size:.9em}
code{font-size:.85em;word-break:break-all} .superseded{color:#777;text-decoration:line-through}
"""


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{escape(label)}</th><td>{escape('' if value is None else str(value))}</td></tr>"


def _describe(event: dict[str, Any], names: dict[str, str]) -> str:
    payload = event["payload"]
    action = event["action"]
    if action == "annotate":
        text = f"Annotation: {payload.get('text')}"
        if payload.get("supersedes") is not None:
            text += f" (corrects annotation at event {payload['supersedes']})"
        return text
    if action == "access":
        return f"Bytes taken out ({payload.get('kind')}); purpose: {payload.get('purpose')}"
    if action == "acquire":
        acq = payload.get("acquisition", {})
        return f"Acquired again as {acq.get('original_name')} from {acq.get('source_path')}"
    if action == "export":
        return f"Exported in bundle {payload.get('bundle_id')}; purpose: {payload.get('purpose')}"
    if action == "export.failed":
        return f"Export in bundle {payload.get('bundle_id')} did not complete; nothing was delivered"
    if action == "verify":
        outcome = "passed" if payload.get("ok") else "found failures"
        return f"Verified (scope: {payload.get('scope')}): {outcome}"
    if action == "import":
        return f"Imported from bundle {payload.get('bundle_id')} of {payload.get('origin')}"
    if action == "ingest":
        return "Ingested: hashed, signed and stored"
    if action == "actor.add":
        return f"Actor {payload.get('name')} registered with role {payload.get('role')}"
    return str(action)


def report_html(
    bundle_id: str,
    origin: str,
    exported_by: str,
    purpose: str,
    records: list[dict[str, Any]],
    events: list[dict[str, Any]],
    names: dict[str, str],
    checkpoint_size: int,
    verified: list[str],
) -> str:
    """A self-contained HTML chain-of-custody report for the bundle's items."""
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>Chain of custody - {escape(bundle_id)}</title><style>{_STYLE}</style><body>",
        f"<h1>Chain-of-custody report</h1><table>{_row('Bundle', bundle_id)}{_row('Archive', origin)}",
        f"{_row('Exported by', exported_by)}{_row('Purpose', purpose)}",
        f"{_row('Log checkpoint', f'tree size {checkpoint_size}, signed by the archive key')}</table>",
        "<h2>What was verified at export</h2><ul>",
        *[f"<li>{escape(line)}</li>" for line in verified],
        "</ul><p>Every statement below can be re-checked from this bundle alone; see VERIFY.md.</p>",
    ]
    for signed in records:
        rec = signed["record"]
        item = rec["item_id"]
        parts.append(f"<h2>{escape(item)}: {escape(str(rec['original_name']))}</h2><table>")
        for label, key in (
            ("Size (bytes)", "size"),
            ("Media type", "media_type"),
            ("SHA-256", "sha256"),
            ("BLAKE3", "blake3"),
            ("Source path", "source_path"),
            ("Ingested at", "ingested_at"),
        ):
            parts.append(_row(label, rec.get(key)))
        parts.append(_row("Ingested by", names.get(str(rec.get("ingested_by")), rec.get("ingested_by"))))
        for key, value in (rec.get("provenance") or {}).items():
            if value is not None:
                parts.append(_row(f"Provenance: {key.replace('_', ' ')}", value))
        metadata = rec.get("metadata") or {}
        for key in ("captured_at", "gps", "device", "width", "height", "duration_seconds"):
            if metadata.get(key) is not None:
                parts.append(_row(f"Capture metadata: {key.replace('_', ' ')}", metadata[key]))
        if metadata.get("content_credentials"):
            parts.append(
                _row("Content Credentials (C2PA)", describe_content_credentials(metadata["content_credentials"]))
            )
        for flag in rec.get("flags") or []:
            parts.append(_row("Flag", flag.get("message") if isinstance(flag, dict) else flag))
        parts.append(
            "</table><h3>Custody timeline</h3><table><tr><th>Event</th><th>Time (UTC)</th>"
            "<th>Actor</th><th>What happened</th></tr>"
        )
        superseded = {e["payload"].get("supersedes") for e in events if e["action"] == "annotate"}
        for event in events:
            mine = item in named_items(str(event["action"]), event["item"], event["payload"])
            if not mine:
                continue
            css = " class='superseded'" if event["seq"] in superseded else ""
            parts.append(
                f"<tr{css}><td>{event['seq']}</td><td>{escape(event['time'])}</td>"
                f"<td>{escape(names.get(event['actor'], event['actor'][:16]))}</td>"
                f"<td>{escape(_describe(event, names))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


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
