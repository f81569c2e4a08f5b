"""The ``verify`` event a verification run appends to the log, or the named check saying why it did not."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .archive import Acting
from .checks import CheckKind, Report
from .errors import CustodyError

LOG_CHECKS = ("sequence", "chain", "event-signature", "tree", "checkpoint", "against-checkpoint", "log")
"""Checks whose failure means the log itself (its events, tree or checkpoints) is damaged."""


def log_verification(
    acting: Acting, payload: Mapping[str, object], report: Report, log_checks: tuple[str, ...], because: str = ""
) -> None:
    """Append the ``verify`` event with ``payload``, unless a check named (by prefix) in ``log_checks`` failed.

    A log whose chain, tree or checkpoints failed is not appended to: the new event's ``prev``
    would vouch for a tail that may be forged, and its seq could collide with what was removed.
    The report stands on its own; the failure to log is one more named check (``because`` ends its detail).
    """
    damaged = sorted({c.check for c in report.failures if c.check.startswith(log_checks)})
    if damaged:
        report.add(
            CheckKind.VERIFY_LOGGED,
            "log",
            False,
            "this verification was not logged: the log itself failed (" + ", ".join(damaged) + ")" + because,
        )
        return
    append_verify_event(acting, payload, report)


def append_verify_event(acting: Acting, payload: Mapping[str, object], report: Report) -> None:
    """Append a ``verify`` event with ``payload``; the outcome is one more named check of ``report``."""
    try:
        with acting.writing() as session:
            seq = acting.append(session, "verify", dict(payload)).seq
    except (CustodyError, SQLAlchemyError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        report.add(CheckKind.VERIFY_LOGGED, "log", False, f"this verification could not be logged: {reason}")
        return
    report.add(CheckKind.VERIFY_LOGGED, "log", True, f"this verification is event {seq} of the log")
