"""ORM models. Every table is append-only; database triggers refuse UPDATE and DELETE."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Actor(Base):
    """A person who acts on the archive, with one Ed25519 key and one role."""

    __tablename__ = "actors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_seq: Mapped[int] = mapped_column(BigInteger)


class Item(Base):
    """One piece of evidence: its signed record, keyed by content digest."""

    __tablename__ = "items"

    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    num: Mapped[int] = mapped_column(Integer, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    blake3: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    record: Mapped[str] = mapped_column(Text)  # canonical JSON (RFC 8785), exactly as signed
    signer_key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))  # base64 Ed25519 over ``record``


class ItemCase(Base):
    """Which cases an item belongs to (an item may be acquired for several)."""

    __tablename__ = "item_cases"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(128), primary_key=True)

    __table_args__ = (Index("ix_item_cases_case_id", "case_id", "item_id"),)


class Event(Base):
    """One custody-log entry; ``seq`` is also its Merkle leaf index."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))  # key id
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev: Mapped[str] = mapped_column(String(64))
    sig: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_events_item_id", "item_id"), Index("ix_events_action_seq", "action", "seq"))


class EventItem(Base):
    """That event ``seq`` names item ``item_id`` (in its ``item`` or its payload): an item's complete history."""

    __tablename__ = "event_items"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[str] = mapped_column(String(128), primary_key=True)

    __table_args__ = (Index("ix_event_items_item_id", "item_id"),)


class TreeNode(Base):
    """A completed perfect Merkle subtree: written once when its last leaf arrives."""

    __tablename__ = "tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    """A signed tree head (C2SP signed note), numbered in the order written."""

    __tablename__ = "checkpoints"

    num: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    time: Mapped[str] = mapped_column(String(32))


class ImportRow(Base):
    """A bundle received from another archive, and the seq of our receipt event."""

    __tablename__ = "imports"

    bundle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin: Mapped[str] = mapped_column(Text)
    vkey: Mapped[str] = mapped_column(Text)
    seal: Mapped[str] = mapped_column(String(128))
    checkpoint: Mapped[str] = mapped_column(Text)
    receipt_seq: Mapped[int] = mapped_column(BigInteger)


class ImportedRecord(Base):
    """The sender's signed item record, verbatim."""

    __tablename__ = "imported_records"

    bundle_id: Mapped[str] = mapped_column(ForeignKey("imports.bundle_id"), primary_key=True)
    original_item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"))
    record: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    signer_key_id: Mapped[str] = mapped_column(String(64))


class ImportedEvent(Base):
    """One event of the sender's log, verbatim (canonical JSON)."""

    __tablename__ = "imported_events"

    bundle_id: Mapped[str] = mapped_column(ForeignKey("imports.bundle_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(Text)


class ImportedKey(Base):
    """A public key of the sender's actors."""

    __tablename__ = "imported_keys"

    bundle_id: Mapped[str] = mapped_column(ForeignKey("imports.bundle_id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)


class CheckpointTimestamp(Base):
    """An RFC 3161 time-stamp response over one checkpoint's signed note, and the nonce we sent."""

    __tablename__ = "checkpoint_timestamps"

    checkpoint_num: Mapped[int] = mapped_column(ForeignKey("checkpoints.num"), primary_key=True)
    tsa_url: Mapped[str] = mapped_column(Text)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[str] = mapped_column(String(80))
    gen_time: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[str] = mapped_column(String(32))


APPEND_ONLY_TABLES = (
    "actors",
    "items",
    "item_cases",
    "events",
    "event_items",
    "tree_nodes",
    "checkpoints",
    "imports",
    "imported_records",
    "imported_events",
    "imported_keys",
    "checkpoint_timestamps",
)
