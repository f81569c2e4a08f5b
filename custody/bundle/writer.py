"""Writing a bundle: the BagIt zip with its payload, manifests, custody files, report and seal."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from typing import IO, Any

from sqlalchemy import select

from .. import keys, progress
from ..archive import Acting
from ..canonical import parse
from ..db.models import Actor, Event, EventItem, Item
from ..errors import IntegrityError, TimestampError
from ..hashing import copy_and_hash
from ..log import checkpoints, merkle, note, tree
from ..log.authority import APPROVALS_SETTING, COSIGNER_PREFIX
from ..log.events import LogEvent
from ..proofs import archive_vkey
from ..report import ReportOptions
from ..timestamp import stamps, timestamp_checkpoint, tsa
from ..timestamp.settings import tsa_settings
from ..timeutil import utc_now
from . import layout, standalone
from .guide import verify_md
from .report_files import bundle_files
from .selection import Revealed


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


class Bag:
    """Writes one bag's entries into a zip stream, remembering every digest."""

    def __init__(self, zf: zipfile.ZipFile, root: str) -> None:
        self.zf = zf
        self.root = root
        self.payload: dict[str, dict[str, str]] = {"sha256": {}, "sha512": {}}
        self.tags: dict[str, str] = {}
        self.octets = 0

    def add_payload(self, name: str, stream: IO[bytes], expect_sha256: str, expect_blake3: str, item: str) -> None:
        sha512 = hashlib.sha512()
        info = zipfile.ZipInfo(f"{self.root}/{name}", date_time=utc_now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED  # evidence media is already compressed
        info.external_attr = 0o100444 << 16
        with self.zf.open(info, "w", force_zip64=True) as out:
            got = copy_and_hash(stream, sha512.update, out.write, lambda chunk: progress.advance(len(chunk)))
        if got.sha256 != expect_sha256 or got.blake3 != expect_blake3:
            raise IntegrityError(
                f"{item}: stored bytes no longer match the recorded digests; export stopped. "
                f"Run 'custody verify {item}'"
            )
        self.payload["sha256"][name] = got.sha256
        self.payload["sha512"][name] = sha512.hexdigest()
        self.octets += got.size

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


def write_zip(
    acting: Acting,
    stream: IO[bytes],
    bundle_id: str,
    items: list[Item],
    purpose: str,
    recipients: Sequence[str],
    state: dict[str, object],
    report: ReportOptions,
    exhibits: dict[str, str],
    revealed: Revealed,
) -> None:
    archive = acting.archive
    with zipfile.ZipFile(stream, "w", allowZip64=True) as zf:
        bag = Bag(zf, bundle_id)
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
        timestamp_checkpoint(archive, newest.num if newest is not None else None)
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


def _timestamp_seal(acting: Acting, bag: Bag, bundle_id: str, seal: bytes, state: dict[str, object]) -> None:
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
