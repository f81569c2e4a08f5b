"""verify-bundle, the bag: every required file present, nothing added or missing, and every payload and tag
file's digests (fixity) against the BagIt manifests (RFC 8493)."""

from __future__ import annotations

import hashlib

from .. import progress
from ..checks import CheckKind, Report
from ..errors import BundleError
from ..hashing import copy_and_hash
from . import layout
from .safezip import SafeBundle


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


def check_bag(bundle: SafeBundle, report: Report) -> dict[str, tuple[str, str]]:
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
