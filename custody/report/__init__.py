"""The court-ready chain-of-custody report (HTML and PDF from one set of templates) and its pictures.

``bundle_files`` makes the report files an export seals into its bundle; ``custody.report.ondemand`` makes a
report (or CASE/UCO export) of items straight from the archive, logged as a ``report`` event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import caseuco
from ..bundle import layout
from ..errors import TimestampError
from ..timestamp.settings import tsa_settings
from .exhibits import ReportOptions
from .model import Cover, Picture, ReportData, cases_of

if TYPE_CHECKING:
    from ..archive import Acting, Archive
    from ..db.models import CheckpointRow

__all__ = ["Cover", "Picture", "ReportData", "ReportOptions", "bundle_files"]

REPORT_HTML = layout.REPORT
REPORT_PDF = "custody/report.pdf"
CASE_UCO = "custody/case-uco.jsonld"


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


def checkpoint_gen_time(tsr: bytes | None) -> datetime | None:
    """The time a checkpoint's RFC 3161 token attests, or None."""
    if tsr is None:
        return None
    from ..timestamp import tsa

    try:
        return tsa.parse_response(tsr, "checkpoint token").tst_info.gen_time
    except Exception:
        return None


def bundle_files(
    acting: Acting,
    bundle_id: str,
    export_event: Mapping[str, Any],
    records: list[dict[str, Any]],
    events: list[dict[str, Any]],
    checkpoint: CheckpointRow,
    checkpoint_tsr: bytes | None,
    exhibits: dict[str, str],
    options: ReportOptions,
) -> dict[str, bytes]:
    """Tag files of a bundle's report: report.html, report.pdf, the pictures (and CASE/UCO when asked for)."""
    archive = acting.archive
    cfg = archive.config
    names, roles = names_and_roles(events)
    # A registrar whose own registration the bundle does not carry is still named, from the archive's roster.
    names = {**known_names(archive), **names}
    payload = export_event["payload"]
    trusted = checkpoint_gen_time(checkpoint_tsr)
    cover = Cover(
        kind="bundle",
        doc_id=bundle_id,
        case=cases_of(records),
        organization=cfg.organization,
        origin=cfg.origin,
        generated_at=datetime.fromisoformat(str(export_event["time"]).replace("Z", "+00:00")),
        exporter_name=acting.name,
        exporter_role=acting.role,
        exporter_key_id=acting.key_id,
        purpose=str(payload.get("purpose", "")),
        recipients=list(payload.get("recipients") or []),
        seal_key_id=acting.key_id,
        checkpoint_size=checkpoint.size,
        checkpoint_root=checkpoint.root,
        checkpoint_time=checkpoint.time,
        trusted_time=trusted.isoformat() if trusted is not None else None,
        verified=[
            f"While this bundle was written, the SHA-256 and BLAKE3 digests of each of the {len(records)} evidence "
            "files were recomputed from the stored bytes and matched the digests in the signed records.",
            f"Every custody event listed here is included in the archive's append-only log: each has a Merkle "
            f"inclusion proof (RFC 9162) to the log checkpoint of tree size {checkpoint.size}, signed by the "
            "archive key.",
            "Every item record and event carries the Ed25519 signature of the registered actor who made it.",
            f"The bundle is sealed by {acting.name}'s key: the seal signs the list of digests of every file in it, "
            "including this report and its pictures.",
        ],
        recheck=[
            "Anyone can re-check all of the above from the bundle alone, without trusting the archive: "
            "custody/VERIFY.md gives the commands with stock tools (sha256sum, openssl) and "
            f"'custody verify-bundle {bundle_id}.zip' does it at once.",
            "Compare custody/vkey.txt and custody/checkpoint.txt with a checkpoint the archive published "
            "independently, so the log itself is proven to be the archive's.",
        ],
    )
    from .render import html

    pics = pictures(archive, records)
    data = ReportData(cover, records, events, names, roles, exhibits, pics, cfg.timezone)
    files = {p.name: p.data for p in pics.values()}
    # In the bundle the HTML shows the picture files sealed beside it; the PDF embeds the same pictures.
    relative = {item: p.name.removeprefix("custody/") for item, p in pics.items()}
    files[REPORT_HTML] = html(data, options.paper, relative).encode()
    files[REPORT_PDF] = stamped_pdf(archive, data, options.paper, f"bundle {bundle_id}")
    if options.case_uco:
        import json

        from .. import __version__ as version

        doc = caseuco.graph(
            archive_id=cfg.archive_id,
            origin=cfg.origin,
            records=records,
            events=events,
            names=names,
            roles=roles,
            exhibits=exhibits,
            case=cover.case,
            bundle_id=bundle_id,
            tool_version=version,
        )
        files[CASE_UCO] = json.dumps(doc, indent=1, ensure_ascii=False).encode()
    return files
