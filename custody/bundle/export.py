"""Export: stream items into a sealed BagIt zip, optionally age-encrypted, and log the export."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import blake3
from sqlalchemy import select

from .. import deliveries, disclosure, keys, progress
from ..approvals import RequestState, request_state, required_approvals
from ..archive import Acting
from ..canonical import parse
from ..db.models import Actor, Event, EventItem, Item, ItemCase
from ..errors import InputError, IntegrityError, PermissionDeniedError, TimestampError
from ..hashing import CHUNK_SIZE
from ..items import get_item
from ..log import checkpoints, merkle, note, tree
from ..log.authority import APPROVALS_SETTING, COSIGNER_PREFIX
from ..log.events import LogEvent
from ..log.proofs import archive_vkey
from ..report import ReportOptions, bundle_files
from ..roles import Permission
from ..timestamp import stamps, tsa
from ..timestamp.settings import tsa_settings
from ..timeutil import iso, utc_now
from . import layout, standalone
from .guide import verify_md


@dataclass(frozen=True)
class ExportResult:
    """What was written."""

    bundle_id: str
    path: Path
    items: list[str]
    encrypted: bool
    export_seq: int
    checkpoint_size: int
    seal_timestamp: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id,
            "path": str(self.path),
            "items": self.items,
            "encrypted": self.encrypted,
            "export_seq": self.export_seq,
            "checkpoint_size": self.checkpoint_size,
            "seal_timestamp": self.seal_timestamp,
        }


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "bytes" else f"{n} bytes"
        size /= 1000
    return f"{n} bytes"


def _one_line(text: str) -> str:
    # bag-info.txt is read line by line, and some readers end a line at any Unicode separator.
    return " ".join(text.split())


def _recipients(texts: Sequence[str]) -> list[Any]:
    import pyrage

    result = []
    for text in texts:
        try:
            result.append(pyrage.x25519.Recipient.from_str(text.strip()))
        except Exception:
            raise InputError(f"--recipient '{text}' is not an age X25519 public key (age1...)") from None
    return result


def _select(acting: Acting, item_ids: Sequence[str], case: str | None) -> list[Item]:
    with acting.archive.db.read() as session:
        if case is not None:
            rows = list(
                session.query(Item)
                .join(ItemCase, ItemCase.item_id == Item.item_id)
                .where(ItemCase.case_id == case)
                .order_by(Item.num)
            )
            _check_case_is_signed(session, case, {row.item_id for row in rows})
            if not rows:
                raise InputError(f"case '{case}' has no items; 'custody list' shows the cases")
            return rows
        return [get_item(session, item_id) for item_id in dict.fromkeys(item_ids)]


@dataclass(frozen=True)
class _Revealed:
    """What a bundle discloses: the withheld field names and the disclosures it carries (digest -> text)."""

    withheld: list[str]
    texts: dict[str, str]
    # For the report: item id or acquire event seq -> {source_path, provenance} with withheld values marked.
    clear: dict[str | int, dict[str, Any]]
    # Two-person export: {request, approvals, approvals_required} for the export event, or empty.
    approval: dict[str, Any] = dataclasses.field(default_factory=dict)


WITHHELD = "[withheld]"


def _disclosures(acting: Acting, items: list[Item], withheld: list[str]) -> _Revealed:
    """The disclosures of every carried record and acquire event, minus the withheld fields.

    Refuses (InputError naming them) items whose record or acquisitions predate withheld fields when
    any field is to be withheld: their values are signed in the clear and cannot be left out.
    """
    store = acting.archive.store
    texts: dict[str, str] = {}
    clear: dict[str | int, dict[str, Any]] = {}
    whole: list[str] = []
    with acting.archive.db.read() as session:
        acquires = {
            row.seq: LogEvent.from_row(row)
            for row in session.query(Event)
            .where(Event.action == "acquire", Event.item_id.in_([i.item_id for i in items]))
            .order_by(Event.seq)
        }
    holders: list[tuple[str | int, str, dict[str, Any]]] = [(i.item_id, i.item_id, parse(i.record)) for i in items]
    holders += [(seq, str(e.item), e.payload.get("acquisition") or {}) for seq, e in acquires.items()]
    for key, item_id, holder in holders:
        where = item_id if isinstance(key, str) else f"{item_id} (acquire event {key})"
        if disclosure.committed_digests(holder) is None:
            if withheld:
                whole.append(item_id)
            clear[key] = {"source_path": holder.get("source_path"), "provenance": holder.get("provenance") or {}}
            continue
        found = disclosure.load(store, holder, where)
        opened = disclosure.opened(store, holder, where)
        for name, d in found.items():
            if name in withheld:
                if name == "source_path":
                    opened["source_path"] = WITHHELD
                else:
                    opened["provenance"][name] = WITHHELD
            else:
                texts[d.digest] = d.text
        clear[key] = opened
    if whole:
        raise InputError(
            f"export: {', '.join(sorted(set(whole)))} were recorded before withheld fields existed: their source path "
            "and provenance are signed in the clear and cannot be withheld; export them separately with "
            "--withhold none (whole), or leave them out"
        )
    _apply_corrections(acting, items, withheld, texts, clear)
    return _Revealed(withheld, texts, clear)


def _apply_corrections(
    acting: Acting, items: list[Item], withheld: list[str], texts: dict[str, str], clear: dict[str | int, Any]
) -> None:
    """Each item's corrected provenance (custody.corrections) into ``clear``; disclosures of what is not withheld."""
    from .. import corrections

    with acting.archive.db.read() as session:
        events = [
            LogEvent.from_row(row)
            for row in session.query(Event)
            .where(Event.action == corrections.CORRECT, Event.item_id.in_([i.item_id for i in items]))
            .order_by(Event.seq)
        ]
    for item in items:
        mine = [e for e in events if e.item == item.item_id]
        shown = clear.get(item.item_id)
        if not mine or shown is None:
            continue
        provenance = dict(shown.get("provenance") or {})
        history, opened = corrections.apply(acting.archive.store, item.item_id, provenance, mine, withheld, WITHHELD)
        texts.update(opened)
        clear[item.item_id] = {**shown, "provenance": provenance, "corrections": [c.to_json() for c in history]}


def _approved(acting: Acting, request: int | None) -> RequestState:
    """The approved request to export; refuses (logged, PermissionDeniedError) anything short of the policy."""
    needed = required_approvals(acting)
    problem = ""
    state = None
    if request is None:
        problem = (
            f"this archive requires {needed} approval(s) by other actors for every export: run 'custody "
            "export-request ...', have it approved with 'custody approve SEQ', then 'custody export --request SEQ'"
        )
    else:
        with acting.archive.db.read() as session:
            state = request_state(session, request)
        asked = state.event.payload
        required = max(needed, int(asked.get("approvals_required") or 0))
        approvers = {e.actor for e in state.approvals}
        if state.event.actor != acting.key_id:
            problem = f"request {request} was made by another actor; only its requester seals it"
        elif state.exported:
            problem = f"request {request} was already exported"
        elif state.rejections:
            problem = f"request {request} was refused (event {state.rejections[0].seq})"
        elif len(approvers) < required:
            problem = f"request {request} has {len(approvers)} of the {required} approval(s) it needs"
    if problem or state is None:
        with acting.writing() as session:
            acting.append(session, "refuse", {"attempted": "export", "request": request, "reason": problem})
        raise PermissionDeniedError(f"export refused: {problem}. The refusal was logged.")
    return state


def _check_case_is_signed(session: Any, case: str, listed: set[str]) -> None:
    """Refuse to disclose a case whose catalog membership differs from what the signed data says."""
    from ..catalog_check import case_members

    signed, _table = case_members(session, case)
    if signed != listed:
        added = sorted(listed - signed)
        dropped = sorted(signed - listed)
        raise IntegrityError(
            f"case '{case}': table item_cases differs from the signed records and acquire events "
            f"(not signed into the case: {', '.join(added) or 'none'}; signed but not listed: "
            f"{', '.join(dropped) or 'none'}); nothing was exported. Run 'custody verify --all'"
        )


class _Bag:
    """Writes one bag's entries into a zip stream, remembering every digest."""

    def __init__(self, zf: zipfile.ZipFile, root: str) -> None:
        self.zf = zf
        self.root = root
        self.payload: dict[str, dict[str, str]] = {"sha256": {}, "sha512": {}}
        self.tags: dict[str, str] = {}
        self.octets = 0

    def add_payload(self, name: str, stream: IO[bytes], expect_sha256: str, expect_blake3: str, item: str) -> None:
        sha256, sha512, b3 = hashlib.sha256(), hashlib.sha512(), blake3.blake3()
        info = zipfile.ZipInfo(f"{self.root}/{name}", date_time=utc_now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED  # evidence media is already compressed
        info.external_attr = 0o100444 << 16
        size = 0
        with self.zf.open(info, "w", force_zip64=True) as out:
            while chunk := stream.read(CHUNK_SIZE):
                sha256.update(chunk)
                sha512.update(chunk)
                b3.update(chunk)
                out.write(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        if sha256.hexdigest() != expect_sha256 or b3.hexdigest() != expect_blake3:
            raise IntegrityError(
                f"{item}: stored bytes no longer match the recorded digests; export stopped. "
                f"Run 'custody verify {item}'"
            )
        self.payload["sha256"][name] = sha256.hexdigest()
        self.payload["sha512"][name] = sha512.hexdigest()
        self.octets += size

    def add_tag(self, name: str, data: bytes, listed: bool = True) -> None:
        info = zipfile.ZipInfo(f"{self.root}/{name}", date_time=utc_now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100444 << 16
        self.zf.writestr(info, data)
        if listed:
            self.tags[name] = hashlib.sha256(data).hexdigest()


def _policy_events(session: Any, exports: list[LogEvent]) -> list[int]:
    """The seqs a verifier needs to check the approval policy of ``exports``: the policy's configure events
    before them, and each one's request and approvals."""
    latest = max(e.seq for e in exports)
    seqs = [
        row.seq
        for row in session.query(Event).where(Event.action == "configure", Event.seq < latest)
        if LogEvent.from_row(row).payload.get("setting") == APPROVALS_SETTING
    ]
    for export in exports:
        if isinstance(export.payload.get("request"), int):
            seqs.append(export.payload["request"])
            seqs.extend(s for s in export.payload.get("approvals") or [] if isinstance(s, int))
    return seqs


def _events_for_bundle(
    session: Any, item_ids: list[str], export: LogEvent, signers: set[str], tree_size: int, sources: dict[str, str]
) -> list[LogEvent]:
    """Every event naming the items (earlier disclosures too), the export, and the key closure.

    ``sources``: derived item -> its source item; the source's ingest event (its digests and record
    hash) travels too, even when the source itself does not (the derive event names both items).
    Every carried export brings what a verifier needs to check its approval policy.

    The closure: events 0 (archive.init) and 1 (first admin); for every key that signed a carried
    event or record, the event that registered it (actor.add, or the actor.rotate that introduced
    it) and every actor.revoke / actor.rotate / actor.role naming it in the carried tree, so that a
    revocation, retirement, declared compromise or role change is applied offline; then the same
    for whoever signed those events, back to event 1.
    """
    naming = select(EventItem.seq).where(EventItem.item_id.in_(item_ids))
    rows = session.query(Event).where(Event.seq.in_(naming)).order_by(Event.seq).all()
    events = {row.seq: LogEvent.from_row(row) for row in rows}
    events[export.seq] = export
    for row in session.query(Event).where(Event.item_id.in_(sorted(set(sources.values()))), Event.action == "ingest"):
        events[row.seq] = LogEvent.from_row(row)
    policy = _policy_events(session, [e for e in events.values() if e.action == "export"])
    for row in session.query(Event).where(Event.seq.in_((0, 1, *policy))):
        events[row.seq] = LogEvent.from_row(row)
    history: dict[str, list[LogEvent]] = {}  # key id -> events registering or changing it
    lifecycle = ("actor.add", "actor.revoke", "actor.rotate", "actor.role")
    query = session.query(Event).where(Event.action.in_(lifecycle), Event.seq < tree_size).order_by(Event.seq)
    for row in query:
        event = LogEvent.from_row(row)
        named = {str(event.payload.get("key_id"))}
        if event.action == "actor.rotate":
            named.add(str(event.payload.get("old_key_id")))
        for key_id in named:
            history.setdefault(key_id, []).append(event)
    wanted = signers | {e.actor for e in events.values()}
    done: set[str] = set()
    while wanted:
        key_id = wanted.pop()
        done.add(key_id)
        for event in history.get(key_id, ()):
            if event.seq not in events:
                events[event.seq] = event
            for other in (event.actor, str(event.payload.get("old_key_id", event.actor))):
                if other not in done:
                    wanted.add(other)
    return [events[seq] for seq in sorted(events)]


def export_bundle(
    acting: Acting,
    item_ids: Sequence[str],
    out: Path,
    purpose: str,
    *,
    case: str | None = None,
    recipients: Sequence[str] = (),
    report: ReportOptions | None = None,
    withhold: str | Sequence[str] | None = None,
    request: int | None = None,
) -> ExportResult:
    """Write a sealed bundle of the given items (or a case) to ``out``; the export is logged.

    ``withhold``: fields (custody.disclosure.FIELDS) whose values stay out of the bundle; None means
    the archive's ``disclosure.withhold`` setting. InputError names items whose records predate withheld fields.
    ``request``: seq of an approved export.request (custody.approvals) whose items, purpose, recipients and
    withheld fields are exported; required when ``export.approvals`` is set (PermissionDeniedError, logged).
    """
    approval: dict[str, Any] = {}
    if request is not None or required_approvals(acting) > 0:
        acting.unlock()
        acting.require(Permission.EXPORT)
        approved = _approved(acting, request)
        asked = approved.event.payload
        if item_ids or case is not None or (purpose and purpose != asked.get("purpose")):
            raise InputError(f"export --request {request}: the request names the items and purpose; give neither")
        item_ids, purpose, recipients = list(asked["items"]), str(asked["purpose"]), list(asked["recipients"])
        withhold = list(asked["withheld"])
        approval = {
            "request": approved.event.seq,
            "approvals": [e.seq for e in approved.approvals],
            "approvals_required": max(required_approvals(acting), int(asked.get("approvals_required") or 0)),
        }
    if not purpose.strip():
        raise InputError("export: --purpose must say why the evidence leaves the archive")
    if not item_ids and case is None:
        raise InputError("export: name item ids or pass --case ID")
    if out.exists() or out.is_symlink():
        raise InputError(f"{out}: already exists; choose another --out path (nothing is overwritten)")
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    withheld = disclosure.parse_fields(
        acting.archive.config.disclosure.get("withhold", []) if withhold is None else withhold
    )
    age_recipients = _recipients(recipients)
    note_path = _note_path(out)
    if age_recipients and (note_path.exists() or note_path.is_symlink()):
        raise InputError(f"{note_path}: already exists; choose another --out path (nothing is overwritten)")
    acting.unlock()
    acting.require(Permission.EXPORT, item_ids[0] if len(item_ids) == 1 else None)
    items = _select(acting, item_ids, case)
    progress.begin("export", sum(i.size for i in items))
    revealed = _disclosures(acting, items, withheld)
    if approval:
        revealed = dataclasses.replace(revealed, approval=approval)
    report = report or ReportOptions()
    exhibits = report.numbers([i.item_id for i in items])
    bundle_id = layout.new_bundle_id()
    tmp = deliveries.temp_beside(out)
    encrypted = bool(age_recipients)
    state: dict[str, Any] = {}
    item_list = [i.item_id for i in items]
    deliveries.sweep(acting)
    # Journalled: if this process dies, the next get or export removes the partial file and, once
    # the export event is logged, records export.failed.
    with deliveries.delivering(acting, "export", tmp, out, bundle_id=bundle_id, items=item_list):
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as sink:
                if encrypted:
                    _write_encrypted(
                        sink,
                        age_recipients,
                        lambda stream: _write_zip(
                            acting, stream, bundle_id, items, purpose, recipients, state, report, exhibits, revealed
                        ),
                    )
                else:
                    _write_zip(acting, sink, bundle_id, items, purpose, recipients, state, report, exhibits, revealed)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, out)
            if encrypted:
                _write_note(note_path, out, bundle_id, acting)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            logged, _failed = deliveries.export_event(acting, bundle_id)
            if logged is not None:
                # The export was logged before the bundle was complete; record that it did not finish.
                with acting.writing() as session:
                    acting.append(
                        session,
                        "export.failed",
                        {
                            "bundle_id": bundle_id,
                            "export_seq": logged,
                            "items": item_list,
                            "reason": str(exc)[:500],
                        },
                    )
            if isinstance(exc, OSError):
                raise InputError(
                    f"{out}: cannot write the bundle ({exc.strerror or exc}); nothing was delivered"
                ) from None
            raise
    stamped = state.get("seal_timestamp")
    return ExportResult(
        bundle_id,
        out,
        [i.item_id for i in items],
        encrypted,
        state["export_seq"],
        state["checkpoint_size"],
        iso(stamped) if stamped is not None else None,
    )


def _note_path(out: Path) -> Path:
    return out.with_name(out.name + ".txt")


def _write_note(path: Path, out: Path, bundle_id: str, acting: Acting) -> None:
    """The plaintext note beside an encrypted bundle: what it is and how to open and check it."""
    path.write_text(
        f"Bundle {bundle_id} from archive {acting.archive.config.origin}, age-encrypted in {out.name}.\n"
        f"Sealed by {acting.name}, key id {acting.key_id}.\n\n"
        "Decrypt it with the age identity whose public key it was encrypted to, then unpack it:\n\n"
        f"    age -d -i YOUR-IDENTITY.txt -o {bundle_id}.zip {shlex.quote(out.name)}\n"
        f"    python3 -m zipfile -e {bundle_id}.zip .\n\n"
        f"Then follow {bundle_id}/custody/VERIFY.md, or run its standalone verifier:\n\n"
        f"    python3 -I {bundle_id}/custody/verify_bundle.py {bundle_id}.zip --vkey ARCHIVE.vkey\n\n"
        "where ARCHIVE.vkey holds the archive's verifier key, obtained from the archive, not from this note.\n",
        encoding="utf-8",
    )


def _write_encrypted(sink: IO[bytes], age_recipients: list[Any], produce: Any) -> None:
    """Pipe the zip through age in memory-bounded chunks, so the plain zip never touches disk."""
    import pyrage

    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(write_fd, "wb") as stream:
                produce(stream)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer, name="bundle-zip")
    thread.start()
    with os.fdopen(read_fd, "rb") as source:
        try:
            pyrage.encrypt_io(source, sink, age_recipients)
        finally:
            source.close()
            thread.join()
    if errors:
        raise errors[0]


def _write_zip(
    acting: Acting,
    stream: IO[bytes],
    bundle_id: str,
    items: list[Item],
    purpose: str,
    recipients: Sequence[str],
    state: dict[str, Any],
    report: ReportOptions,
    exhibits: dict[str, str],
    revealed: _Revealed,
) -> None:
    archive = acting.archive
    with zipfile.ZipFile(stream, "w", allowZip64=True) as zf:
        bag = _Bag(zf, bundle_id)
        records = []
        for item in items:
            record = parse(item.record)
            name = layout.payload_path(item.item_id, str(record["original_name"]))
            with archive.store.open_read(item.sha256) as blob:
                bag.add_payload(name, blob, item.sha256, item.blake3, item.item_id)
            records.append({"record": record, "signature": item.signature, "signer": item.signer_key_id, "path": name})
        manifests = {alg: layout.manifest_text(list(d.items())) for alg, d in bag.payload.items()}
        item_list = [i.item_id for i in items]
        with acting.writing() as session:
            event = acting.append(
                session,
                "export",
                {
                    "bundle_id": bundle_id,
                    "items": item_list,
                    "purpose": purpose,
                    "recipients": list(recipients),
                    "withheld": revealed.withheld,
                    **revealed.approval,
                    "manifest_sha256": hashlib.sha256(manifests["sha256"].encode()).hexdigest(),
                    # Exhibit numbers are part of what the exporter signs.
                    **({"exhibits": exhibits} if exhibits else {}),
                },
            )
        state["export_seq"] = event.seq
        with archive.db.read() as session:
            newest = checkpoints.latest(session)
        # The checkpoint the bundle carries gets its token now (within tsa.timeout; skipped in back-off).
        archive.timestamp_checkpoint(newest.num if newest is not None else None)
        with archive.db.read() as session:
            checkpoint = checkpoints.latest(session)
            assert checkpoint is not None and checkpoint.size > event.seq
            cosigners = {
                name.removeprefix(COSIGNER_PREFIX)
                for name, _ in note.signature_lines(checkpoint.note)[1]
                if name.startswith(COSIGNER_PREFIX)
            }
            sources = {
                str(r["record"]["item_id"]): str(r["record"]["derived_from"]["item_id"])
                for r in records
                if isinstance(r["record"].get("derived_from"), dict)
            }
            events = _events_for_bundle(
                session, item_list, event, {r["signer"] for r in records} | cosigners, checkpoint.size, sources
            )
            signers = {r["signer"] for r in records} | {e.actor for e in events}
            nodes = tree.DbNodes(session)
            proofs = {
                str(e.seq): [h.hex() for h in merkle.inclusion_proof(e.seq, checkpoint.size, nodes)] for e in events
            }
            older = sorted({row.size for row in checkpoints.all_checkpoints(session) if row.size < checkpoint.size})
            consistency = {
                str(size): [h.hex() for h in merkle.consistency_proof(size, checkpoint.size, nodes)] for size in older
            }
            actors = {row.key_id: row for row in session.query(Actor)}
            stamp = stamps.token_of(session, checkpoint.num)
            checkpoint_tsr = stamp.response if stamp is not None else None
        state["checkpoint_size"] = checkpoint.size
        today = utc_now()
        bag.add_tag(layout.BAGIT_TXT, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        for alg, text in manifests.items():
            bag.add_tag(layout.MANIFESTS[alg], text.encode())
        info_lines = [
            f"Source-Organization: {_one_line(archive.config.organization or archive.config.origin)}",
            f"Bagging-Date: {today:%Y-%m-%d}",
            f"External-Identifier: {bundle_id}",
            f"Payload-Oxum: {bag.octets}.{len(items)}",
            f"Bag-Size: {_human_size(bag.octets)}",
            f"Custody-Exported-By: {_one_line(acting.name)} (key {acting.key_id})",
            f"Custody-Purpose: {_one_line(purpose)}",
            f"Custody-Origin: {_one_line(archive.config.origin)}",
            f"Custody-Export-Event: {event.seq}",
        ]
        bag.add_tag(layout.BAG_INFO, ("\n".join(info_lines) + "\n").encode())
        bag.add_tag(layout.ITEMS, json.dumps(records, indent=1, ensure_ascii=False).encode())
        bag.add_tag(layout.DISCLOSURES, json.dumps(revealed.texts, indent=1, ensure_ascii=False).encode())
        bag.add_tag(layout.EVENTS, "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in events).encode())
        bag.add_tag(
            layout.PROOFS,
            json.dumps(
                {"tree_size": checkpoint.size, "inclusion": proofs, "consistency": consistency}, indent=1
            ).encode(),
        )
        bag.add_tag(layout.CHECKPOINT, checkpoint.note.encode())
        bag.add_tag(layout.VKEY, (archive_vkey(archive) + "\n").encode())
        if checkpoint_tsr is not None:
            bag.add_tag(layout.CHECKPOINT_TSR, checkpoint_tsr)
            bag.add_tag(
                layout.CHECKPOINT_TSA_CERTS,
                tsa.certificates_pem(tsa.parse_response(checkpoint_tsr, f"token of checkpoint #{checkpoint.num}")),
            )
        for kid in sorted(signers):
            if kid in actors:
                bag.add_tag(f"{layout.KEYS_DIR}{kid}.pem", actors[kid].public_key_pem.encode())
        for name, data in bundle_files(
            acting,
            bundle_id,
            event.to_json(),
            records,
            [e.to_json() for e in events],
            checkpoint,
            checkpoint_tsr,
            exhibits,
            report,
            revealed.clear,
        ).items():
            bag.add_tag(name, data)
        bag.add_tag(layout.VERIFY_MD, verify_md(bundle_id).encode())
        bag.add_tag(layout.FORMATS_MD, standalone.read(standalone.FORMATS))
        bag.add_tag(layout.VERIFIER, standalone.read(standalone.VERIFIER))
        tagmanifest = layout.manifest_text(list(bag.tags.items())).encode()
        bag.add_tag(layout.TAGMANIFEST, tagmanifest, listed=False)
        seal = acting.signer.sign(tagmanifest)
        bag.add_tag(layout.SEAL_SIG, seal, listed=False)
        bag.add_tag(layout.SEAL_PUB, keys.public_pem(acting.signer.public_key).encode(), listed=False)
        _timestamp_seal(acting, bag, bundle_id, seal, state)


def _timestamp_seal(acting: Acting, bag: _Bag, bundle_id: str, seal: bytes, state: dict[str, Any]) -> None:
    """Add the TSA's token over the seal; a TSA that does not answer leaves the bundle untimestamped."""
    settings = tsa_settings(acting.archive.config)
    if settings is None:
        return
    try:
        token = stamps.ask(acting.archive, settings, seal)
    except TimestampError as exc:
        acting.archive.notices.append(
            f"bundle {bundle_id} was sealed without a trusted timestamp: {exc}. The bundle is complete; "
            "its seal proves who sealed it, not when (export again once the TSA answers if a timestamp is needed)"
        )
        return
    bag.add_tag(layout.SEAL_TSR, token.response, listed=False)
    bag.add_tag(
        layout.SEAL_TSA_CERTS, tsa.certificates_pem(tsa.parse_response(token.response, "seal token")), listed=False
    )
    state["seal_timestamp"] = token.gen_time
