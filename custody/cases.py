"""Case membership after ingest: ``custody case add ITEM... --case ID`` as signed ``case.add`` events.

An item's cases are signed data (custody.catalog_check): its ingest record's ``provenance.case``,
each ``acquire`` event's, and each ``case.add`` event's ``payload.case``. The ``item_cases`` table is
derived from them and ``verify --all`` checks it holds exactly what they imply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from .archive import Acting
from .db.models import ItemCase
from .errors import InputError
from .items import get_item
from .query import normalise_id
from .roles import Permission

CASE_ADD = "case.add"


@dataclass(frozen=True)
class CaseAdded:
    """What ``case add`` did for one item: the event that added it, or None when it was already a member."""

    item_id: str
    case: str
    seq: int | None


def add_to_case(acting: Acting, item_ids: Sequence[str], case: str) -> list[CaseAdded]:
    """Put each item into ``case`` with one signed ``case.add`` event each, in one transaction."""
    case = case.strip()
    if not case:
        raise InputError("case add: --case must name the case")
    if not item_ids:
        raise InputError("case add: name the items to add")
    wanted = list(dict.fromkeys(normalise_id(i) for i in item_ids))
    acting.unlock()
    for item_id in wanted:
        acting.require(Permission.INGEST, item_id)
    done: list[CaseAdded] = []
    with acting.writing() as session:
        for item_id in wanted:
            get_item(session, item_id)
        for item_id in wanted:
            held = session.scalar(select(ItemCase.item_id).where(ItemCase.item_id == item_id, ItemCase.case_id == case))
            if held is not None:
                done.append(CaseAdded(item_id, case, None))
                continue
            event = acting.append(session, CASE_ADD, {"case": case}, item=item_id)
            session.add(ItemCase(item_id=item_id, case_id=case))
            done.append(CaseAdded(item_id, case, event.seq))
    return done
