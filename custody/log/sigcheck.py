"""Ed25519 checks of log events in worker processes (imports nothing heavy: spawned workers start fast)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# (seq, raw 32-byte public key, raw signature, signed bytes)
Job = tuple[int, bytes, bytes, bytes]


def bad_signatures(jobs: list[Job]) -> list[int]:
    """The seqs whose signature does not verify."""
    keys: dict[bytes, Ed25519PublicKey] = {}
    bad: list[int] = []
    for seq, raw_key, signature, data in jobs:
        key = keys.get(raw_key)
        if key is None:
            key = keys[raw_key] = Ed25519PublicKey.from_public_bytes(raw_key)
        try:
            key.verify(signature, data)
        except InvalidSignature:
            bad.append(seq)
    return bad
