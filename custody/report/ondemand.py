"""Reports of items straight from the archive (``custody report`` and ``custody case-uco``), each logged.

A report discloses records, so producing one is a ``report`` event (view permission) naming the items, with
the format, the purpose and the SHA-256 of the file written. The file appears only after the event is logged.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from ..archive import Acting
from ..canonical import parse
from ..db.models import Event, Item, ItemCase
from ..errors import InputError
from ..humanize import items_named
from ..items import get_item, named_of_case
from ..log import checkpoints
from ..log.events import LogEvent
from ..log.logevent import EventJSON
from ..roles import Permission
from ..timestamp import stamps
from ..timeutil import utc_now
from .exhibits import ReportOptions
from .model import Cover, ReportData, cases_of
from .render import html

FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".jsonld": "case-uco", ".json": "case-uco"}


@dataclass(frozen=True)
class ReportResult:
    """What was written and the event that logged it."""

    path: Path
    format: str
    items: list[str]
    sha256: str
    event_seq: int

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "items": self.items,
            "sha256": self.sha256,
            "event_seq": self.event_seq,
        }


def _entries(acting: Acting, item_ids: Sequence[str], case: str | None) -> list[dict[str, Any]]:
    with acting.archive.db.read() as session:
        if case is not None:
            rows = list(
                session.scalars(
                    select(Item)
                    .join(ItemCase, ItemCase.item_id == Item.item_id)
                    .where(ItemCase.case_id == case)
                    .order_by(Item.num)
                )
            )
            # A report 'of case X' is a disclosure under the case's name, as an export is: a catalog row the
            # signed data does not hold must not carry an item out under it (custody.catalog_check).
            from ..catalog_check import check_case_is_signed

            check_case_is_signed(session, case, {row.item_id for row in rows})
            if not rows:
                raise InputError(f"no case '{case}' in this archive; 'custody cases' lists them")
            if item_ids:
                rows = named_of_case(session, rows, item_ids, case)
        else:
            rows = [get_item(session, item_id) for item_id in dict.fromkeys(item_ids)]
        entries = [{"record": parse(r.record), "signature": r.signature, "signer": r.signer_key_id} for r in rows]
    # A report made in the archive shows the values its records sign as salted digests (custody.disclosure).
    from .. import disclosure
    from . import _shown

    clear: dict[str | int, Any] = {
        str(e["record"]["item_id"]): disclosure.opened(acting.archive.store, e["record"], str(e["record"]["item_id"]))
        for e in entries
    }
    _corrected(acting, clear)
    return _shown(entries, clear)


def _corrected(acting: Acting, clear: dict[str | int, Any]) -> None:
    """Each item's provenance as corrected by its ``correct`` events (custody.corrections), with their history."""
    from .. import corrections

    with acting.archive.db.read() as session:
        rows = session.scalars(
            select(Event).where(Event.action == corrections.CORRECT, Event.item_id.in_([str(k) for k in clear]))
        )
        events = [LogEvent.from_row(row) for row in rows]
    for key, shown in clear.items():
        mine = [e for e in events if e.item == key]
        if mine:
            provenance = dict(shown.get("provenance") or {})
            history, _texts = corrections.apply(acting.archive.store, str(key), provenance, mine)
            clear[key] = {**shown, "provenance": provenance, "corrections": [c.to_json() for c in history]}


def relevant_events(acting: Acting, item_ids: Sequence[str], extra_keys: set[str]) -> list[EventJSON]:
    """Every event naming one of the items, and the registrations of every key that signed any of them.

    One pass over the item's own events and the events that name items only in their payload (item NULL).
    """
    wanted = set(item_ids)
    with acting.archive.db.read() as session:
        rows = session.scalars(
            select(Event).where(or_(Event.item_id.in_(wanted), Event.item_id.is_(None))).order_by(Event.seq)
        )
        every = [LogEvent.from_row(row).to_json() for row in rows]
    chosen = {e["seq"]: e for e in every if wanted.intersection(items_named(e))}
    registrations = {e["payload"].get("key_id"): e for e in every if e["action"] == "actor.add"}
    keys = {e["actor"] for e in chosen.values()} | extra_keys
    while keys:
        key = keys.pop()
        added = registrations.get(key)
        if added is not None and added["seq"] not in chosen:
            chosen[added["seq"]] = added
            keys.add(added["actor"])
    return [chosen[seq] for seq in sorted(chosen)]


def produce(
    acting: Acting,
    item_ids: Sequence[str],
    out: Path,
    purpose: str,
    *,
    case: str | None = None,
    options: ReportOptions | None = None,
) -> ReportResult:
    """Write a report (.pdf/.html) or CASE/UCO JSON-LD (.jsonld/.json) of items or a case to ``out``; logged.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: an --out name without a known format, an existing --out, or no items.
        ItemNotFoundError: an unknown item.
        StoreError: a blob cannot be read for a picture.
    """
    from . import case_uco, names_and_roles, pictures, stamped_pdf

    options = options or ReportOptions()
    if not purpose.strip():
        raise InputError("report: --purpose must say why the records are disclosed")
    if not item_ids and case is None:
        raise InputError("report: name item ids or pass --case ID")
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise InputError(f"{out}: name the output .pdf, .html or .jsonld (CASE/UCO); the format follows the name")
    if out.exists() or out.is_symlink():
        raise InputError(f"{out}: already exists; choose another --out path (nothing is overwritten)")
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    acting.unlock()
    acting.require(Permission.VIEW, item_ids[0] if len(item_ids) == 1 else None)
    records = _entries(acting, item_ids, case)
    ids = [str(e["record"]["item_id"]) for e in records]
    exhibits = options.numbers(ids)
    events = relevant_events(acting, ids, {str(e["signer"]) for e in records} | {acting.key_id})
    names, roles = names_and_roles(events)
    archive = acting.archive
    cfg = archive.config
    now = utc_now()
    report_id = f"RPT-{now:%Y%m%d}-{secrets.token_hex(4)}"
    if kind == "case-uco":
        data = case_uco(cfg, records, events, names, roles, exhibits, case or cases_of(records))
    else:
        with archive.db.read() as session:
            checkpoint = checkpoints.latest(session)
            stamp = stamps.token_of(session, checkpoint.num) if checkpoint is not None else None
        report = ReportData(
            Cover(
                kind="report",
                doc_id=report_id,
                case=case or cases_of(records),
                organization=cfg.organization,
                origin=cfg.origin,
                generated_at=now,
                exporter_name=acting.name,
                exporter_role=acting.role,
                exporter_key_id=acting.key_id,
                purpose=purpose,
                checkpoint_size=checkpoint.size if checkpoint is not None else None,
                checkpoint_root=checkpoint.root if checkpoint is not None else None,
                checkpoint_time=checkpoint.time if checkpoint is not None else None,
                trusted_time=stamp.gen_time if stamp is not None else None,
                verified=[
                    "This report was produced from the archive's catalog; it is not a verification. "
                    f"Run 'custody verify {' '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}' to re-hash the "
                    "stored bytes and check every signature and the log.",
                    "For a record a court can check without the archive, export a sealed bundle "
                    "('custody export'): it carries this report with proofs for every event.",
                ],
                recheck=[
                    "Every event listed is in the archive's append-only log; 'custody proof --event N' gives its "
                    "inclusion proof to a signed checkpoint.",
                ],
            ),
            records,
            events,
            names,
            roles,
            exhibits,
            pictures(archive, records),
            cfg.timezone,
        )
        if kind == "pdf":
            data = stamped_pdf(archive, report, options.paper, f"report {report_id}")
        else:
            data = html(report, options.paper).encode()
    digest = hashlib.sha256(data).hexdigest()
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    try:
        with open(tmp, "xb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        # Logged before the file is delivered: a disclosure that is not in the log never happens.
        with acting.writing() as session:
            event = acting.append(
                session,
                "report",
                {
                    "report_id": report_id,
                    "items": ids,
                    "format": kind,
                    "purpose": purpose,
                    "sha256": digest,
                    **({"exhibits": exhibits} if exhibits else {}),
                },
            )
        os.replace(tmp, out)
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ReportResult(out, kind, ids, digest, event.seq)
