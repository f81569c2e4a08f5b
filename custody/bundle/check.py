"""verify-bundle: check everything in a bundle with no archive present."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from .. import keys, progress
from ..age import age_identities
from ..canonical import canonical
from ..checks import CheckKind, Report
from ..errors import BundleError, CustodyError, InputError, ProofError
from ..hashing import copy_and_hash
from ..log import note
from ..log.authority import IDENTITY_CHECK, Authority, parse_time
from ..log.logevent import LogEvent
from ..timestamp import tsa
from . import layout
from .check_log import check_events, check_log
from .check_records import check_derivations, check_disclosures, check_records
from .safezip import SafeBundle, open_bundle
from .summary import summarise

AGE_MAGIC = b"age-encryption.org/v1"


@contextmanager
def plain_zip(path: Path, identity: Path | None, folder: Path | None = None) -> Iterator[Path]:
    """The bundle as a zip: decrypted into a private temp folder (in ``folder``) when it is age-encrypted."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(AGE_MAGIC))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if head != AGE_MAGIC:
        yield path
        return
    if identity is None:
        raise InputError(f"{path}: is age-encrypted; pass --identity AGE_KEY_FILE")
    import pyrage

    identities = age_identities(identity)
    with tempfile.TemporaryDirectory(prefix="custody-bundle-", dir=folder) as tmp:
        clear = Path(tmp) / "bundle.zip"
        try:
            with open(path, "rb") as src, open(clear, "wb") as dst:
                pyrage.decrypt_io(src, dst, identities)
        except pyrage.DecryptError:
            raise InputError(f"{path}: the identity in {identity} cannot decrypt this bundle") from None
        yield clear


def _digests(bundle: SafeBundle, name: str) -> tuple[str, str, str, int]:
    sha512 = hashlib.sha512()
    with bundle.open(name) as fh:
        try:
            got = copy_and_hash(fh, sha512.update, lambda chunk: progress.advance(len(chunk)))
        except Exception as exc:
            raise BundleError(f"{bundle.path}: {name} is corrupt inside the zip ({exc})") from None
    return got.sha256, sha512.hexdigest(), got.blake3, got.size


def _manifest(bundle: SafeBundle, name: str, report: Report) -> dict[str, str]:
    if not bundle.has(name):
        report.add(CheckKind.BAG, name, False, "required manifest is missing")
        return {}
    try:
        return layout.parse_manifest(bundle.read_text(name), name)
    except ValueError as exc:
        report.add(CheckKind.BAG, name, False, str(exc))
        return {}


def _check_bag(bundle: SafeBundle, report: Report) -> dict[str, tuple[str, str]]:
    """Completeness and every digest; returns payload path -> (SHA-256, BLAKE3)."""
    for required in (
        layout.BAGIT_TXT,
        layout.BAG_INFO,
        layout.TAGMANIFEST,
        layout.ITEMS,
        layout.EVENTS,
        layout.PROOFS,
        layout.CHECKPOINT,
        layout.VKEY,
        layout.SEAL_SIG,
        layout.SEAL_PUB,
    ):
        if not bundle.has(required):
            report.add(CheckKind.BAG, required, False, "required file is missing")
    sha256 = _manifest(bundle, layout.MANIFESTS["sha256"], report)
    sha512 = _manifest(bundle, layout.MANIFESTS["sha512"], report)
    tags = _manifest(bundle, layout.TAGMANIFEST, report)
    payload_files = {n for n in bundle.files if n.startswith("data/")}
    listed = set(sha256) | set(sha512)
    for name in sorted(payload_files - listed):
        report.add(CheckKind.BAG, name, False, "payload file is in no manifest (added after sealing?)")
    for name in sorted(listed - payload_files):
        report.add(CheckKind.BAG, name, False, "payload file listed in the manifest is missing")
    for name in sorted(set(bundle.files) - payload_files - set(tags) - layout.SEAL_FILES - {layout.TAGMANIFEST}):
        report.add(CheckKind.BAG, name, False, "tag file is in no manifest (added after sealing?)")
    for name in sorted(set(tags) - set(bundle.files)):
        report.add(CheckKind.BAG, name, False, "tag file listed in the tag manifest is missing")
    blake3_of: dict[str, tuple[str, str]] = {}  # path -> (SHA-256, BLAKE3) of the content
    octets = 0
    progress.begin("verify-bundle", sum(bundle.files[n].file_size for n in payload_files & listed))
    for name in sorted(payload_files & listed):
        got256, got512, got_b3, size = _digests(bundle, name)
        octets += size
        blake3_of[name] = (got256, got_b3)
        ok = sha256.get(name) == got256 and sha512.get(name) == got512
        report.add(
            CheckKind.PAYLOAD,
            name,
            ok,
            "SHA-256 and SHA-512 match the manifests" if ok else "content differs from the manifest digests",
        )
    for name in sorted(set(tags) & set(bundle.files)):
        ok = tags[name] == hashlib.sha256(bundle.read(name, limit=1024**3)).hexdigest()
        if not ok:
            report.add(CheckKind.TAG_FILE, name, False, "content differs from the tag manifest")
    if not any(c.check == "tag-file" for c in report.failures):
        report.add(CheckKind.TAG_FILE, layout.TAGMANIFEST, True, f"{len(tags)} tag files match")
    info = bundle.read_text(layout.BAG_INFO) if bundle.has(layout.BAG_INFO) else ""
    oxum = next((ln.split(":", 1)[1].strip() for ln in layout.lines(info) if ln.startswith("Payload-Oxum:")), None)
    if oxum != f"{octets}.{len(payload_files)}":
        report.add(
            CheckKind.BAG, layout.BAG_INFO, False, f"Payload-Oxum {oxum} does not match {octets}.{len(payload_files)}"
        )
    return blake3_of


def _check_seal(bundle: SafeBundle, authority: Authority, export: LogEvent | None, report: Report) -> None:
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


def _check_timestamps(
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


@contextmanager
def _opened(source: Path | SafeBundle, identity: Path | None) -> Iterator[SafeBundle]:
    if isinstance(source, SafeBundle):
        yield source
        return
    with plain_zip(source, identity) as zip_path, open_bundle(zip_path) as bundle:
        yield bundle


def check_bundle(
    path: Path | SafeBundle,
    identity: Path | None = None,
    against: list[tuple[str, str]] | None = None,
    tsa_ca: Path | None = None,
    vkey: str | None = None,
) -> Report:
    """Verify a bundle file completely; nothing is written anywhere.

    ``tsa_ca`` is the TSA root to trust; ``vkey`` pins the archive's verifier key (C2SP vkey text):
    without it or an ``against`` checkpoint, the report warns that the archive's identity was not checked.
    ``path`` may be a bundle already opened: import checks, then reads, those very bytes.

    Raises:
        InputError: the file or an identity or anchor given cannot be read.
        BundleError: the file is no readable bundle (a damaged zip, an age file without its identity). Damage to the
            evidence is never raised: it is a failed check in the report.
    """
    if tsa_ca is not None:
        tsa.load_roots(tsa_ca)  # a bad CA file is the user's error, before any work
    report = Report()
    with _opened(path, identity) as bundle:
        if not layout.is_bundle_id(bundle.root):
            report.add(CheckKind.BAG, bundle.root, False, "top-level folder is not a bundle id")
        blake3_of = _check_bag(bundle, report)
        # custody/keys/*.pem are a convenience (covered by the tag manifest): keys are trusted only
        # through the carried actor.add events.
        try:
            signed_records = json.loads(bundle.read_text(layout.ITEMS))
            events = [LogEvent.from_json(e) for e in layout.parse_jsonl(bundle.read_text(layout.EVENTS), layout.EVENTS)]
            proofs = json.loads(bundle.read_text(layout.PROOFS))
        except (ValueError, KeyError, TypeError) as exc:
            report.add(CheckKind.BAG, "custody/", False, f"custody files are malformed: {exc}")
            return report
        except BundleError as exc:
            report.add(CheckKind.BAG, "custody/", False, str(exc))
            return report
        shape = _shape_problem(signed_records, proofs)
        if shape:
            report.add(CheckKind.BAG, "custody/", False, f"custody files are malformed: {shape}")
            return report
        authority = check_events(events, report)
        export = next((e for e in events if e.action == "export" and e.payload.get("bundle_id") == bundle.root), None)
        if export is None:
            report.add(CheckKind.EXPORT_EVENT, bundle.root, False, "events.jsonl has no export event for this bundle")
        else:
            _check_export_manifest(bundle, export, report)
            _check_export_items(export, signed_records, report)
        archive_vkey = _check_identity(bundle, authority, vkey, bool(against), report)
        _check_seal(bundle, authority, export, report)
        check_records(signed_records, authority, blake3_of, report)
        check_disclosures(bundle, signed_records, events, export, report)
        check_derivations(signed_records, events, authority, report)
        check_log(bundle, events, proofs, archive_vkey, authority, against or [], report)
        _check_timestamps(bundle, events, export, tsa_ca, report)
        checkpoint_text = bundle.read_text(layout.CHECKPOINT) if bundle.has(layout.CHECKPOINT) else ""
        report.summary = summarise(
            path if isinstance(path, Path) else bundle.path,
            bundle.root,
            events,
            signed_records,
            checkpoint_text,
            [label for label, _ in against or []],
            tsa_ca,
            vkey,
        )
    return report


def _shape_problem(signed: Any, proofs: Any) -> str:
    """Why items.json or proofs.json does not have the shape FORMATS.md states ("" if it does)."""
    if not isinstance(signed, list) or not all(
        isinstance(e, dict) and isinstance(e.get("record"), dict) for e in signed
    ):
        return "items.json is not a list of objects each with a record object"
    try:
        canonical(signed)
    except ValueError as exc:  # e.g. an integer beyond 2**53: no RFC 8785 form, so no signature over it
        return f"items.json has no canonical JSON form ({exc})"
    if not isinstance(proofs, dict) or not all(
        isinstance(paths := proofs.get(k, {}), dict)
        and all(isinstance(p, list) and all(isinstance(h, str) for h in p) for p in paths.values())
        for k in ("inclusion", "consistency")
    ):
        return "proofs.json is not an object whose inclusion and consistency map sizes to lists of hex"
    return ""


def _check_export_items(export: LogEvent, signed: list[dict[str, Any]], report: Report) -> None:
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


def _check_export_manifest(bundle: SafeBundle, export: LogEvent, report: Report) -> None:
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


def _check_identity(
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
