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

import blake3
from cryptography import x509

from .. import disclosure, keys, progress, records
from ..canonical import canonical
from ..checks import Report
from ..derivation import DERIVE, DeriveEvent, link_problem, source_of
from ..errors import BundleError, CustodyError, InputError, ProofError
from ..hashing import CHUNK_SIZE, sha256_hex
from ..log import merkle, note
from ..log.authority import IDENTITY_CHECK, Authority, parse_time
from ..log.logevent import GENESIS_PREV, LogEvent
from ..log.sigcheck import Job, bad_signatures
from ..timestamp import tsa
from . import layout
from .safezip import SafeBundle, open_bundle
from .summary import summarise

AGE_MAGIC = b"age-encryption.org/v1"


def age_identities(identity: Path) -> list[Any]:
    """The X25519 identities of an age identity file (its AGE-SECRET-KEY lines).

    Raises InputError naming the file when it is unreadable or holds no usable identity.
    """
    import pyrage

    try:
        lines = [ln.strip() for ln in identity.read_text().splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
        identities = [pyrage.x25519.Identity.from_str(line) for line in lines]
    except (OSError, ValueError, pyrage.IdentityError) as exc:
        raise InputError(f"{identity}: not an age identity file ({exc})") from None
    if not identities:
        raise InputError(f"{identity}: holds no AGE-SECRET-KEY line")
    return identities


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
    sha256, sha512, b3 = hashlib.sha256(), hashlib.sha512(), blake3.blake3()
    size = 0
    with bundle.open(name) as fh:
        try:
            while chunk := fh.read(CHUNK_SIZE):
                sha256.update(chunk)
                sha512.update(chunk)
                b3.update(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        except Exception as exc:
            raise BundleError(f"{bundle.path}: {name} is corrupt inside the zip ({exc})") from None
    return sha256.hexdigest(), sha512.hexdigest(), b3.hexdigest(), size


def _manifest(bundle: SafeBundle, name: str, report: Report) -> dict[str, str]:
    if not bundle.has(name):
        report.add("bag", name, False, "required manifest is missing")
        return {}
    try:
        return layout.parse_manifest(bundle.read_text(name), name)
    except ValueError as exc:
        report.add("bag", name, False, str(exc))
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
            report.add("bag", required, False, "required file is missing")
    sha256 = _manifest(bundle, layout.MANIFESTS["sha256"], report)
    sha512 = _manifest(bundle, layout.MANIFESTS["sha512"], report)
    tags = _manifest(bundle, layout.TAGMANIFEST, report)
    payload_files = {n for n in bundle.files if n.startswith("data/")}
    listed = set(sha256) | set(sha512)
    for name in sorted(payload_files - listed):
        report.add("bag", name, False, "payload file is in no manifest (added after sealing?)")
    for name in sorted(listed - payload_files):
        report.add("bag", name, False, "payload file listed in the manifest is missing")
    for name in sorted(set(bundle.files) - payload_files - set(tags) - layout.SEAL_FILES - {layout.TAGMANIFEST}):
        report.add("bag", name, False, "tag file is in no manifest (added after sealing?)")
    for name in sorted(set(tags) - set(bundle.files)):
        report.add("bag", name, False, "tag file listed in the tag manifest is missing")
    blake3_of: dict[str, tuple[str, str]] = {}  # path -> (SHA-256, BLAKE3) of the content
    octets = 0
    progress.begin("verify-bundle", sum(bundle.files[n].file_size for n in payload_files & listed))
    for name in sorted(payload_files & listed):
        got256, got512, got_b3, size = _digests(bundle, name)
        octets += size
        blake3_of[name] = (got256, got_b3)
        ok = sha256.get(name) == got256 and sha512.get(name) == got512
        report.add(
            "payload",
            name,
            ok,
            "SHA-256 and SHA-512 match the manifests" if ok else "content differs from the manifest digests",
        )
    for name in sorted(set(tags) & set(bundle.files)):
        ok = tags[name] == hashlib.sha256(bundle.read(name, limit=1024**3)).hexdigest()
        if not ok:
            report.add("tag-file", name, False, "content differs from the tag manifest")
    if not any(c.check == "tag-file" for c in report.failures):
        report.add("tag-file", layout.TAGMANIFEST, True, f"{len(tags)} tag files match")
    info = bundle.read_text(layout.BAG_INFO) if bundle.has(layout.BAG_INFO) else ""
    oxum = next((ln.split(":", 1)[1].strip() for ln in layout.lines(info) if ln.startswith("Payload-Oxum:")), None)
    if oxum != f"{octets}.{len(payload_files)}":
        report.add("bag", layout.BAG_INFO, False, f"Payload-Oxum {oxum} does not match {octets}.{len(payload_files)}")
    return blake3_of


def _check_seal(bundle: SafeBundle, authority: Authority, export: LogEvent | None, report: Report) -> None:
    """The seal key must be the export event's signer, registered by a carried actor.add, allowed to export."""
    try:
        public = keys.load_public_pem(bundle.read(layout.SEAL_PUB), layout.SEAL_PUB)
        signature = bundle.read(layout.SEAL_SIG)
        manifest = bundle.read(layout.TAGMANIFEST)
    except CustodyError as exc:
        report.add("seal", layout.SEAL_SIG, False, str(exc))
        return
    if not keys.verify_signature(public, signature, manifest):
        report.add("seal", layout.SEAL_SIG, False, "seal signature over tagmanifest-sha256.txt does not verify")
        return
    kid = keys.key_id(public)
    if export is None or kid != export.actor:
        report.add("seal", layout.SEAL_PUB, False, "seal key is not the key of the actor who logged the export")
        return
    if kid not in authority.keys or export.seq in authority.denied:
        report.add(
            "seal",
            layout.SEAL_PUB,
            False,
            f"seal key {kid[:16]}… is not registered by a carried actor.add, or its role may not export",
        )
        return
    info = authority.keys[kid]
    report.add("seal", layout.SEAL_SIG, True, f"tag manifest sealed by {info.name} (role {info.role}, key {kid[:16]}…)")


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
        report.add("timestamp", token_name, False, str(exc))
        return
    report.add("timestamp", token_name, True, attestation.describe(), warning=not attestation.chain_checked)


def _check_timestamps(
    bundle: SafeBundle, events: list[LogEvent], export: LogEvent | None, tsa_ca: Path | None, report: Report
) -> None:
    """The RFC 3161 tokens over the seal and the checkpoint, when the bundle carries them."""
    roots = tsa.load_roots(tsa_ca) if tsa_ca is not None else None
    if bundle.has(layout.SEAL_TSR):
        _check_token(bundle, layout.SEAL_TSR, layout.SEAL_SIG, roots, _event_time(export) if export else None, report)
    else:
        report.add(
            "timestamp",
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
    """
    if tsa_ca is not None:
        tsa.load_roots(tsa_ca)  # a bad CA file is the user's error, before any work
    report = Report()
    with _opened(path, identity) as bundle:
        if not layout.is_bundle_id(bundle.root):
            report.add("bag", bundle.root, False, "top-level folder is not a bundle id")
        blake3_of = _check_bag(bundle, report)
        # custody/keys/*.pem are a convenience (covered by the tag manifest): keys are trusted only
        # through the carried actor.add events.
        try:
            signed_records = json.loads(bundle.read_text(layout.ITEMS))
            events = [LogEvent.from_json(e) for e in layout.parse_jsonl(bundle.read_text(layout.EVENTS), layout.EVENTS)]
            proofs = json.loads(bundle.read_text(layout.PROOFS))
        except (ValueError, KeyError, TypeError) as exc:
            report.add("bag", "custody/", False, f"custody files are malformed: {exc}")
            return report
        except BundleError as exc:
            report.add("bag", "custody/", False, str(exc))
            return report
        shape = _shape_problem(signed_records, proofs)
        if shape:
            report.add("bag", "custody/", False, f"custody files are malformed: {shape}")
            return report
        authority = _check_events(events, report)
        export = next((e for e in events if e.action == "export" and e.payload.get("bundle_id") == bundle.root), None)
        if export is None:
            report.add("export-event", bundle.root, False, "events.jsonl has no export event for this bundle")
        else:
            _check_export_manifest(bundle, export, report)
            _check_export_items(export, signed_records, report)
        archive_vkey = _check_identity(bundle, authority, vkey, bool(against), report)
        _check_seal(bundle, authority, export, report)
        _check_records(signed_records, authority, blake3_of, report)
        _check_disclosures(bundle, signed_records, events, export, report)
        _check_derivations(signed_records, events, authority, report)
        _check_log(bundle, events, proofs, archive_vkey, authority, against or [], report)
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
        "export-event",
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
        "export-event",
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


def _check_records(
    signed: list[dict[str, Any]], authority: Authority, blake3_of: dict[str, tuple[str, str]], report: Report
) -> None:
    claimed: set[str] = set()
    for entry in signed:
        record = entry.get("record", {})
        item = str(record.get("item_id"))
        signer = str(entry.get("signer"))
        info = authority.keys.get(signer)
        text = canonical(record).decode()
        ok = info is not None and records.signature_valid(text, str(entry.get("signature")), info.public_key)
        report.add(
            "record-signature",
            item,
            ok,
            ""
            if ok
            else "record signature does not verify with a key registered by a carried actor.add"
            if info is not None
            else f"record signed by key {signer[:16]}…, which no carried actor.add registers",
        )
        problem = authority.record_problem(item, sha256_hex(text.encode()), signer, record)
        report.add("item-chain", item, not problem, problem or "ingest event binds the signed record")
        path_problem = layout.path_problem(entry)
        if path_problem is not None:
            report.add("payload-path", item, False, f"items.json: {path_problem}")
        name = layout.entry_path(entry)
        if name in claimed:
            report.add("payload-path", item, False, f"items.json: {name} is the payload of another entry too")
        claimed.add(name)
        # Both digests the record signs: the standalone verifier (stdlib: no BLAKE3) checks the SHA-256.
        ok = blake3_of.get(name) == (record.get("sha256"), record.get("blake3"))
        report.add(
            "payload-blake3",
            item,
            ok,
            "SHA-256 and BLAKE3 match the signed record"
            if ok
            else f"{name} does not have the SHA-256 and BLAKE3 of the signed record",
        )
    # A payload file that no signed record vouches for is not evidence, whoever sealed and logged it.
    for name in sorted(set(blake3_of) - claimed):
        report.add("payload-path", name, False, "no signed record in items.json vouches for this payload file")


def _check_derivations(signed_records: list[Any], events: list[LogEvent], authority: Authority, report: Report) -> None:
    """Each carried working copy's link to its source holds: the source's ingest and the derive event are carried."""
    held = {
        str(e["record"].get("item_id")): sha256_hex(canonical(e["record"]))
        for e in signed_records
        if isinstance(e, dict) and isinstance(e.get("record"), dict)
    }
    ingests = {item: sha for item, (_signer, sha) in authority.ingests.items()}
    derives = [DeriveEvent(e.seq, e.item, e.payload) for e in events if e.action == DERIVE]
    for entry in signed_records:
        record = entry.get("record") if isinstance(entry, dict) else None
        link = source_of(record) if isinstance(record, dict) else None
        if link is None or not isinstance(record, dict):
            continue
        item = str(record.get("item_id"))
        problem = link_problem(item, held[item], link, ingests, held, derives)
        report.add("derivation", item, not problem, problem or f"derived from {link.get('item_id')}: link signed")


def commitments(signed_records: list[Any], events: list[LogEvent]) -> dict[str, tuple[str, str]]:
    """digest -> (field, where) of every withholdable field committed by a carried record or acquire event."""
    found: dict[str, tuple[str, str]] = {}
    holders: list[tuple[str, Any]] = [
        (str(e["record"].get("item_id")), e["record"])
        for e in signed_records
        if isinstance(e, dict) and isinstance(e.get("record"), dict)
    ]
    holders += [(f"acquire event {e.seq}", e.payload.get("acquisition")) for e in events if e.action == "acquire"]
    holders += [(f"correct event {e.seq}", e.payload) for e in events if e.action == "correct"]
    for where, holder in holders:
        digests = disclosure.committed_digests(holder) if isinstance(holder, dict) else None
        for field, digest in (digests or {}).items():
            found.setdefault(digest, (field, where))
    return found


def _check_disclosures(
    bundle: SafeBundle, signed_records: list[Any], events: list[LogEvent], export: LogEvent | None, report: Report
) -> None:
    """Each carried disclosure hashes to a digest a signed record or event commits to, for the same field."""
    if not bundle.has(layout.DISCLOSURES):
        return  # bundles made before withheld fields: every value is in the signed records
    try:
        carried = json.loads(bundle.read_text(layout.DISCLOSURES))
        if not isinstance(carried, dict):
            raise ValueError("not a JSON object")
    except (ValueError, BundleError) as exc:
        report.add("disclosure", layout.DISCLOSURES, False, f"malformed: {exc}")
        return
    committed = commitments(signed_records, events)
    withheld = set(export.payload.get("withheld") or []) if export is not None else set()
    failed = False
    for digest, text in sorted(carried.items()):
        problem = _disclosure_problem(str(digest), text, committed, withheld)
        if problem:
            failed = True
            report.add("disclosure", str(digest)[:16], False, problem)
    if not failed:
        shown = f"; withheld: {', '.join(sorted(withheld))}" if withheld else ""
        report.add(
            "disclosure", layout.DISCLOSURES, True, f"{len(carried)} disclosed values match their signed digests{shown}"
        )


def _disclosure_problem(digest: str, text: Any, committed: dict[str, tuple[str, str]], withheld: set[str]) -> str:
    if not isinstance(text, str):
        return "a disclosure is not a string"
    try:
        parsed = disclosure.parse(text)
    except ValueError as exc:
        return f"not a disclosure: {exc}"
    if parsed.digest != digest:
        return "the disclosed value does not hash to the digest it is listed under"
    if digest not in committed:
        return "no carried record, acquire or correct event commits to this digest"
    field, where = committed[digest]
    if field != parsed.field:
        return f"{where} commits to this digest for {field}, not {parsed.field}"
    if field in withheld:
        return f"the export withholds {field}, but the bundle discloses it for {where}"
    return ""


def _check_events(events: list[LogEvent], report: Report) -> Authority:
    """Replay the carried events' authority (custody.log.authority), then check their signatures and chain."""
    authority = Authority(report)
    if len(events) < 2 or (events[0].seq, events[1].seq) != (0, 1):
        report.add(
            "authority",
            "events.jsonl",
            False,
            "does not carry events 0 and 1 (archive.init and the first admin): no signer's authority can be checked",
        )
    jobs: list[Job] = []
    by_seq: dict[int, LogEvent] = {}
    unregistered = 0
    for event in events:
        raw_key = authority.admit(event.seq, event.time, event.actor, event.action, event.item, event.payload)
        if raw_key is not None:
            jobs.append((event.seq, raw_key, _raw_sig(event), canonical(event.unsigned())))
        elif event.seq != 0:
            unregistered += 1
        by_seq.setdefault(event.seq, event)
    bad = set(bad_signatures(jobs))
    genesis = by_seq.get(0)
    if genesis is not None:
        init_key = authority.bootstrap_key()
        ok = init_key is not None and not bad_signatures(
            [(0, init_key, _raw_sig(genesis), canonical(genesis.unsigned()))]
        )
        authority.confirm_genesis(ok)
        if not ok:
            bad.add(0)
    for seq in sorted(bad):
        report.add(
            "event-signature", f"event {seq}", False, "signature does not verify with the signer's registered key"
        )
    if not bad:
        report.add("event-signature", "events.jsonl", True, f"{len(events) - unregistered} event signatures verify")
    if not authority.failed:
        report.add(
            "authority",
            "events.jsonl",
            True,
            "every event is signed by a key a carried actor.add registered before it, with a role allowing it",
        )
    genesis_event = by_seq.get(0)
    if genesis_event is not None and genesis_event.prev != GENESIS_PREV:
        report.add("chain", "event 0", False, "prev of event 0 is not 64 zeros: the log does not start here")
    for event in events:
        before = by_seq.get(event.seq - 1)
        if before is not None and event.prev != before.chain_hash():
            report.add("chain", f"event {event.seq}", False, "prev does not hash the preceding event")
    return authority


def _raw_sig(event: LogEvent) -> bytes:
    try:
        return keys.unb64(event.sig)
    except ValueError:
        return b""


def _check_log(
    bundle: SafeBundle,
    events: list[LogEvent],
    proofs: dict[str, Any],
    vkey: str | None,
    authority: Authority,
    against: list[tuple[str, str]],
    report: Report,
) -> None:
    if vkey is None:
        report.add("checkpoint", layout.CHECKPOINT, False, "cannot be checked: the archive's key is not established")
        return
    try:
        text = bundle.read_text(layout.CHECKPOINT)
        cp = note.open_checkpoint(text, vkey)
    except CustodyError as exc:
        report.add("checkpoint", layout.CHECKPOINT, False, str(exc))
        return
    cosigner = authority.cosigner_problem(text, cp.size)
    if cosigner:
        report.add("checkpoint", layout.CHECKPOINT, False, cosigner)
        return
    report.add("checkpoint", layout.CHECKPOINT, True, f"signed by {vkey.split('+', 1)[0]}, tree size {cp.size}")
    inclusion = proofs.get("inclusion", {})
    failed = 0
    for event in events:
        try:
            path = [bytes.fromhex(h) for h in inclusion.get(str(event.seq), [])]
            ok = merkle.verify_inclusion(merkle.leaf_hash(event.canonical()), event.seq, cp.size, path, cp.root)
        except (ValueError, ProofError):
            ok = False
        if not ok:
            failed += 1
            report.add("inclusion", f"event {event.seq}", False, "not proven to be in the signed log")
    if not failed:
        report.add("inclusion", "events.jsonl", True, f"{len(events)} events proven in the log of size {cp.size}")
    for label, text in against:
        _check_against(cp, vkey, proofs.get("consistency", {}), label, text, report)


def _check_against(
    cp: note.Checkpoint, vkey: str, consistency: dict[str, Any], label: str, text: str, report: Report
) -> None:
    try:
        theirs = note.open_checkpoint(text, vkey)
    except ProofError as exc:
        report.add("against-checkpoint", label, False, f"{exc} (is it from this archive?)")
        return
    if theirs.size > cp.size:
        report.add(
            "against-checkpoint",
            label,
            False,
            f"your checkpoint (size {theirs.size}) is newer than the bundle's ({cp.size}); "
            f"ask the archive for 'custody proof --consistency {cp.size} --to {theirs.size}'",
        )
        return
    if theirs.size == cp.size:
        ok = theirs.root == cp.root
    else:
        try:
            path = [bytes.fromhex(h) for h in consistency.get(str(theirs.size), [])]
            ok = merkle.verify_consistency(theirs.size, cp.size, theirs.root, cp.root, path)
        except (ValueError, ProofError):
            ok = False
    report.add(
        "against-checkpoint",
        label,
        ok,
        f"the bundle's log extends your checkpoint of size {theirs.size}"
        if ok
        else f"the bundle's log does not extend your checkpoint of size {theirs.size}",
    )
