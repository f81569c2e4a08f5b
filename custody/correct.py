"""``custody correct``: append a signed ``correct`` event (custody.corrections explains the format)."""

from __future__ import annotations

from . import disclosure
from .archive import Acting
from .corrections import CORRECT, CORRECTABLE, TIMES
from .errors import InputError
from .items import get_item
from .log.logevent import LogEvent
from .roles import Permission
from .store.base import BlobStore
from .timeutil import parse_iso


def _commit(store: BlobStore, field: str, value: str) -> dict[str, object]:
    """The ``withholdable`` section committing to ``value`` (its disclosure written to the store)."""
    text = disclosure.make(field, value)
    values_sha256 = disclosure.store_texts(store, [text], durable=True)
    return {"digests": {field: disclosure.digest_of(text)}, "values_sha256": values_sha256}


def correct(acting: Acting, item_id: str, field: str, value: str, reason: str) -> LogEvent:
    """Append a signed ``correct`` event stating ``value`` as the item's current ``field``."""
    if field not in CORRECTABLE:
        raise InputError(
            f"correct {item_id}: --field {field} cannot be corrected; fields: {', '.join(CORRECTABLE)} "
            "(for the case: custody case add)"
        )
    if not reason.strip():
        raise InputError(f"correct {item_id}: --reason must say why the value is corrected")
    if not value.strip():
        raise InputError(f"correct {item_id}: --value is empty; state the correct value")
    if field in TIMES:
        parse_iso(value, f"--value (for {field})")
    acting.unlock()
    acting.require(Permission.INGEST, item_id)
    with acting.archive.db.read() as session:
        item_id = get_item(session, item_id).item_id
    section = _commit(acting.archive.store, field, value)
    with acting.writing() as session:
        get_item(session, item_id)
        return acting.append(
            session, CORRECT, {"field": field, "reason": reason, disclosure.KEY: section}, item=item_id
        )
