"""Signed item records: the canonical JSON that states what an item is and where it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import canonical
from .keys import Signer, b64, unb64, verify_signature

RECORD_TYPE = "custody.item/v1"


@dataclass(frozen=True)
class Provenance:
    """Where and how an item was collected, as the archivist states it at ingest."""

    source_url: str | None = None
    collected_by: str | None = None
    collected_at: str | None = None
    method: str | None = None
    case: str | None = None
    note: str | None = None
    platform: str | None = None
    posted_at: str | None = None
    uploader: str | None = None
    title: str | None = None
    description: str | None = None
    language: str | None = None
    collected_from: str | None = None
    capture_device: str | None = None
    # Tags given at ingest (`--tag`, the manifest's `tags` column): signed in the clear at the record's top
    # level (or the acquire event's acquisition), like the case, never among the withholdable values.
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, str | None]:
        stated = asdict(self)
        del stated["tags"]
        return stated


@dataclass(frozen=True)
class SignedRecord:
    """A record's canonical text and the signature over exactly those bytes."""

    text: str
    signature: str
    signer_key_id: str

    def to_json(self) -> dict[str, object]:
        from .canonical import parse

        return {"record": parse(self.text), "signature": self.signature, "signer": self.signer_key_id}


def sign(record: dict[str, object], signer: Signer) -> SignedRecord:
    """Canonicalise and sign an item record."""
    data = canonical(record)
    return SignedRecord(data.decode("utf-8"), b64(signer.sign(data)), signer.key_id)


def signature_valid(text: str, signature: str, public_key: Ed25519PublicKey) -> bool:
    """True if ``signature`` (base64) signs the record text ``text``."""
    try:
        raw = unb64(signature)
    except ValueError:
        return False
    return verify_signature(public_key, raw, text.encode("utf-8"))
