"""Annotations: appended to the log, never edited; a correction supersedes an earlier one."""

from __future__ import annotations

from sqlalchemy import select

from .archive import Acting
from .db.models import Event
from .errors import InputError
from .items import get_item
from .log.events import LogEvent
from .roles import Permission


def annotate(acting: Acting, item_id: str, text: str, tags: list[str], supersedes: int | None = None) -> LogEvent:
    """Append an annotation to ``item_id``; ``supersedes`` names an earlier annotation's seq.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
        InputError: empty text, or a --supersedes that names no annotation of the item.
    """
    if not text.strip():
        raise InputError(f"annotate {item_id}: the annotation text is empty")
    acting.unlock()
    acting.require(Permission.ANNOTATE, item_id)
    with acting.writing() as session:
        get_item(session, item_id)
        if supersedes is not None:
            target = session.scalars(select(Event).where(Event.seq == supersedes, Event.action == "annotate")).first()
            if target is None or target.item_id != item_id:
                raise InputError(
                    f"annotate {item_id}: event {supersedes} is not an annotation of {item_id}; "
                    f"'custody show {item_id}' lists its annotations"
                )
        return acting.append(
            session,
            "annotate",
            {"text": text, "tags": sorted(set(tags)), "supersedes": supersedes},
            item=item_id,
        )
