"""Later disclosure of a withheld field: a reveal file from the archive, checked against a bundle's commitment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import disclosure
from .archive import Acting
from .bundle import layout
from .bundle.check import check_bundle
from .bundle.check_records import commitments
from .bundle.safezip import open_bundle
from .canonical import parse
from .checks import CheckKind, Report
from .errors import BundleError, InputError
from .hashing import sha256_hex
from .items import get_item
from .log.logevent import LogEvent
from .roles import Permission

REVEAL_TYPE = "custody.reveal/v1"


def reveal_field(acting: Acting, item_id: str, field: str, out: Path, purpose: str) -> dict[str, Any]:
    """Write the disclosure of one field of an item's signed record to ``out`` (JSON); logged as an access.

    Shape: {type, item_id, record_sha256, field, digest, disclosure}; raises InputError for an unknown field,
    a record made before withheld fields, or an existing ``out``.

    Raises:
        PermissionDeniedError: the acting actor's role does not allow it (the refusal is logged).
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ItemNotFoundError: no such item.
        InputError: a field that is not withheld for the item, no purpose, or an --out that exists.
    """
    if not purpose.strip():
        raise InputError(f"reveal {item_id}: --purpose must say why the value is disclosed")
    if field not in disclosure.FIELDS:
        raise InputError(f"reveal: unknown field '{field}'; fields: {', '.join(disclosure.FIELDS)}")
    if out.exists() or out.is_symlink():
        raise InputError(f"{out}: already exists; choose another --out path (nothing is overwritten)")
    acting.unlock()
    acting.require(Permission.ACCESS, item_id)
    with acting.archive.db.read() as session:
        row = get_item(session, item_id)
        text = row.record
    record = parse(text)
    if disclosure.committed_digests(record) is None:
        raise InputError(f"reveal {item_id}: its record predates withheld fields; every value is in the signed record")
    found = disclosure.load(acting.archive.store, record, item_id)[field]
    result = {
        "type": REVEAL_TYPE,
        "item_id": item_id,
        "record_sha256": sha256_hex(text.encode("utf-8")),
        "field": field,
        "digest": found.digest,
        "disclosure": found.text,
    }
    try:
        with open(out, "x", encoding="utf-8") as fh:
            fh.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror})") from None
    with acting.writing() as session:
        acting.append(
            session,
            "access",
            {"purpose": purpose, "kind": "reveal", "field": field, "digest": found.digest},
            item=item_id,
        )
    return result


def _read_reveal(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a reveal file ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != REVEAL_TYPE or not isinstance(data.get("disclosure"), str):
        raise InputError(f"{path}: not a reveal file (written by 'custody reveal')")
    return data


def check_reveal(
    bundle: Path, reveal: Path, identity: Path | None = None, vkey: str | None = None
) -> tuple[Report, object]:
    """Verify ``bundle``, then the reveal file against the digest its signed record commits to.

    Returns (report, the revealed value or None); the report fails if the bundle fails or the value
    does not hash to the digest the item's record signs for that field.

    Raises:
        InputError: an unreadable or malformed reveal file, bundle or identity.
        BundleError: the bundle cannot be read.
    """
    data = _read_reveal(reveal)
    report = check_bundle(bundle, identity, vkey=vkey)
    item, field, text = str(data.get("item_id")), str(data.get("field")), str(data["disclosure"])
    from .bundle.check import plain_zip

    with plain_zip(bundle, identity) as zip_path, open_bundle(zip_path, shown=bundle) as opened:
        try:
            signed = json.loads(opened.read_text(layout.ITEMS))
            events = [LogEvent.from_json(json.loads(ln)) for ln in opened.read_text(layout.EVENTS).splitlines()]
        except (ValueError, KeyError, TypeError, BundleError) as exc:
            report.add(CheckKind.REVEAL, str(reveal), False, f"the bundle's custody files are malformed: {exc}")
            return report, None
    committed = {
        d: fw for d, fw in commitments(signed, events).items() if fw[1] == item
    }  # the record's own commitments
    try:
        parsed = disclosure.parse(text)
    except ValueError as exc:
        report.add(CheckKind.REVEAL, str(reveal), False, f"not a disclosure: {exc}")
        return report, None
    if parsed.digest in committed and committed[parsed.digest][0] == field == parsed.field:
        report.add(
            CheckKind.REVEAL,
            f"{item} {field}",
            True,
            "the revealed value matches the digest the signed record commits to",
        )
        return report, parsed.value
    report.add(
        CheckKind.REVEAL,
        f"{item} {field}",
        False,
        f"the revealed value does not match what {item}'s signed record commits to for {field}",
    )
    return report, None
