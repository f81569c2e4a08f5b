"""The report files an export seals into its bundle: report.html, report.pdf, the pictures, CASE/UCO."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..archive import Acting
from ..db.models import CheckpointRow
from ..log.logevent import EventJSON
from ..report import _shown, case_uco, checkpoint_gen_time, known_names, names_and_roles, pictures, stamped_pdf
from ..report.exhibits import ReportOptions
from ..report.model import Cover, ReportData, cases_of
from ..report.render import html
from ..timeutil import parse_utc
from . import layout


def bundle_files(
    acting: Acting,
    bundle_id: str,
    export_event: Mapping[str, Any],
    records: list[dict[str, Any]],
    events: list[EventJSON],
    checkpoint: CheckpointRow,
    checkpoint_tsr: bytes | None,
    exhibits: dict[str, str],
    options: ReportOptions,
    clear: Mapping[str | int, Mapping[str, Any]] | None = None,
) -> dict[str, bytes]:
    """Tag files of a bundle's report: report.html, report.pdf, the pictures (and CASE/UCO when asked for).

    ``clear``: item id -> {source_path, provenance} as the bundle discloses them (withheld values already
    replaced by a marker), for records that sign those values only as salted digests (custody.disclosure).
    """
    records = _shown(records, clear or {})
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
        generated_at=parse_utc(str(export_event["time"])),
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
    pics = pictures(archive, records)
    data = ReportData(cover, records, events, names, roles, exhibits, pics, cfg.timezone)
    files = {p.name: p.data for p in pics.values()}
    # In the bundle the HTML shows the picture files sealed beside it; the PDF embeds the same pictures.
    relative = {item: p.name.removeprefix("custody/") for item, p in pics.items()}
    files[layout.REPORT] = html(data, options.paper, relative).encode()
    files[layout.REPORT_PDF] = stamped_pdf(archive, data, options.paper, f"bundle {bundle_id}")
    if options.case_uco:
        files[layout.CASE_UCO] = case_uco(cfg, records, events, names, roles, exhibits, cover.case, bundle_id)
    return files
