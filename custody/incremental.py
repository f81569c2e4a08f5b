"""Incremental verification from a trusted checkpoint (``verify --since FILE``).

A verifier (or a witness) keeps a checkpoint note from an earlier run. The log up to that
checkpoint's size N was verified then; what is left to check is that the current log *extends* it
and that everything appended since is sound:

1. the kept note's signature (archive key of event 0), and that events 0 and 1 (the identity) are
   included in the kept tree;
2. the stored subtree hashes covering leaves [0, N) fold to the kept root (so the stored tree
   still holds the kept history), then the root at the current size is recomputed from them plus
   the new events' leaves, and a consistency proof from N to it is checked;
3. the authority state at N (keys, roles, revocations, rotations, the export policy, export
   requests and approvals) is rebuilt from the few events of those actions before N, each proven
   included in the kept tree by an inclusion proof, and event N-1 likewise (the chain continues
   from its hash);
4. every event from N on: sequence, chain, authority, signature; every checkpoint written since:
   signature, cosigner, root, consistency; the ``event_items`` rows of those events;
5. items ingested since: record signature, catalog columns, ingest binding, derivation link, and
   a re-hash of their blobs (and lock state); the withheld values of every acquisition and
   correction logged since (of new or earlier items) still open their signed digests.

The cost is proportional to what is new plus O(log N) per rebuilt state event. What this does not
re-check (it was checked when the kept checkpoint was): earlier events' rows, signatures and
blobs, and the catalog's completeness for rows the log does not account for; ``verify --all``
checks those, and rolling fixity (custody.fixity) keeps the old blobs re-hashed.

Steps 1 to 3 are custody.kept_checkpoint, step 4 custody.since_events, step 5 custody.since_items
with the record and blob checks ``verify --all`` uses too (custody.record_checks, custody.blob_check);
they share one custody.since_run.SinceRun.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from .archive import Acting
from .checks import CheckKind, Report
from .db.models import CheckpointRow, Event, Item
from .errors import CustodyError, InputError
from .kept_checkpoint import check_kept, read_trusted, resume_tree
from .kept_checkpoint import save_checkpoint as save_checkpoint  # re-exported: the CLI saves notes from here
from .roles import Permission
from .since_events import check_consistency, check_new_checkpoints, check_new_event_items, walk_new_events
from .since_items import new_items, source_ingests
from .since_run import CHECK, SinceRun
from .verify_event import LOG_CHECKS, log_verification

# A failure of these, besides the whole log's, means the log itself is damaged: it is not appended to.
_LOG_CHECKS = (*LOG_CHECKS, CHECK, "consistency")


@dataclass
class SinceResult:
    """The report, and the newest checkpoint this run verified (to keep for the next run)."""

    report: Report
    verified_note: str | None
    verified_size: int
    new_events: int
    new_items: int


def verify_since(acting: Acting, trusted_text: str, label: str) -> SinceResult:
    """Verify what was added after a kept checkpoint (see the module docstring); the run is logged as ``verify``.

    Raises:
        InputError: ``trusted_text`` is not a checkpoint note, or covers fewer than two events.
        PermissionDeniedError: the acting actor's role does not allow it.
        Damage never raises: it is a failed check in the report.
    """
    from .blob_check import check_blob
    from .log.state import LogState
    from .logwalk import check_actors
    from .record_checks import (
        bad_record_signatures,
        check_acquisition_values,
        check_correction_values,
        check_derivations,
        check_record,
    )

    size = read_trusted(trusted_text, label)
    acting.unlock_for_reading()
    acting.require(Permission.VERIFY)
    archive = acting.archive
    report = Report()
    verified_note: str | None = None
    current = size
    items: list[Item] = []
    checked = False
    with archive.db.snapshot() as session:
        total = session.scalar(select(func.count()).select_from(Event)) or 0
        if size > total:
            report.add(
                CheckKind.AGAINST_CHECKPOINT,
                label,
                False,
                f"log was truncated: it has {total} events, the kept checkpoint covers {size}",
            )
        elif size < 2:
            raise InputError(f"{label}: a checkpoint of {size} events is too small to continue from; run verify --all")
        else:
            run = SinceRun(session, trusted_text, label, report)
            trusted = check_kept(run, size)
            builder = resume_tree(run, trusted) if trusted is not None else None
            if trusted is not None and builder is not None:
                checked = True
                wanted = {int(s) for s in session.scalars(select(CheckpointRow.size).where(CheckpointRow.size > size))}
                try:
                    current = walk_new_events(run, trusted, builder, wanted)
                    check_consistency(run, trusted, current)
                    good = check_new_checkpoints(run, trusted, current)
                    verified_note = good.note if good is not None and good.size == current else None
                    check_new_event_items(run, size)
                    items = new_items(run)
                    source_ingests(run, items, trusted)
                except (CustodyError, SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
                    report.add(CheckKind.LOG, "log", False, f"the new events could not be checked: {exc}")
                state = LogState(run.authority)
                check_actors(session, state, report)
                bad = bad_record_signatures(items, state)
                for index, item in enumerate(items):
                    check_record(item, index not in bad, state, report)
                state.events_by_action["derive"] = run.derives
                check_derivations(session, items, state, report)
                # A new acquisition may be of an item verified before (the same bytes from another source): all count.
                state.events_by_action.update(run.with_values)
                check_acquisition_values(archive, state, None, report)
                check_correction_values(archive, state, report)
                with ThreadPoolExecutor() as pool:
                    for checks in pool.map(lambda it: check_blob(archive, it, None), items):
                        report.checks.extend(checks)
    if checked:
        report.add(
            CheckKind.SCOPE,
            label,
            True,
            f"checked events {size}..{current - 1} and {len(items)} items added since the kept checkpoint; earlier "
            "events, items and blobs were verified when it was kept ('verify --all' re-checks everything)",
        )
    payload = {
        "scope": "since",
        "since": size,
        "to": current,
        "items": len(items),
        "ok": report.ok,
        "failures": [f"{c.check}:{c.subject}" for c in report.failures][:100],
    }
    log_verification(acting, payload, report, _LOG_CHECKS)
    return SinceResult(report, verified_note if report.ok else None, current, current - size, len(items))
