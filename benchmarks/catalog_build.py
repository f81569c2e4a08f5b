"""Bulk generation of a large catalog with real signatures (benchmarks only).

Each item gets a signed record (custody.records.sign's bytes, signed with the actor's key), an
``items`` row, an ``item_cases`` row, a signed, hash-chained ``ingest`` event whose Merkle nodes are
stored, its ``event_items`` row; every transaction ends with a signed checkpoint, as an ingest does.
``add_events`` appends the events an archive in use logs afterwards: ``view`` (show), ``annotate``
and ``access`` (get) of existing items, signed and chained the same way.

What differs from the library's own write path is only how the bytes are produced and stored, not
which bytes: the canonical texts (records, payloads) are filled into a template made once by
custody.canonical from the same structure, and the first text of every transaction is compared
with custody.canonical's own encoding (a mismatch stops the build); the event's signed and leaf
bytes come from custody.log.logevent.canonical_pair, as custody.log.events.append makes them; the
rows go in with COPY (PostgreSQL) or executemany (SQLite) instead of one ORM object at a time.
The blobs are not stored (item bodies are derived from the item number, so ``store_blobs`` can
store any item's for real). Records sign their provenance in the clear (the shape of records made
before withheld fields).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import blake3
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from custody import records
from custody.archive import Acting
from custody.canonical import canonical_text
from custody.db.models import Item
from custody.keys import Signer, b64
from custody.log import checkpoints, merkle, tree
from custody.log.events import last_event
from custody.log.item_names import named_items
from custody.log.logevent import canonical_pair
from custody.timeutil import iso, utc_now

CASES = 1000
TAGS = tuple(f"tag-{n:02d}" for n in range(50))
_NOTES = tuple(
    f"Reviewed by analyst {n}: frame {n * 7} shows the vehicle plate; see report section {n}." for n in range(40)
)
_PURPOSES = ("court disclosure", "expert analysis", "internal review", "translation")


def body_of(archive_id: str, num: int) -> bytes:
    """The bytes of item ``num`` of a built catalog (64 bytes, distinct per item and archive)."""
    return hashlib.sha512(f"{archive_id}:{num}".encode()).digest()


class _Template:
    """Canonical JSON of one structure with some string values left open, filled by position.

    Made by custody.canonical from the structure with a placeholder string in each open place;
    ``fill`` puts JCS strings (or, for ``numbers``, integers) in their places. Only values that
    JCS writes as-is (printable ASCII without quote or backslash) may be filled; ``fill`` refuses others.
    """

    def __init__(
        self, build: Callable[[Mapping[str, object]], object], names: Sequence[str], numbers: Sequence[str] = ()
    ) -> None:
        self.build = build
        self.names = tuple(names)
        self.numbers = frozenset(numbers)
        marks = {name: f"@@{name}@@" for name in self.names}
        text = canonical_text(build(marks))
        self.parts: list[str] = []
        self.order: list[str] = []
        while True:
            found = [(text.find(f'"@@{n}@@"'), n) for n in self.names if f'"@@{n}@@"' in text]
            if not found:
                break
            at, name = min(found)
            self.parts.append(text[:at])
            self.order.append(name)
            text = text[at + len(f'"@@{name}@@"') :]
        self.parts.append(text)
        self.checked = False

    def fill(self, values: Mapping[str, object]) -> str:
        out = [self.parts[0]]
        for name, part in zip(self.order, self.parts[1:], strict=True):
            value = values[name]
            if name in self.numbers:
                assert isinstance(value, int) and abs(value) < 2**53
                out.append(str(value))
            else:
                assert isinstance(value, str) and value.isascii() and value.isprintable()
                assert '"' not in value and "\\" not in value
                out.append(f'"{value}"')
            out.append(part)
        text = "".join(out)
        if not self.checked:
            # Once per transaction: the filled text is custody.canonical's own encoding of the structure.
            expected = canonical_text(self.build(values))
            if text != expected:
                raise AssertionError(f"template text differs from custody.canonical:\n{text}\n{expected}")
            self.checked = True
        return text


def _record(archive: str, key_id: str) -> Callable[[Mapping[str, object]], object]:
    def build(v: Mapping[str, object]) -> object:
        return records.ItemRecord(
            archive=archive,
            item_id=str(v["item_id"]),
            sha256=str(v["sha256"]),
            blake3=str(v["blake3"]),
            size=cast(int, v["size"]),  # the placeholder string while the template is made
            media_type="image/jpeg",
            original_name=str(v["name"]),
            fs_times={"modified": str(v["now"]), "accessed": str(v["now"]), "changed": str(v["now"])},
            provenance={"case": str(v["case"]), "collected_by": "Field team 3", "method": "USB handover"},
            ingested_at=str(v["now"]),
            ingested_by=key_id,
            optional={
                "source_path": str(v["path"]),
                "metadata": {"flags": [], "captured_at": str(v["now"])},
            },
        ).to_json()

    return build


@dataclass
class _Log:
    """The log's head as the builder advances it: next seq, chain hash, Merkle frontier, rows to write."""

    seq: int
    prev: str
    size: int
    stack: list[tuple[int, bytes]]
    signer: Signer
    events: list[tuple[object, ...]] = field(default_factory=list)
    links: list[tuple[object, ...]] = field(default_factory=list)
    nodes: list[tuple[object, ...]] = field(default_factory=list)

    @classmethod
    def resume(cls, session: Session, signer: Signer) -> _Log:
        last = last_event(session)
        assert last is not None
        size = tree.tree_size(session)
        keys = merkle.frontier_keys(size)
        stored = tree.DbNodes(session).get_nodes(keys)
        return cls(last.seq + 1, last.chain_hash(), size, [(lv, stored[(lv, ix)]) for lv, ix in keys], signer)

    def append(self, time: str, action: str, item: str, payload: dict[str, object], payload_jcs: str) -> None:
        """One event as custody.log.events.append makes it: signed bytes, chain, leaf, nodes, item links."""
        key_id = self.signer.key_id
        unsigned = canonical_pair(self.seq, time, key_id, action, item, payload_jcs, self.prev, "")[0]
        sig = b64(self.signer.sign(unsigned))
        leaf = canonical_pair(self.seq, time, key_id, action, item, payload_jcs, self.prev, sig)[1]
        self.events.append((self.seq, time, key_id, action, item, payload_jcs, self.prev, sig))
        self.links.extend((self.seq, name) for name in named_items(action, item, payload))
        for level, idx, node in self._leaf(merkle.leaf_hash(leaf)):
            self.nodes.append((level, idx, node))
        self.prev = hashlib.sha256(leaf).hexdigest()
        self.seq += 1

    def _leaf(self, leaf: bytes) -> Iterator[tuple[int, int, bytes]]:
        index = self.size
        yield 0, index, leaf
        level, acc = 0, leaf
        while self.stack and self.stack[-1][0] == level:
            acc = merkle.node_hash(self.stack.pop()[1], acc)
            level += 1
            yield level, index >> level, acc
        self.stack.append((level, acc))
        self.size += 1


_COLUMNS = {
    "items": ("item_id", "num", "sha256", "blake3", "size", "media_type", "record", "signer_key_id", "signature"),
    "item_cases": ("item_id", "case_id"),
    "events": ("seq", "time", "actor", "action", "item_id", "payload", "prev", "sig"),
    "event_items": ("seq", "item_id"),
    "tree_nodes": ("level", "idx", "hash"),
}


def _insert(session: Session, table: str, rows: list[tuple[object, ...]]) -> None:
    """Rows into ``table`` in one statement: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    conn = session.connection()
    raw = conn.connection.driver_connection
    columns = _COLUMNS[table]
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        raw.cursor().executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # type: ignore[union-attr]


def _commit_log(session: Session, log: _Log) -> None:
    _insert(session, "events", log.events)
    _insert(session, "event_items", log.links)
    _insert(session, "tree_nodes", log.nodes)


def add_items(acting: Acting, count: int, chunk: int = 5000) -> None:
    """Append ``count`` items in transactions of ``chunk``, each ending with a signed checkpoint."""
    archive = acting.archive
    record = _Template(
        _record(archive.config.archive_id, acting.signer.key_id),
        ("item_id", "sha256", "blake3", "name", "path", "case", "now", "size"),
        numbers=("size",),
    )
    ingest = _Template(lambda v: {"record_sha256": v["r"], "sha256": v["s"]}, ("r", "s"))
    done = 0
    while done < count:
        n = min(chunk, count - done)
        record.checked = ingest.checked = False
        with archive.db.write() as session:
            _items(session, acting, n, record, ingest)
            checkpoints.write(session, acting.archive_signer, archive.config.origin, acting.signer)
        done += n


def _items(session: Session, acting: Acting, n: int, record: _Template, ingest: _Template) -> None:
    signer = acting.signer
    archive_id = acting.archive.config.archive_id
    log = _Log.resume(session, signer)
    num = (session.scalar(select(func.max(Item.num))) or 0) + 1
    items: list[tuple[object, ...]] = []
    cases: list[tuple[object, ...]] = []
    now = iso(utc_now())
    for k in range(num, num + n):
        item_id = f"EV-{k:06d}"
        body = body_of(archive_id, k)
        sha, b3 = hashlib.sha256(body).hexdigest(), blake3.blake3(body).hexdigest()
        case = f"CASE-{k % CASES:04d}"
        values = {
            "item_id": item_id,
            "sha256": sha,
            "blake3": b3,
            "name": f"IMG_{k:07d}.jpg",
            "path": f"/media/usb/DCIM/100CANON/IMG_{k:07d}.jpg",
            "case": case,
            "now": now,
            "size": len(body),
        }
        text = record.fill(values)
        # records.sign signs exactly the record's canonical bytes; the template gives those bytes.
        signature = b64(signer.sign(text.encode("utf-8")))
        items.append((item_id, k, sha, b3, len(body), "image/jpeg", text, signer.key_id, signature))
        cases.append((item_id, case))
        payload = {"record_sha256": hashlib.sha256(text.encode()).hexdigest(), "sha256": sha}
        log.append(now, "ingest", item_id, payload, ingest.fill({"r": payload["record_sha256"], "s": sha}))
    _insert(session, "items", items)
    _insert(session, "item_cases", cases)
    _commit_log(session, log)


def add_events(acting: Acting, count: int, items: int, seed: int, chunk: int = 20_000) -> None:
    """Append ``count`` events of use (view, annotate, access) on random items among the first ``items``.

    Of every ten: six views (show), two annotations with a tag, two accesses (get).
    """
    archive = acting.archive
    archive_id = archive.config.archive_id
    rng = random.Random(seed)
    view_jcs = canonical_text({})
    annotate = _Template(lambda v: {"text": v["text"], "tags": [v["tag"]], "supersedes": None}, ("text", "tag"))
    access = _Template(
        lambda v: {"purpose": v["purpose"], "kind": "get", "sha256": v["sha256"], "out_name": v["out"]},
        ("purpose", "sha256", "out"),
    )
    done = 0
    while done < count:
        n = min(chunk, count - done)
        annotate.checked = access.checked = False
        with archive.db.write() as session:
            log = _Log.resume(session, acting.signer)
            now = iso(utc_now())
            for j in range(n):
                num = rng.randrange(1, items + 1)
                item_id = f"EV-{num:06d}"
                kind = (done + j) % 10
                if kind < 6:
                    log.append(now, "view", item_id, {}, view_jcs)
                elif kind < 8:
                    values = {"text": rng.choice(_NOTES), "tag": rng.choice(TAGS)}
                    payload: dict[str, object] = {"text": values["text"], "tags": [values["tag"]], "supersedes": None}
                    log.append(now, "annotate", item_id, payload, annotate.fill(values))
                else:
                    sha = hashlib.sha256(body_of(archive_id, num)).hexdigest()
                    values = {"purpose": rng.choice(_PURPOSES), "sha256": sha, "out": f"IMG_{num:07d}.jpg"}
                    payload = {"purpose": values["purpose"], "kind": "get", "sha256": sha, "out_name": values["out"]}
                    log.append(now, "access", item_id, payload, access.fill(values))
            _commit_log(session, log)
            checkpoints.write(session, acting.archive_signer, archive.config.origin, acting.signer)
        done += n


def store_blobs(acting: Acting, nums: Sequence[int]) -> None:
    """Store the bytes of the given items for real (an export reads and re-hashes them)."""
    store = acting.archive.store
    archive_id = acting.archive.config.archive_id
    for num in nums:
        body = body_of(archive_id, num)
        writer = store.open_writer(durable=False)
        writer.write(body)
        writer.commit(hashlib.sha256(body).hexdigest(), blake3.blake3(body).hexdigest())
    store.sync()
