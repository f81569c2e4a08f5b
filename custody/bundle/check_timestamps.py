"""verify-bundle, the RFC 3161 time-stamp tokens a bundle may carry over its seal and its checkpoint."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography import x509

from ..checks import CheckKind, Report
from ..errors import CustodyError, ProofError
from ..log import note
from ..log.authority import parse_time
from ..log.logevent import LogEvent
from ..timestamp import tsa
from . import layout
from .safezip import SafeBundle


def _event_time(event: LogEvent) -> datetime | None:
    return parse_time(event.time)  # None for a malformed time, which the authority check already names


def _check_token(
    bundle: SafeBundle,
    token_name: str,
    data_name: str,
    roots: list[x509.Certificate] | None,
    not_before: datetime | None,
    report: Report,
) -> None:
    try:
        resp = tsa.parse_response(bundle.read(token_name), token_name)
        attestation = tsa.check_token(
            resp, bundle.read(data_name), roots=roots, source=token_name, not_before=not_before
        )
    except CustodyError as exc:
        report.add(CheckKind.TIMESTAMP, token_name, False, str(exc))
        return
    report.add(CheckKind.TIMESTAMP, token_name, True, attestation.describe(), warning=not attestation.chain_checked)


def check_timestamps(
    bundle: SafeBundle, events: list[LogEvent], export: LogEvent | None, tsa_ca: Path | None, report: Report
) -> None:
    """The RFC 3161 tokens over the seal and the checkpoint, when the bundle carries them."""
    roots = tsa.load_roots(tsa_ca) if tsa_ca is not None else None
    if bundle.has(layout.SEAL_TSR):
        _check_token(bundle, layout.SEAL_TSR, layout.SEAL_SIG, roots, _event_time(export) if export else None, report)
    else:
        report.add(
            CheckKind.TIMESTAMP,
            layout.SEAL_TSR,
            True,
            "absent: the seal proves who sealed the bundle, not when (no TSA configured, or none answered at export)",
            warning=True,
        )
    if bundle.has(layout.CHECKPOINT_TSR):
        try:
            size = note.parse_checkpoint(bundle.read_text(layout.CHECKPOINT).split("\n\n", 1)[0] + "\n").size
        except ProofError:
            size = 0
        covered = [e for e in events if e.seq < size]
        latest = _event_time(max(covered, key=lambda e: e.seq)) if covered else None
        _check_token(bundle, layout.CHECKPOINT_TSR, layout.CHECKPOINT, roots, latest, report)
