"""Two-person export: a signed request, approvals (or refusals) by other actors, then the export that seals it.

The rules a verifier replays live in custody.log.authority (``export_problem``); this module makes the
events. With ``export.approvals = N`` an export must name a request with N approvals by actors other
than the requester whose role allows export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .. import disclosure
from ..age import age_recipients
from ..archive import Acting
from ..db.models import Event
from ..errors import InputError, PermissionDeniedError
from ..log.authority import APPROVALS_SETTING
from ..log.events import LogEvent
from ..roles import Action, Permission
from .selection import disclosures, select_items


def required_approvals(acting: Acting) -> int:
    """Approvals every export needs now (the ``export.approvals`` setting)."""
    value = acting.archive.config.export.get("approvals", 0)
    return value if isinstance(value, int) else 0


def _policy_seq(session: Any) -> int | None:
    """Seq of the configure event that set the approval policy in force, if any."""
    rows = session.scalars(select(Event).where(Event.action == Action.CONFIGURE).order_by(Event.seq.desc()))
    for row in rows:
        if LogEvent.from_row(row).payload.get("setting") == APPROVALS_SETTING:
            return int(row.seq)
    return None


def request_export(
    acting: Acting,
    item_ids: Sequence[str],
    purpose: str,
    *,
    case: str | None = None,
    recipients: Sequence[str] = (),
    withhold: str | Sequence[str] | None = None,
) -> LogEvent:
    """Log a signed export request (items, purpose, recipients, withheld fields); returns its event.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: no purpose, no items, a bad --recipient, or records that cannot withhold the fields asked.
        ItemNotFoundError: an unknown item.
        IntegrityError: the case's catalog membership differs from the signed records.
    """
    if not purpose.strip():
        raise InputError("export-request: --purpose must say why the evidence would leave the archive")
    if not item_ids and case is None:
        raise InputError("export-request: name item ids or pass --case ID")
    age_recipients(recipients)
    withheld = disclosure.parse_fields(
        acting.archive.config.disclosure.get("withhold", []) if withhold is None else withhold
    )
    acting.unlock()
    acting.require(Permission.EXPORT)
    items = select_items(acting, item_ids, case)
    disclosures(acting, items, withheld)  # records that cannot withhold are refused now, not at sealing
    with acting.writing() as session:
        return acting.append(
            session,
            Action.EXPORT_REQUEST,
            {
                "items": [i.item_id for i in items],
                "purpose": purpose,
                "recipients": list(recipients),
                "withheld": withheld,
                "approvals_required": required_approvals(acting),
                "policy_seq": _policy_seq(session),
            },
        )


@dataclass(frozen=True)
class RequestState:
    """A request as the log has it now."""

    event: LogEvent
    approvals: list[LogEvent]
    rejections: list[LogEvent]
    exported: bool


def request_state(session: Any, seq: int) -> RequestState:
    """The request logged at ``seq`` with its approvals and refusals; InputError if there is none."""
    row = session.get(Event, seq)
    if row is None or row.action != Action.EXPORT_REQUEST:
        raise InputError(f"event {seq} is not an export request; 'custody log' lists export.request events")
    decisions: list[LogEvent] = []
    exported = False
    rows = session.scalars(
        select(Event)
        .where(Event.seq > seq, Event.action.in_((Action.EXPORT_APPROVE, Action.EXPORT_REJECT, Action.EXPORT)))
        .order_by(Event.seq)
    )
    for other in rows:
        event = LogEvent.from_row(other)
        if event.action == Action.EXPORT:
            exported = exported or event.payload.get("request") == seq
        elif event.payload.get("request") == seq:
            decisions.append(event)
    approvals = [e for e in decisions if e.action == Action.EXPORT_APPROVE]
    rejections = [e for e in decisions if e.action == Action.EXPORT_REJECT]
    return RequestState(LogEvent.from_row(row), approvals, rejections, exported)


def decide(acting: Acting, seq: int, approve: bool, reason: str = "") -> LogEvent:
    """Approve (or refuse, with a reason) export request ``seq`` as another actor allowed to export; logged.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        InputError: no such request, the actor's own request, or a refusal without a reason.
    """
    if not approve and not reason.strip():
        raise InputError("approve --refuse: --reason must say why the export is refused")
    acting.unlock()
    acting.require(Permission.EXPORT)
    with acting.writing() as session:
        state = request_state(session, seq)
        problem = ""
        if state.event.actor == acting.key_id:
            problem = "the actor who requested an export cannot approve it"
        elif any(e.actor == acting.key_id for e in [*state.approvals, *state.rejections]):
            problem = f"{acting.name} has already decided on request {seq}"
        elif state.exported:
            problem = f"request {seq} was already exported"
        if problem:
            acting.append(session, "refuse", {"attempted": Action.EXPORT_APPROVE, "request": seq, "reason": problem})
    if problem:
        raise PermissionDeniedError(f"{problem}; the refusal was logged")
    with acting.writing() as session:
        action = Action.EXPORT_APPROVE if approve else Action.EXPORT_REJECT
        payload: dict[str, object] = {"request": seq}
        if not approve:
            payload["reason"] = reason
        return acting.append(session, action, payload)
