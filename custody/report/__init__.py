"""The court-ready chain-of-custody report (HTML and PDF from one set of templates) and its pictures.

``custody.bundle.report_files`` makes from these the report files an export seals into its bundle;
``custody.report.ondemand`` makes a report (or CASE/UCO export) of items straight from the archive, logged as a
``report`` event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import TimestampError
from ..timestamp.settings import tsa_settings
from .exhibits import ReportOptions
from .model import Cover, Picture, ReportData

if TYPE_CHECKING:
    from ..archive import Archive
    from ..config import ArchiveConfig

__all__ = ["Cover", "Picture", "ReportData", "ReportOptions"]



def names_and_roles(events: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Key id -> name and key id -> role, from the ``actor.add`` events given."""
    names, roles = {}, {}
    for event in events:
        if event.get("action") == "actor.add":
            key_id = str(event["payload"].get("key_id", ""))
            names[key_id] = str(event["payload"].get("name", ""))
            roles[key_id] = str(event["payload"].get("role", ""))
    return names, roles


def known_names(archive: Archive) -> dict[str, str]:
    """Key id -> name of every actor registered in the archive."""
    from ..db.models import Actor

    with archive.db.read() as session:
        return {row.key_id: row.name for row in session.query(Actor)}


def pictures(archive: Archive, records: Sequence[Mapping[str, Any]]) -> dict[str, Picture]:
    """Thumbnails and keyframe strips of the items that have one, derived from their stored bytes."""
    from .media import picture_for

    found = {}
    for entry in records:
        picture = picture_for(archive.store, dict(entry["record"]))
        if picture is not None:
            found[str(entry["record"]["item_id"])] = picture
    return found


def stamped_pdf(archive: Archive, data: ReportData, paper: str, what: str) -> bytes:
    """The PDF, with an RFC 3161 document time-stamp when a TSA is configured and answers (else a notice)."""
    from .render import pdf

    document = pdf(data, paper)
    settings = tsa_settings(archive.config)
    if settings is None:
        return document
    from ..timestamp.stamps import backing_off
    from .pdfstamp import timestamp_pdf

    recent = backing_off(archive, settings)
    if recent is not None:
        # Like the seal: a TSA that failed a moment ago is not waited on again within tsa.backoff.
        archive.notices.append(
            f"{what}: the PDF report carries no document time-stamp: the TSA failed recently: {recent}"
        )
        return document
    try:
        return timestamp_pdf(document, settings.url, timeout=settings.timeout)
    except TimestampError as exc:
        archive.notices.append(f"{what}: the PDF report carries no document time-stamp: {exc}")
        return document


def case_uco(
    cfg: ArchiveConfig,
    records: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    roles: Mapping[str, str],
    exhibits: Mapping[str, str],
    case: str,
    bundle_id: str | None = None,
) -> bytes:
    """The CASE/UCO JSON-LD file (custody.caseuco) of ``records`` and ``events``, for a report or a bundle."""
    import json

    from .. import __version__, caseuco

    doc = caseuco.graph(
        archive_id=cfg.archive_id,
        origin=cfg.origin,
        records=records,
        events=events,
        names=names,
        roles=roles,
        exhibits=exhibits,
        case=case,
        bundle_id=bundle_id,
        tool_version=__version__,
    )
    return json.dumps(doc, indent=1, ensure_ascii=False).encode()


def checkpoint_gen_time(tsr: bytes | None) -> datetime | None:
    """The time a checkpoint's RFC 3161 token attests, or None."""
    if tsr is None:
        return None
    from ..timestamp import tsa

    try:
        return tsa.parse_response(tsr, "checkpoint token").tst_info.gen_time
    except Exception:
        return None


def _shown(records: list[dict[str, Any]], clear: Mapping[str | int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entries as the report shows them: disclosed source path and provenance put back, withheld marked."""
    shown = []
    for entry in records:
        opened = clear.get(str(entry.get("record", {}).get("item_id")))
        if opened is not None and "withholdable" in entry.get("record", {}):
            entry = {**entry, "record": {**entry["record"], **opened}}
        shown.append(entry)
    return shown
