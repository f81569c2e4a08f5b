"""Tokens over checkpoints: fetched once a checkpoint has committed, kept append-only, checked by verify.

Evidence never waits on a third party: a TSA that cannot be reached leaves the checkpoint
untimestamped and the command completes; ``custody timestamp --pending`` catches up later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..archive import Acting, Archive
from ..db.models import CheckpointRow, CheckpointTimestamp, Event
from ..errors import ConfigError, TimestampError
from ..roles import Permission
from ..timeutil import iso, utc_now
from . import tsa
from .settings import TsaSettings, tsa_settings


def token_of(session: Session, num: int) -> CheckpointTimestamp | None:
    """The stored token of checkpoint ``num``, if it has one."""
    return session.get(CheckpointTimestamp, num)


def untimestamped(session: Session) -> list[CheckpointRow]:
    """Checkpoints that have no token yet, oldest first."""
    stamped = select(CheckpointTimestamp.checkpoint_num)
    return list(
        session.scalars(select(CheckpointRow).where(CheckpointRow.num.not_in(stamped)).order_by(CheckpointRow.num))
    )


def _fetch_and_store(archive: Archive, settings: TsaSettings, num: int) -> tsa.Token:
    with archive.db.read() as session:
        row = session.get(CheckpointRow, num)
        if row is None:
            raise TimestampError(f"checkpoint #{num} does not exist")
        data = row.note.encode("utf-8")
    token = tsa.request_token(settings.url, data, timeout=settings.timeout, roots=settings.roots())
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
    try:
        _fetch_and_store(archive, settings, num)
    except TimestampError as exc:
        return (
            f"checkpoint #{num} is untimestamped: {exc}. The command itself completed; "
            "run 'custody timestamp --pending' once the TSA answers again"
        )
    return None


@dataclass
class PendingResult:
    """Tokens fetched by ``timestamp --pending``: (checkpoint number, tree size, attested time)."""

    stamped: list[tuple[int, int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"stamped": [{"checkpoint": n, "size": s, "attested_time": t} for n, s, t in self.stamped]}


def stamp_pending(acting: Acting) -> PendingResult:
    """Fetch a token for every untimestamped checkpoint; stops at the first TSA failure, keeping what it got."""
    acting.require(Permission.CHECKPOINT)
    archive = acting.archive
    settings = tsa_settings(archive.config)
    if settings is None:
        raise ConfigError("no time-stamp authority is configured; run 'custody config set tsa.url URL' first")
    with archive.db.read() as session:
        todo = [(row.num, row.size) for row in untimestamped(session)]
    result = PendingResult()
    for done, (num, size) in enumerate(todo):
        try:
            token = _fetch_and_store(archive, settings, num)
        except TimestampError as exc:
            raise TimestampError(
                f"{exc}; stamped {done} of {len(todo)} pending checkpoints, "
                f"{len(todo) - done} remain untimestamped (run 'custody timestamp --pending' again later)"
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


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
                not_before=_time(last_event) if last_event else None,
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
