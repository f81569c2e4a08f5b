"""Rolling fixity: re-hash the blobs whose last check is oldest, within a time or byte budget.

Each run is recorded in the custody log as ``verify`` events signed by the verifier: the payload's
``scope`` lists the items whose blobs were re-hashed (so each item's history shows its checks) and
``fixity`` holds, per blob, the digests and size actually read and whether they match the item's
record. Coverage ("every blob re-hashed within the last N days") is computed from those signed
events alone, newest first, so it cannot be improved by editing an unsigned table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from .archive import Acting
from .checks import CheckKind, Report
from .db.models import Item
from .errors import CustodyError, InputError
from .fixity_records import coverage, last_checks
from .hashing import digest_stream
from .roles import Permission

PER_EVENT = 1000
"""Blobs recorded per ``verify`` event (a run of many small blobs logs several events in one transaction)."""

_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BYTE_UNITS = {
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


@dataclass(frozen=True)
class Budget:
    """How much one fixity run may do: seconds of hashing, or bytes read."""

    text: str
    seconds: float | None = None
    nbytes: int | None = None


def parse_budget(text: str) -> Budget:
    """``30m``, ``2h``, ``45s``, ``1d`` (time) or ``500G``, ``20GB``, ``1TiB``, ``4096B`` (bytes read)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text)
    if match is not None:
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit in _TIME_UNITS and number > 0:
            return Budget(text.strip(), seconds=number * _TIME_UNITS[unit])
        if unit in _BYTE_UNITS and number > 0:
            return Budget(text.strip(), nbytes=int(number * _BYTE_UNITS[unit]))
    raise InputError(f"--fixity-budget '{text}': give a time (30m, 2h, 1d) or an amount to read (500G, 20GB, 1TiB)")


def _order(session: Session) -> list[tuple[str, str, str, int]]:
    """(item id, sha256, blake3, size) of every item, never-checked first, then least recently checked."""
    rows = list(session.execute(select(Item.item_id, Item.sha256, Item.blake3, Item.size).order_by(Item.num)))
    found, _ = last_checks(session, {row[1] for row in rows})
    return [
        (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
        for r in sorted(rows, key=lambda r: (r[1] in found, found.get(r[1], "")))
    ]


def _check_one(acting: Acting, item_id: str, sha: str, b3: str, size: int) -> tuple[dict[str, object], str]:
    """Re-hash one blob; the record of what was read, and what is wrong ("" if nothing)."""
    try:
        with acting.archive.store.open_read(sha) as stream:
            got = digest_stream(stream)
    except (CustodyError, OSError) as exc:
        reason = str(exc) if isinstance(exc, CustodyError) else (exc.strerror or str(exc))
        return {"item": item_id, "sha256": sha, "ok": False, "error": reason}, f"cannot be read: {reason}"
    problems = [
        f"{name} {got_v[:16]}… ≠ recorded {want[:16]}…"
        for name, got_v, want in (("sha256", got.sha256, sha), ("blake3", got.blake3, b3))
        if got_v != want
    ]
    if got.size != size:
        problems.append(f"size {got.size} ≠ recorded {size}")
    result = {"item": item_id, "sha256": got.sha256, "blake3": got.blake3, "size": got.size, "ok": not problems}
    if problems:
        result["expected_sha256"] = sha
    return result, "; ".join(problems)


def run_fixity(acting: Acting, budget: Budget, report: Report | None = None) -> Report:
    """Re-hash the least recently checked blobs within ``budget``, record each check, report coverage."""
    acting.unlock_for_reading()
    acting.require(Permission.VERIFY)
    report = report if report is not None else Report()
    with acting.archive.db.snapshot() as session:
        order = _order(session)
    started = time.monotonic()
    results: list[dict[str, object]] = []
    read = 0
    for item_id, sha, b3, size in order:
        if budget.seconds is not None and time.monotonic() - started >= budget.seconds:
            break
        if budget.nbytes is not None and results and read + size > budget.nbytes:
            break
        result, problem = _check_one(acting, item_id, sha, b3, size)
        read += size
        results.append(result)
        report.add(CheckKind.FIXITY, item_id, not problem, problem or "SHA-256 and BLAKE3 match the record")
    elapsed = time.monotonic() - started
    _record(acting, budget, results, report)
    with acting.archive.db.snapshot() as session:
        cov = coverage(session)
    failed = sum(1 for r in results if not r["ok"])
    report.add(
        CheckKind.FIXITY_COVERAGE,
        "store",
        not failed,
        f"re-hashed {len(results)} of {len(order)} blobs ({read} bytes in {elapsed:.1f} s, budget {budget.text}); "
        + cov.describe(),
        warning=bool(cov.never),
    )
    return report


def _record(acting: Acting, budget: Budget, results: Sequence[Mapping[str, object]], report: Report) -> None:
    """Log the checks as verify events (scope: the items re-hashed), in one transaction."""
    if not results:
        return
    try:
        with acting.writing() as session:
            seqs = []
            for start in range(0, len(results), PER_EVENT):
                part = results[start : start + PER_EVENT]
                payload = {
                    "scope": sorted({str(r["item"]) for r in part}),
                    "fixity": part,
                    "budget": budget.text,
                    "items": len(part),
                    "ok": all(r["ok"] for r in part),
                    "failures": [f"fixity:{r['item']}" for r in part if not r["ok"]][:100],
                }
                seqs.append(acting.append(session, "verify", payload).seq)
    except (CustodyError, SQLAlchemyError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        report.add(CheckKind.VERIFY_LOGGED, "fixity", False, f"the fixity checks could not be logged: {reason}")
        return
    shown = f"event {seqs[0]}" if len(seqs) == 1 else f"events {seqs[0]}..{seqs[-1]}"
    report.add(CheckKind.VERIFY_LOGGED, "fixity", True, f"these fixity checks are {shown} of the log")
