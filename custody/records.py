"""Signed item records: the canonical JSON that states what an item is and where it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import canonical, parse
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
        return {"record": parse(self.text), "signature": self.signature, "signer": self.signer_key_id}


# The fields every item record signs (schemas/item-record.schema.json "required"), in schema order.
REQUIRED_FIELDS = (
    "type", "archive", "item_id", "sha256", "blake3", "size", "media_type", "original_name",
    "fs_times", "provenance", "ingested_at", "ingested_by",
)  # fmt: skip


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"item record field '{key}' must be a string")
    return value


def _text_map(data: Mapping[str, object], key: str, nullable: bool) -> dict[str, str | None]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"item record field '{key}' must be an object")
    out: dict[str, str | None] = {}
    for name, inner in value.items():
        if not isinstance(name, str) or not (isinstance(inner, str) or (nullable and inner is None)):
            raise ValueError(f"item record field '{key}.{name}' must be a string{' or null' if nullable else ''}")
        out[name] = inner
    return out


@dataclass(frozen=True)
class ItemRecord:
    """The signed record of one item (schemas/item-record.schema.json).

    The required fields are typed attributes; every other field the record signs (withholdable, metadata,
    flags, warnings, tags, imported, derived_from, the ``*_bytes_b64`` fields, a pre-disclosure
    ``source_path``) is kept in ``optional`` exactly as signed, so ``from_json(d).to_json() == d`` and the
    canonical bytes (RFC 8785) of a record read back are the bytes that were signed.
    """

    archive: str
    item_id: str
    sha256: str
    blake3: str
    size: int
    media_type: str
    original_name: str
    fs_times: Mapping[str, str | None]
    provenance: Mapping[str, str | None]
    ingested_at: str
    ingested_by: str
    optional: Mapping[str, object] = field(default_factory=dict)
    type: str = RECORD_TYPE

    def to_json(self) -> dict[str, object]:
        """The record as JSON, the one form that is canonicalised and signed."""
        required: dict[str, object] = {
            "type": self.type,
            "archive": self.archive,
            "item_id": self.item_id,
            "sha256": self.sha256,
            "blake3": self.blake3,
            "size": self.size,
            "media_type": self.media_type,
            "original_name": self.original_name,
            "fs_times": dict(self.fs_times),
            "provenance": dict(self.provenance),
            "ingested_at": self.ingested_at,
            "ingested_by": self.ingested_by,
        }
        return {**self.optional, **required}

    def canonical(self) -> bytes:
        """The RFC 8785 bytes a signature over this record covers."""
        return canonical(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> ItemRecord:
        """The record ``data`` states. Raises ValueError naming the first field that is missing or mistyped."""
        if not isinstance(data, Mapping):
            raise ValueError("an item record must be a JSON object")
        missing = [key for key in REQUIRED_FIELDS if key not in data]
        if missing:
            raise ValueError(f"item record has no '{missing[0]}'")
        size = data["size"]
        if not isinstance(size, int) or isinstance(size, bool):
            raise ValueError("item record field 'size' must be an integer")
        return cls(
            type=_text(data, "type"),
            archive=_text(data, "archive"),
            item_id=_text(data, "item_id"),
            sha256=_text(data, "sha256"),
            blake3=_text(data, "blake3"),
            size=size,
            media_type=_text(data, "media_type"),
            original_name=_text(data, "original_name"),
            fs_times=_text_map(data, "fs_times", nullable=True),
            provenance=_text_map(data, "provenance", nullable=True),
            ingested_at=_text(data, "ingested_at"),
            ingested_by=_text(data, "ingested_by"),
            optional={k: v for k, v in data.items() if k not in REQUIRED_FIELDS},
        )

    @classmethod
    def from_text(cls, text: str | bytes) -> ItemRecord:
        """The record whose JSON text is ``text`` (as stored in items.record). Raises ValueError."""
        return cls.from_json(parse(text))

    @property
    def case(self) -> str | None:
        """The case the record states in the clear, if any."""
        return self.provenance.get("case")

    @property
    def metadata(self) -> Mapping[str, object]:
        """The technical metadata signed at ingest (empty if none)."""
        found = self.optional.get("metadata")
        return found if isinstance(found, Mapping) else {}


def sign(record: ItemRecord, signer: Signer) -> SignedRecord:
    """Canonicalise and sign an item record."""
    return sign_many([record], signer)[0]


def sign_many(items: Sequence[ItemRecord], signer: Signer) -> list[SignedRecord]:
    """Canonicalise and sign item records together (one request where the unlock agent holds the key)."""
    data = [record.canonical() for record in items]
    signatures = signer.sign_many(data)
    return [SignedRecord(d.decode("utf-8"), b64(sig), signer.key_id) for d, sig in zip(data, signatures, strict=True)]


def signature_valid(text: str, signature: str, public_key: Ed25519PublicKey) -> bool:
    """True if ``signature`` (base64) signs the record text ``text``."""
    try:
        raw = unb64(signature)
    except ValueError:
        return False
    return verify_signature(public_key, raw, text.encode("utf-8"))
