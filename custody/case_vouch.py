"""Which events putting items into a case a disclosure may rely on: signed, by a key then allowed to log them.

``export``, ``report`` and ``get`` of a case compare table ``item_cases`` with the records and events that put items
into the case (custody.catalog_check.case_members). Read as they stand in the database, those events could be rows
written there by anyone with database access, signed with any key or none: a ``case.add`` signed by an analyst's
key would carry an item of another case out with this one. Here they are judged as ``verify`` judges them: the
authority (registrations, roles, revocations) is replayed from the events that shape it, and each event relied on
must be admitted by it and verify with its signer's key. What this leaves to ``verify --all``: the hash chain and
the checkpoints (an event deleted from the log, such as a revocation, is seen only there).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .checks import Report
from .db.models import Event
from .errors import IntegrityError
from .kept_checkpoint import STATE_ACTIONS
from .log.authority import Authority
from .log.sigcheck import Job, bad_signatures
from .since_run import EVENT_COLUMNS, raw_sig, row_event

_BATCH = 500  # seqs per IN (...) query: well under every database's limit on bound parameters


def unvouched(session: Session, relied_on: Collection[int]) -> set[int]:
    """The seqs among ``relied_on`` whose event the log's authority does not admit or whose signature fails.

    Raises:
        IntegrityError: the authority itself (event 0, a registration, a role or key change) does not verify, so no
            event can be vouched for; 'custody verify --all' says what is wrong.
    """
    wanted = sorted(set(relied_on))
    chunks = [wanted[start : start + _BATCH] for start in range(0, len(wanted), _BATCH)] or [[]]
    rows: dict[int, object] = {}
    for chunk in chunks:
        stmt = select(*EVENT_COLUMNS).where(or_(Event.action.in_(sorted(STATE_ACTIONS)), Event.seq.in_(chunk)))
        rows.update({int(row[0]): row for row in session.execute(stmt)})
    authority = Authority(Report())
    jobs: list[Job] = []
    genesis: tuple[bytes, bytes] | None = None
    for seq in sorted(rows):
        event, unsigned, _full = row_event(rows[seq])
        key = authority.admit(event.seq, event.time, event.actor, event.action, event.item, event.payload)
        if key is not None:
            jobs.append((event.seq, key, raw_sig(event.sig), unsigned))
        if event.seq == 0:
            genesis = (raw_sig(event.sig), unsigned)
    if genesis is not None:
        authority.check_genesis(*genesis)
    bad = set(bad_signatures(jobs)) | authority.denied | authority.compromised | authority.backdated
    unvouched_state = sorted(bad - set(wanted))
    if authority.identity is None or unvouched_state:
        where = f"event {unvouched_state[0]}" if unvouched_state else "the archive's identity (events 0 and 1)"
        raise IntegrityError(
            f"the log's registrations and roles do not verify ({where}); no case membership can be vouched for and "
            "nothing was disclosed. Run 'custody verify --all'"
        )
    return bad & set(wanted)
