"""verify-bundle: check everything in a bundle with no archive present.

Opens the bundle (decrypting an age file) and runs each check in turn: the bag (custody.bundle.check_bag),
the carried log (check_log), where the bundle comes from (check_export), the signed records
(check_records) and the time-stamp tokens (check_timestamps).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..age import age_identities
from ..canonical import canonical
from ..checks import CheckKind, Report
from ..errors import BundleError, InputError
from ..log.logevent import LogEvent
from ..timestamp import tsa
from . import layout
from .check_bag import check_bag
from .check_export import check_export_items, check_export_manifest, check_identity, check_seal
from .check_log import check_events, check_log
from .check_records import check_derivations, check_disclosures, check_records
from .check_timestamps import check_timestamps
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
        except OSError as exc:
            if exc.errno is not None:  # writing the decrypted copy failed (a full disk): not the bundle's fault
                raise InputError(f"{path}: cannot decrypt it into a temp folder ({exc.strerror})") from None
            # age's stream ends early or a chunk fails its tag: the file is cut short or damaged.
            raise BundleError(
                f"{path}: cannot be decrypted to the end ({exc}): truncated or damaged; ask the sender for it again"
            ) from None
        yield clear


@contextmanager
def _opened(source: Path | SafeBundle, identity: Path | None) -> Iterator[SafeBundle]:
    if isinstance(source, SafeBundle):
        yield source
        return
    with plain_zip(source, identity) as zip_path, open_bundle(zip_path, shown=source) as bundle:
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
        blake3_of = check_bag(bundle, report)
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
            check_export_manifest(bundle, export, report)
            check_export_items(export, signed_records, report)
        archive_vkey = check_identity(bundle, authority, vkey, bool(against), report)
        check_seal(bundle, authority, export, report)
        check_records(signed_records, authority, blake3_of, report)
        check_disclosures(bundle, signed_records, events, export, report)
        check_derivations(signed_records, events, authority, report)
        check_log(bundle, events, proofs, archive_vkey, authority, against or [], report)
        check_timestamps(bundle, events, export, tsa_ca, report)
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


def _shape_problem(signed: object, proofs: object) -> str:
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
