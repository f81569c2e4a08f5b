"""Catalog completeness: the catalog holds exactly the rows the custody log creates, unchanged.

Every catalog table is compared with the signed data it derives from, in both directions: a row
the log does not account for, a row the log creates that is missing, and a row that differs from
what was signed are each a named failure (check, and the table, item, bundle or event at fault).

What is signed and what is not:

- ``items``: one row per ``ingest`` event; the event's ``record_sha256`` binds the record text,
  the record binds the columns (checked in custody.verify), ``num`` is the number in the id.
- ``item_cases``: derived from signed data only: the ingest record's ``provenance.case``, each
  ``acquire`` event's ``payload.acquisition.provenance.case`` and each ``case.add`` event's ``payload.case``.
- ``actors``: one row per ``actor.add`` event, equal to its payload, ``created_seq`` its seq.
- ``imports`` and ``imported_*``: one receipt row per ``import`` event; the event's
  ``payload.stored`` holds a SHA-256 per table over exactly the rows stored (see
  :func:`import_digests`). Receipts logged before these digests existed are checked for what
  they do carry (the row, its item mapping) and the rest is reported as a warning.
- ``tree_nodes``: exactly the perfect subtrees of the log's size, each the hash of its children,
  the leaves rebuilding the root recomputed from the events.
- ``checkpoints``: numbered 1..n without gaps, sizes strictly increasing, ``size`` and ``root``
  columns equal to the signed note. Its ``time`` column is not signed: local metadata, unchecked.
- ``checkpoint_timestamps``: each token belongs to an existing checkpoint and its ``gen_time``
  column equals the time the token attests (checked with the tokens). ``tsa_url`` and
  ``fetched_at`` are unsigned local metadata. A deleted token cannot be told apart from a token
  that was never fetched (the TSA may have been down): the checkpoint is reported untimestamped
  (a warning), never as verified time.

The module is long (about 500 lines) because it is one table-by-table comparison: splitting it by table
would scatter the one statement, above, of what each table derives from.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .canonical import canonical, canonical_text, parse
from .checks import CheckKind, Report
from .db.models import (
    APPEND_ONLY_TABLES,
    Actor,
    CheckpointRow,
    CheckpointTimestamp,
    Event,
    ImportedEvent,
    ImportedKey,
    ImportedRecord,
    ImportRow,
    Item,
    ItemCase,
    TreeNode,
)
from .errors import IntegrityError, ProofError
from .hashing import sha256_hex
from .log import merkle, note
from .log.events import LogEvent
from .log.state import LogState

if TYPE_CHECKING:
    from .store.base import BlobStore

UNSIGNED_COLUMNS: Mapping[str, frozenset[str]] = {
    "checkpoints": frozenset({"time"}),
    "checkpoint_timestamps": frozenset({"tsa_url", "fetched_at"}),
}
"""Columns no signature covers: local metadata that verification cannot and does not vouch for."""

_SHOWN = 10  # at most this many failures named per kind; the count says how many more


def check_catalog(session: Session, state: LogState, report: Report, items: Sequence[Item], store: BlobStore) -> None:
    """Compare every catalog table with the log ``state`` a full walk established; failures go to ``report``.

    ``items`` are all rows of ``items`` (already loaded by the caller), ``store`` holds the blobs.
    """
    before = len(report.failures)
    _check_items(state, report, items, store)
    _check_cases(session, state, report, items)
    _check_actor_events(session, state, report)
    _check_imports(session, state, report)
    _check_tree_nodes(session, state, report)
    _check_checkpoint_rows(session, state, report)
    _check_timestamp_rows(session, report)
    _check_triggers(session, report)
    if len(report.failures) == before:
        report.add(
            CheckKind.CATALOG, "archive", True, "every catalog row is accounted for by the log, and nothing is missing"
        )


# --- items ---------------------------------------------------------------------------------------


def _ingests(state: LogState) -> dict[str, list[LogEvent]]:
    by_item: dict[str, list[LogEvent]] = defaultdict(list)
    for event in state.events_by_action.get("ingest", []):
        if event.item is not None:
            by_item[event.item].append(event)
    return by_item


def _check_items(state: LogState, report: Report, items: Sequence[Item], store: BlobStore) -> None:
    rows = {item.item_id: item for item in items}
    for item_id, events in sorted(_ingests(state).items()):
        if len(events) > 1:
            seqs = ", ".join(str(e.seq) for e in events)
            report.add(CheckKind.INGEST_EVENT, item_id, False, f"ingested more than once (events {seqs})")
        if item_id in rows:
            continue
        event = events[0]
        sha = str(event.payload.get("sha256", ""))
        try:
            blob = "its blob is still in the store" if sha and store.exists(sha) else "its blob is gone too"
        except Exception as exc:  # a store that cannot answer must not hide the missing row
            blob = f"the store could not say whether its blob exists ({exc})"
        report.add(
            CheckKind.ITEM_MISSING,
            item_id,
            False,
            f"ingest event {event.seq} created it, but table items has no row for it; {blob}",
        )
    for item in items:
        if item.item_id != f"EV-{item.num:06d}":
            report.add(CheckKind.RECORD_FIELDS, item.item_id, False, f"items.num {item.num} does not match the item id")


# --- case membership -----------------------------------------------------------------------------


def _case_of(provenance: object) -> str | None:
    if isinstance(provenance, dict):
        case = provenance.get("case")
        return str(case) if case else None
    return None


def signed_cases(
    records: Iterable[tuple[str, str]], ingest_hashes: Mapping[str, str], acquires: Iterable[LogEvent]
) -> dict[tuple[str, str], str]:
    """Case memberships the signed data establishes: (item, case) -> what says so.

    ``records`` are (item id, record text) pairs; a record counts only if its SHA-256 is the one
    ``ingest_hashes`` (item -> record_sha256 of its ingest event) binds. ``acquires`` are the ``case.add`` and
    ``acquire`` events.
    """
    found: dict[tuple[str, str], str] = {}
    for item_id, record_text in records:
        if ingest_hashes.get(item_id) != sha256_hex(record_text.encode("utf-8")):
            continue  # unbound record: reported by the record checks, not evidence of membership
        try:
            case = _case_of(parse(record_text).get("provenance"))
        except ValueError:
            continue
        if case:
            found.setdefault((item_id, case), "its signed ingest record")
    for event in acquires:
        if event.action == "case.add":  # custody.cases: an item put into a case after its ingest
            case = event.payload.get("case")
            if isinstance(case, str) and case and event.item is not None:
                found.setdefault((event.item, case), f"case.add event {event.seq}")
            continue
        acquisition = event.payload.get("acquisition")
        case = _case_of(acquisition.get("provenance")) if isinstance(acquisition, dict) else None
        if case and event.item is not None:
            found.setdefault((event.item, case), f"acquire event {event.seq}")
    return found


def _check_cases(session: Session, state: LogState, report: Report, items: Sequence[Item]) -> None:
    hashes = {item: str(events[0].payload.get("record_sha256")) for item, events in _ingests(state).items()}
    added = [*state.events_by_action.get("acquire", []), *state.events_by_action.get("case.add", [])]
    signed = signed_cases(((i.item_id, i.record) for i in items), hashes, added)
    table = {(str(i), str(c)) for i, c in session.execute(select(ItemCase.item_id, ItemCase.case_id))}
    for item_id, case in sorted(table - signed.keys()):
        report.add(
            CheckKind.ITEM_CASE,
            item_id,
            False,
            f"table item_cases puts it in case '{case}', but no signed record or acquire event does",
        )
    for (item_id, case), source in sorted(signed.items()):
        if (item_id, case) not in table:
            report.add(
                CheckKind.ITEM_CASE,
                item_id,
                False,
                f"{source} puts it in case '{case}', but table item_cases has no such row",
            )


def case_members(session: Session, case: str, vouched: bool = False) -> tuple[set[str], set[str]]:
    """The items of ``case``: (as the signed records and events say, as table item_cases says).

    ``vouched``: count only events the log's authority admits and whose signatures verify (custody.case_vouch), as
    a disclosure of the case must; ``verify`` checks those separately, and reports each failure once.
    """
    # Records and payloads are stored as the canonical text that was signed and hashed (RFC 8785),
    # so any that puts an item into the case holds the case's JCS string: the database finds those
    # few, and only they are parsed and checked, not every record and event of the archive.
    needle = canonical_text(case)
    records = [
        (str(i), str(r))
        for i, r in session.execute(
            select(Item.item_id, Item.record).where(Item.record.contains(needle, autoescape=True))
        )
    ]
    acquires = [
        LogEvent.from_row(row)
        for row in session.scalars(
            select(Event)
            .where(Event.action.in_(("acquire", "case.add")), Event.payload.contains(needle, autoescape=True))
            .order_by(Event.seq)
        )
    ]
    ingest_hashes: dict[str, str] = {}
    ingest_seqs: dict[str, int] = {}
    wanted = sorted({item for item, _ in records})
    for start in range(0, len(wanted), _BATCH):
        # The action is checked here, not in SQL: given both, SQLite walks every ingest event's index entry.
        rows = session.scalars(
            select(Event).where(Event.item_id.in_(wanted[start : start + _BATCH])).order_by(Event.seq)
        )
        for row in rows:
            if row.action != "ingest":
                continue
            event = LogEvent.from_row(row)
            if event.item is not None and event.item not in ingest_hashes:
                ingest_hashes[event.item] = str(event.payload.get("record_sha256"))
                ingest_seqs[event.item] = event.seq
    if vouched:
        from .case_vouch import unvouched

        bad = unvouched(session, [*ingest_seqs.values(), *(e.seq for e in acquires)])
        ingest_hashes = {item: h for item, h in ingest_hashes.items() if ingest_seqs[item] not in bad}
        acquires = [e for e in acquires if e.seq not in bad]
    signed = {item for item, c in signed_cases(records, ingest_hashes, acquires) if c == case}
    table = set(session.scalars(select(ItemCase.item_id).where(ItemCase.case_id == case)))
    return signed, table


_BATCH = 500  # item ids per IN (...) query: well under every database's limit on bound parameters


# --- actors --------------------------------------------------------------------------------------


def _check_actor_events(session: Session, state: LogState, report: Report) -> None:
    rows = {row.key_id: row for row in session.scalars(select(Actor))}
    for event in state.events_by_action.get("actor.add", []):
        key_id = str(event.payload.get("key_id"))
        if key_id not in state.keys:
            continue  # a refused registration: reported by the log walk
        row = rows.get(key_id)
        name = str(event.payload.get("name"))
        if row is None:
            report.add(
                CheckKind.ACTOR, name, False, f"actor.add event {event.seq} registered it; table actors has no row"
            )
        elif row.created_seq != event.seq:
            report.add(
                CheckKind.ACTOR,
                row.name,
                False,
                f"actors.created_seq {row.created_seq} ≠ its actor.add event {event.seq}",
            )


# --- imports -------------------------------------------------------------------------------------


def _digest(rows: list[dict[str, object]]) -> str:
    return hashlib.sha256(canonical(rows)).hexdigest()


def import_digests(
    receipt: ImportRow, records: Iterable[ImportedRecord], events: Iterable[ImportedEvent], keys: Iterable[ImportedKey]
) -> dict[str, str]:
    """SHA-256 per import table over exactly the rows one import stores (for the ``import`` event's payload).

    Shape: {"imports", "imported_records", "imported_events", "imported_keys"} -> lowercase hex of
    SHA-256 over the RFC 8785 text of the table's rows as a list of objects in key order
    (``imports`` without ``receipt_seq``, which the event's own seq stands for).
    """
    return {
        "imports": _digest(
            [
                {
                    "bundle_id": receipt.bundle_id,
                    "origin": receipt.origin,
                    "vkey": receipt.vkey,
                    "seal": receipt.seal,
                    "checkpoint": receipt.checkpoint,
                }
            ]
        ),
        "imported_records": _digest(
            [
                {
                    "original_item_id": r.original_item_id,
                    "local_item_id": r.local_item_id,
                    "record": r.record,
                    "signature": r.signature,
                    "signer_key_id": r.signer_key_id,
                }
                for r in sorted(records, key=lambda r: r.original_item_id)
            ]
        ),
        "imported_events": _digest([{"seq": e.seq, "event": e.event} for e in sorted(events, key=lambda e: e.seq)]),
        "imported_keys": _digest(
            [{"key_id": k.key_id, "public_key_pem": k.public_key_pem} for k in sorted(keys, key=lambda k: k.key_id)]
        ),
    }


def _check_imports(session: Session, state: LogState, report: Report) -> None:
    receipts = {row.bundle_id: row for row in session.scalars(select(ImportRow))}
    records: dict[str, list[ImportedRecord]] = defaultdict(list)
    for r in session.scalars(select(ImportedRecord)):
        records[r.bundle_id].append(r)
    events: dict[str, list[ImportedEvent]] = defaultdict(list)
    for e in session.scalars(select(ImportedEvent)):
        events[e.bundle_id].append(e)
    keys: dict[str, list[ImportedKey]] = defaultdict(list)
    for k in session.scalars(select(ImportedKey)):
        keys[k.bundle_id].append(k)
    logged: dict[str, LogEvent] = {}
    for event in state.events_by_action.get("import", []):
        bundle_id = str(event.payload.get("bundle_id"))
        subject = f"bundle {bundle_id}"
        if bundle_id in logged:
            report.add(
                CheckKind.IMPORT, subject, False, f"imported twice (events {logged[bundle_id].seq} and {event.seq})"
            )
            continue
        logged[bundle_id] = event
        row = receipts.get(bundle_id)
        if row is None:
            report.add(
                CheckKind.IMPORT, subject, False, f"import event {event.seq} received it; table imports has no row"
            )
            continue
        problems = []
        if row.receipt_seq != event.seq:
            problems.append(f"imports.receipt_seq {row.receipt_seq} ≠ its import event {event.seq}")
        if (row.origin, row.vkey, row.seal) != (
            event.payload.get("origin"),
            event.payload.get("vkey"),
            event.payload.get("seal"),
        ):
            problems.append(f"table imports differs from import event {event.seq} (origin, vkey or seal)")
        mapping = {r.original_item_id: r.local_item_id for r in records[bundle_id]}
        if mapping != event.payload.get("items"):
            problems.append(f"table imported_records maps items differently from import event {event.seq}")
        stored = event.payload.get("stored")
        if isinstance(stored, dict):
            got = import_digests(row, records[bundle_id], events[bundle_id], keys[bundle_id])
            problems += [
                f"table {table} rows differ from what import event {event.seq} signed"
                for table, digest in got.items()
                if stored.get(table) != digest
            ]
        else:
            report.add(
                CheckKind.IMPORT,
                subject,
                True,
                f"import event {event.seq} predates stored-row digests: the bundle's imported records, events "
                "and keys cannot be checked against it (verify the original bundle again if it is kept)",
                warning=True,
            )
        for problem in problems:
            report.add(CheckKind.IMPORT, subject, False, problem)
    for table, bundles in (
        ("imports", set(receipts)),
        ("imported_records", set(records)),
        ("imported_events", set(events)),
        ("imported_keys", set(keys)),
    ):
        for bundle_id in sorted(bundles - logged.keys()):
            report.add(
                CheckKind.IMPORT, f"bundle {bundle_id}", False, f"table {table} has rows no import event accounts for"
            )


# --- the Merkle tree -----------------------------------------------------------------------------


def _expected_levels(size: int) -> dict[int, int]:
    levels: dict[int, int] = {}
    level = 0
    while size >> level:
        levels[level] = size >> level
        level += 1
    return levels


def _check_tree_nodes(session: Session, state: LogState, report: Report) -> None:
    expected = _expected_levels(state.size)
    stats = session.execute(
        select(TreeNode.level, func.count(), func.min(TreeNode.idx), func.max(TreeNode.idx)).group_by(TreeNode.level)
    )
    found = {int(level): (int(count), int(low), int(high)) for level, count, low, high in stats}
    shape_ok = True
    for level in sorted(expected.keys() | found.keys()):
        want = expected.get(level, 0)
        count, low, high = found.get(level, (0, 0, -1))
        if (count, low, high) != (want, 0, want - 1):
            shape_ok = False
            report.add(
                CheckKind.TREE_NODE,
                f"tree_nodes level {level}",
                False,
                f"holds {count} nodes (idx {low}..{high}); a log of {state.size} events has {want} "
                f"(idx 0..{want - 1}): nodes were added or deleted",
            )
    if not shape_ok or state.size == 0:
        return
    # Level 0 must rebuild the root recomputed from the events; every node above must hash its two children.
    below = _level(session, 0, expected[0])
    builder = merkle.RootBuilder()
    for idx in range(expected[0]):
        builder.add(bytes(below[idx * 32 : idx * 32 + 32]))
    if builder.root() != state.root:
        report.add(
            CheckKind.TREE_NODE, "tree_nodes level 0", False, "leaf hashes differ from the events: a leaf was edited"
        )
    bad: list[tuple[int, int]] = []
    for level in range(1, len(expected)):
        current = _level(session, level, expected[level])
        for idx in range(expected[level]):
            left = bytes(below[64 * idx : 64 * idx + 32])
            right = bytes(below[64 * idx + 32 : 64 * idx + 64])
            if merkle.node_hash(left, right) != current[32 * idx : 32 * idx + 32]:
                bad.append((level, idx))
        below = current
    for level, idx in bad[:_SHOWN]:
        report.add(CheckKind.TREE_NODE, f"tree_nodes ({level}, {idx})", False, "does not hash its two children: edited")
    if len(bad) > _SHOWN:
        report.add(CheckKind.TREE_NODE, "tree_nodes", False, f"{len(bad) - _SHOWN} more edited nodes")


def _level(session: Session, level: int, count: int) -> bytearray:
    """The hashes of one level, idx 0..count-1, as one buffer of 32-byte slots."""
    buffer = bytearray(32 * count)
    rows = session.connection().execute(
        select(TreeNode.idx, TreeNode.hash).where(TreeNode.level == level).execution_options(yield_per=10_000)
    )
    for idx, digest in rows:
        value = bytes(digest)
        if len(value) != 32:
            value = b"\x00" * 32  # a wrong-length hash is an edit; the zero slot fails its check
        buffer[32 * idx : 32 * idx + 32] = value
    return buffer


# --- checkpoints and their tokens ------------------------------------------------------------------


def _check_checkpoint_rows(session: Session, state: LogState, report: Report) -> None:
    columns = (CheckpointRow.num, CheckpointRow.size, CheckpointRow.root, CheckpointRow.note)
    rows = session.execute(select(*columns).order_by(CheckpointRow.num))
    expected_num = 1
    last_size: tuple[int, int] | None = None
    vkey = state.vkey
    for num, size, root, note_text in rows.all():
        subject = f"checkpoint {num}"
        if num < expected_num:
            report.add(
                CheckKind.CHECKPOINT, subject, False, f"numbered out of order (expected {expected_num} or later)"
            )
        elif num != expected_num:
            gone = f"{expected_num}" if num == expected_num + 1 else f"{expected_num}..{num - 1}"
            report.add(CheckKind.CHECKPOINT, subject, False, f"checkpoint(s) {gone} missing from table checkpoints")
        expected_num = max(expected_num, num + 1)
        if last_size is not None and size <= last_size[1]:
            report.add(
                CheckKind.CHECKPOINT,
                subject,
                False,
                f"size {size} is not beyond checkpoint {last_size[0]}'s ({last_size[1]})",
            )
        last_size = (num, size)
        if vkey is None:
            continue
        try:
            signed = note.open_checkpoint(note_text, vkey)
        except ProofError:
            continue  # reported by the checkpoint signature check
        if (signed.size, signed.root.hex()) != (size, root):
            report.add(CheckKind.CHECKPOINT, subject, False, "size or root column differs from the signed note")


def _check_timestamp_rows(session: Session, report: Report) -> None:
    known = select(CheckpointRow.num)
    orphans = session.scalars(
        select(CheckpointTimestamp.checkpoint_num).where(CheckpointTimestamp.checkpoint_num.not_in(known))
    )
    for num in orphans:
        report.add(
            CheckKind.TIMESTAMP,
            f"checkpoint #{num}",
            False,
            "table checkpoint_timestamps holds a token for no checkpoint",
        )


# --- the append-only guards ----------------------------------------------------------------------

_PG_TRIGGERS = "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal"


def _check_triggers(session: Session, report: Report) -> None:
    bind = session.get_bind()
    missing: list[str] = []
    if bind.dialect.name == "postgresql":
        body = session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'custody_append_only'")) or ""
        refusing = "RAISE EXCEPTION" in body.upper()
        for table in _tables(session, missing):
            triggers = {str(n): str(e) for n, e in session.execute(text(_PG_TRIGGERS), {"t": table})}
            for name in (f"{table}_append_only", f"{table}_no_truncate"):
                state = triggers.get(name)
                if state is None:
                    missing.append(f"{table}: trigger {name} is missing")
                elif state == "D":
                    missing.append(f"{table}: trigger {name} is disabled")
                elif not refusing:
                    missing.append(f"{table}: trigger function custody_append_only no longer refuses")
    else:
        listed = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        triggers = {str(n): str(q) for n, q in listed}
        for table in _tables(session, missing):
            for op in ("update", "delete"):
                name = f"{table}_no_{op}"
                sql = triggers.get(name)
                if sql is None:
                    missing.append(f"{table}: trigger {name} is missing")
                elif "RAISE(ABORT" not in sql.upper().replace(" ", "") or f" {op.upper()} ON {table.upper()}" not in (
                    " ".join(sql.upper().split())
                ):
                    missing.append(f"{table}: trigger {name} no longer refuses {op.upper()}")
    for problem in missing:
        table = problem.split(":", 1)[0]
        report.add(
            CheckKind.APPEND_ONLY, f"table {table}", False, problem + "; updates and deletes are no longer refused"
        )


def _tables(session: Session, missing: list[str]) -> list[str]:
    """The append-only tables present; a table that is gone altogether is a problem of its own."""
    from sqlalchemy import inspect

    present = set(inspect(session.connection()).get_table_names())
    missing += [f"{t}: the table itself is missing" for t in APPEND_ONLY_TABLES if t not in present]
    return [t for t in APPEND_ONLY_TABLES if t in present]


def check_case_is_signed(session: Session, case: str, listed: set[str]) -> None:
    """Refuse to disclose or act on a case (export, report, get, a bulk action) whose catalog membership ``listed``
    differs from what the signed data says (``case_members``, vouched).

    Raises:
        IntegrityError: naming the items listed but not signed into the case, and those signed but not listed.
    """
    signed, _table = case_members(session, case, vouched=True)
    if signed != listed:
        added = sorted(listed - signed)
        dropped = sorted(signed - listed)
        raise IntegrityError(
            f"case '{case}': table item_cases differs from the signed records and acquire events "
            f"(not signed into the case: {', '.join(added) or 'none'}; signed but not listed: "
            f"{', '.join(dropped) or 'none'}); nothing was exported, disclosed or changed. Run 'custody verify --all'"
        )
