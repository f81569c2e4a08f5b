"""Tokens over checkpoints: fetched at ``checkpoint``, ``export`` and ``timestamp --pending``, kept append-only.

Evidence never waits on a third party: other commands never ask the TSA; a TSA that cannot be
reached costs at most ``tsa.timeout`` once, is then not asked again for ``tsa.backoff`` seconds
(remembered in ``tsa/backoff.json``), and ``custody timestamp --pending`` catches up later. A token
over a checkpoint also dates every earlier checkpoint (the later tree contains the earlier one), so
only the newest checkpoint needs one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..archive import Acting, Archive
from ..db.models import CheckpointRow, CheckpointTimestamp, Event
from ..errors import ConfigError, TimestampError
from ..fileutil import atomic_write
from ..roles import Permission
from ..timeutil import iso, parse_utc, utc_now
from . import tsa
from .settings import TsaSettings, tsa_settings


def token_of(session: Session, num: int) -> CheckpointTimestamp | None:
    """The stored token of checkpoint ``num``, if it has one."""
    return session.get(CheckpointTimestamp, num)


def untimestamped(session: Session) -> list[CheckpointRow]:
    """Checkpoints no token dates yet: those newer than the newest timestamped one, oldest first."""
    newest = session.scalar(select(func.max(CheckpointTimestamp.checkpoint_num)))
    query = select(CheckpointRow).order_by(CheckpointRow.num)
    if newest is not None:
        query = query.where(CheckpointRow.num > newest)
    return list(session.scalars(query))


def _backoff_path(archive: Archive) -> Path:
    return archive.config.root / "tsa" / "backoff.json"


def backing_off(archive: Archive, settings: TsaSettings) -> str | None:
    """Why the TSA is not to be asked now (a failure within ``tsa.backoff`` seconds), or None."""
    try:
        state = json.loads(_backoff_path(archive).read_text("utf-8"))
        if state["url"] != settings.url:
            return None
        until = datetime.fromisoformat(state["until"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if utc_now() >= until:
        return None
    return f"{state['reason']} (at {state['failed_at']}; not asked again before {iso(until)})"


def _remember(archive: Archive, settings: TsaSettings, failure: TimestampError | None) -> None:
    """Record a failure for the back-off, or clear it after a success."""
    path = _backoff_path(archive)
    if failure is None:
        path.unlink(missing_ok=True)
        return
    now = utc_now()
    state = {"url": settings.url, "reason": str(failure), "failed_at": iso(now),
             "until": (now + timedelta(seconds=settings.backoff)).isoformat()}  # fmt: skip
    try:
        path.parent.mkdir(exist_ok=True)
        atomic_write(path, json.dumps(state).encode("utf-8"))
    except OSError:
        pass  # a read-only archive folder only loses the back-off: the budget still bounds each wait


def ask(archive: Archive, settings: TsaSettings, data: bytes, *, force: bool = False) -> tsa.Token:
    """A token over ``data`` within the budget, unless a recent failure says not to ask (unless ``force``)."""
    if not force:
        reason = backing_off(archive, settings)
        if reason is not None:
            raise TimestampError(f"the TSA failed recently: {reason}")
    try:
        token = tsa.request_token(settings.url, data, timeout=settings.timeout, roots=settings.roots())
    except TimestampError as exc:
        _remember(archive, settings, exc)
        raise
    _remember(archive, settings, None)
    return token


def _fetch_and_store(archive: Archive, settings: TsaSettings, num: int, force: bool = False) -> tsa.Token:
    with archive.db.read() as session:
        row = session.get(CheckpointRow, num)
        if row is None:
            raise TimestampError(f"checkpoint #{num} does not exist")
        data = row.note.encode("utf-8")
    token = ask(archive, settings, data, force=force)
    with archive.db.write() as session:
        # Another process may have stamped it meanwhile; the first token stays, like everything else.
        if token_of(session, num) is None:
            session.add(
                CheckpointTimestamp(
                    checkpoint_num=num,
                    tsa_url=token.tsa_url,
                    response=token.response,
                    nonce=str(token.nonce),
                    gen_time=iso(token.gen_time),
                    fetched_at=iso(utc_now()),
                )
            )
    return token


def stamp_new_checkpoint(archive: Archive, num: int) -> str | None:
    """Timestamp a just-committed checkpoint when a TSA is configured; a notice for the user if that failed."""
    settings = tsa_settings(archive.config)
    if settings is None:
        return None
    with archive.db.read() as session:
        if token_of(session, num) is not None:
            return None
    try:
        _fetch_and_store(archive, settings, num)
    except tsa.TsaUnreachable as exc:
        return (
            f"checkpoint #{num} is untimestamped: {exc}. The command itself completed; "
            "run 'custody timestamp --pending' once the TSA answers again"
        )
    except TimestampError as exc:
        return (
            f"checkpoint #{num} is untimestamped: {exc}. The command itself completed; "
            "check tsa.url and tsa.ca ('custody config show'), then run 'custody timestamp --pending'"
        )
    return None


@dataclass
class PendingResult:
    """Tokens fetched by ``timestamp --pending``: (checkpoint number, tree size, attested time)."""

    stamped: list[tuple[int, int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"stamped": [{"checkpoint": n, "size": s, "attested_time": t} for n, s, t in self.stamped]}


def stamp_pending(acting: Acting) -> PendingResult:
    """Fetch a token for the newest checkpoint no token dates yet (it dates all before it); asks even in back-off.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        TimestampError: the TSA is unreachable or answers badly (tokens fetched before stay).
        ConfigError: no TSA is configured.
    """
    acting.require(Permission.CHECKPOINT)
    archive = acting.archive
    settings = tsa_settings(archive.config)
    if settings is None:
        raise ConfigError("no time-stamp authority is configured; run 'custody config set tsa.url URL' first")
    with archive.db.read() as session:
        todo = [(row.num, row.size) for row in untimestamped(session)]
    result = PendingResult()
    if not todo:
        return result
    num, size = todo[-1]
    try:
        token = _fetch_and_store(archive, settings, num, force=True)
    except TimestampError as exc:
        raise TimestampError(
            f"{exc}; {len(todo)} checkpoints remain untimestamped (run 'custody timestamp --pending' again later)"
        ) from None
    result.stamped.append((num, size, iso(token.gen_time)))
    return result


@dataclass
class TokenCheck:
    """The verdict on one checkpoint's token: an attestation, or why it failed."""

    num: int
    size: int
    attestation: tsa.Attestation | None
    problem: str | None


def check_tokens(session: Session, roots: list[x509.Certificate] | None) -> list[TokenCheck]:
    """Check every stored token: over its checkpoint note, chained to ``roots``, our nonce, after its events."""
    results = []
    rows = session.execute(
        select(CheckpointRow, CheckpointTimestamp)
        .join(CheckpointTimestamp, CheckpointTimestamp.checkpoint_num == CheckpointRow.num)
        .order_by(CheckpointRow.num)
    )
    for row, stamp in rows:
        last_event = session.scalar(select(Event.time).where(Event.seq == row.size - 1))
        try:
            resp = tsa.parse_response(stamp.response, f"token of checkpoint #{row.num}")
            attestation = tsa.check_token(
                resp,
                row.note.encode("utf-8"),
                roots=roots,
                source=f"token of checkpoint #{row.num}",
                nonce=int(stamp.nonce),
                not_before=parse_utc(last_event) if last_event else None,
            )
        except TimestampError as exc:
            results.append(TokenCheck(row.num, row.size, None, str(exc)))
            continue
        if iso(attestation.gen_time) != stamp.gen_time:
            problem = f"checkpoint_timestamps.gen_time {stamp.gen_time} ≠ the attested {iso(attestation.gen_time)}"
            results.append(TokenCheck(row.num, row.size, None, problem))
            continue
        results.append(TokenCheck(row.num, row.size, attestation, None))
    return results
