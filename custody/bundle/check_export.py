"""verify-bundle, where a bundle comes from: the archive's identity (event 0), the export event that logged
the bundle and its contents, and the seal by the exporter's key."""

from __future__ import annotations

import hashlib
from typing import Any

from .. import keys
from ..checks import CheckKind, Report
from ..errors import CustodyError
from ..log.authority import IDENTITY_CHECK, Authority
from ..log.logevent import LogEvent
from . import layout
from .safezip import SafeBundle


def check_seal(bundle: SafeBundle, authority: Authority, export: LogEvent | None, report: Report) -> None:
    """The seal key must be the export event's signer, registered by a carried actor.add, allowed to export."""
    try:
        public = keys.load_public_pem(bundle.read(layout.SEAL_PUB), layout.SEAL_PUB)
        signature = bundle.read(layout.SEAL_SIG)
        manifest = bundle.read(layout.TAGMANIFEST)
    except CustodyError as exc:
        report.add(CheckKind.SEAL, layout.SEAL_SIG, False, str(exc))
        return
    if not keys.verify_signature(public, signature, manifest):
        report.add(CheckKind.SEAL, layout.SEAL_SIG, False, "seal signature over tagmanifest-sha256.txt does not verify")
        return
    kid = keys.key_id(public)
    if export is None or kid != export.actor:
        report.add(CheckKind.SEAL, layout.SEAL_PUB, False, "seal key is not the key of the actor who logged the export")
        return
    if kid not in authority.keys or export.seq in authority.denied:
        report.add(
            CheckKind.SEAL,
            layout.SEAL_PUB,
            False,
            f"seal key {kid[:16]}… is not registered by a carried actor.add, or its role may not export",
        )
        return
    info = authority.keys[kid]
    report.add(
        CheckKind.SEAL, layout.SEAL_SIG, True, f"tag manifest sealed by {info.name} (role {info.role}, key {kid[:16]}…)"
    )


def check_export_items(export: LogEvent, signed: list[dict[str, Any]], report: Report) -> None:
    """items.json holds exactly the items the export event names, so each item's history shows this disclosure."""
    carried = sorted(str(entry["record"].get("item_id")) for entry in signed)
    logged = export.payload.get("items")
    ok = isinstance(logged, list) and carried == sorted({str(i) for i in logged})
    report.add(
        CheckKind.EXPORT_EVENT,
        f"event {export.seq}",
        ok,
        "items.json holds exactly the items the export logged"
        if ok
        else "items.json does not hold exactly the items the export event logged",
    )


def check_export_manifest(bundle: SafeBundle, export: LogEvent, report: Report) -> None:
    """The logged export names the payload set: its ``manifest_sha256`` is the digest of manifest-sha256.txt.

    Without this, whoever holds the exporter's key could drop a payload file after the export was
    logged and re-seal the bag.
    """
    name = layout.MANIFESTS["sha256"]
    if not bundle.has(name):
        return  # reported by the bag check
    got = hashlib.sha256(bundle.read(name)).hexdigest()
    ok = export.payload.get("manifest_sha256") == got
    report.add(
        CheckKind.EXPORT_EVENT,
        f"event {export.seq}",
        ok,
        "the logged export names this bag's manifest-sha256.txt"
        if ok
        else "manifest-sha256.txt is not the manifest the export event logged (payload files added or removed)",
    )


def check_identity(
    bundle: SafeBundle, authority: Authority, pinned: str | None, has_against: bool, report: Report
) -> str | None:
    """The archive's vkey, derived from the carried, verified event 0; compared with vkey.txt and the pin."""
    if authority.identity is None:
        report.add(IDENTITY_CHECK, "event 0", False, "event 0 (archive.init) is not carried or does not verify")
        return None
    derived = authority.identity.vkey
    try:
        stated = bundle.read_text(layout.VKEY).strip()
    except CustodyError as exc:
        stated = f"({exc})"
    if stated != derived:
        report.add(IDENTITY_CHECK, layout.VKEY, False, "vkey.txt is not the archive key that event 0 states")
    if pinned is not None:
        ok = pinned.strip() == derived
        report.add(
            IDENTITY_CHECK,
            "--vkey",
            ok,
            f"the archive is {derived.split('+', 1)[0]}, the key you pinned"
            if ok
            else f"the bundle comes from {derived.split('+', 1)[0]} with another key than the one you pinned",
        )
    elif not has_against:
        report.add(
            IDENTITY_CHECK,
            "archive",
            True,
            "the archive's identity was NOT checked: the bundle is consistent with itself, but anyone can make such a "
            "bundle; pass --vkey FILE (the archive's published key) or --against-checkpoint FILE",
            warning=True,
        )
    return derived
