"""What an export carries: the items asked for, the age recipients, and the disclosures minus withheld fields.

Shared by ``export`` and ``export-request`` (custody.bundle.approvals), which refuses at request time what
the export would refuse at sealing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import disclosure
from ..archive import Acting
from ..canonical import parse
from ..catalog_check import check_case_is_signed
from ..db.models import Event, Item, ItemCase
from ..errors import InputError
from ..items import get_item, named_of_case
from ..log.events import LogEvent


def select_items(acting: Acting, item_ids: Sequence[str], case: str | None) -> list[Item]:
    with acting.archive.db.read() as session:
        if case is not None:
            rows = list(
                session.query(Item)
                .join(ItemCase, ItemCase.item_id == Item.item_id)
                .where(ItemCase.case_id == case)
                .order_by(Item.num)
            )
            check_case_is_signed(session, case, {row.item_id for row in rows})
            if not rows:
                raise InputError(f"no case '{case}' in this archive; 'custody cases' lists them")
            return named_of_case(session, rows, item_ids, case) if item_ids else rows
        return [get_item(session, item_id) for item_id in dict.fromkeys(item_ids)]


@dataclass(frozen=True)
class Revealed:
    """What a bundle discloses: the withheld field names and the disclosures it carries (digest -> text)."""

    withheld: list[str]
    texts: dict[str, str]
    # For the report: item id or acquire event seq -> {source_path, provenance} with withheld values marked.
    clear: dict[str | int, dict[str, object]]
    # Two-person export: {request, approvals, approvals_required} for the export event, or empty.
    approval: dict[str, object] = dataclasses.field(default_factory=dict)


WITHHELD = "[withheld]"


def disclosures(acting: Acting, items: list[Item], withheld: list[str]) -> Revealed:
    """The disclosures of every carried record and acquire event, minus the withheld fields.

    Refuses (InputError naming them) items whose record or acquisitions predate withheld fields when
    any field is to be withheld: their values are signed in the clear and cannot be left out.
    """
    store = acting.archive.store
    texts: dict[str, str] = {}
    clear: dict[str | int, dict[str, object]] = {}
    whole: list[str] = []
    with acting.archive.db.read() as session:
        acquires = {
            row.seq: LogEvent.from_row(row)
            for row in session.query(Event)
            .where(Event.action == "acquire", Event.item_id.in_([i.item_id for i in items]))
            .order_by(Event.seq)
        }
    holders: list[tuple[str | int, str, dict[str, object]]] = [(i.item_id, i.item_id, parse(i.record)) for i in items]
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
    return Revealed(withheld, texts, clear)


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
