"""One item's stored bytes as ``verify`` checks them: fixity (both digests, the size), lock state, withheld values."""

from __future__ import annotations

from .archive import Archive
from .canonical import parse
from .checks import Check, CheckKind
from .db.models import Item
from .errors import CustodyError
from .hashing import digest_stream
from .rehash import EarlyRehash
from .timeutil import parse_utc, utc_now

RETENTION_WARNING_DAYS = 30


def check_blob(archive: Archive, item: Item, early: EarlyRehash | None) -> list[Check]:
    """Stream the stored bytes through both digests (or take ``early``'s result), and check the blob is still locked.

    ``check_fixity``, then ``check_stored`` if the bytes could be read. Damage never raises: it is a failed check.
    """
    fixity, readable = check_fixity(archive, item, early)
    return [fixity, *check_stored(archive, item)] if readable else [fixity]


def check_fixity(archive: Archive, item: Item, early: EarlyRehash | None) -> tuple[Check, bool]:
    """The blob check of the item's bytes (both digests and the size, or ``early``'s result for them), and whether
    the bytes could be read at all (if not, the item's other stored checks are moot). Never raises."""
    try:
        got = early.result(item.sha256) if early is not None else None
        if got is None:
            with archive.store.open_read(item.sha256) as stream:
                got = digest_stream(stream)
    except CustodyError as exc:
        return Check(CheckKind.BLOB, item.item_id, False, str(exc)), False
    except OSError as exc:  # a read error part-way (a bad sector): damage to report, as the early re-hash does
        detail = f"cannot read blob {item.sha256}: {exc.strerror or exc}"
        return Check(CheckKind.BLOB, item.item_id, False, detail), False
    problems = [
        f"{name} {got_v[:16]}… ≠ recorded {want[:16]}…"
        for name, got_v, want in (("sha256", got.sha256, item.sha256), ("blake3", got.blake3, item.blake3))
        if got_v != want
    ]
    if got.size != item.size:
        problems.append(f"size {got.size} ≠ recorded {item.size}")
    return Check(CheckKind.BLOB, item.item_id, not problems, "; ".join(problems) or "SHA-256 and BLAKE3 match"), True


def check_stored(archive: Archive, item: Item) -> list[Check]:
    """What ``check_blob`` checks besides the bytes' digests: the withheld values, then the lock state (of the
    item's blob, and of its withheld values' blob).

    Python work that needs no digest, so a caller can run it while the bytes are hashed elsewhere.
    Damage never raises: it is a failed check.
    """
    checks, values_sha256 = _withheld_values(archive, item)
    checks.extend(lock_check(archive, item.item_id, item.sha256, "blob"))
    if values_sha256 is not None:
        checks.extend(values_lock_failures(archive, item.item_id, values_sha256))
    return checks


def values_lock_failures(archive: Archive, subject: str, values_sha256: str) -> list[Check]:
    """The failed lock check, if any, of the blob holding ``subject``'s withheld values (a record's or an event's).

    The salted values are the only copy of what a record or event withholds (a reveal needs them): unprotected, they
    could be deleted while every digest still matches. Only a failure is reported: a passing lock says nothing new.
    """
    what = f"the blob of its withheld values ({values_sha256[:16]}…)"
    return [check for check in lock_check(archive, subject, values_sha256, what) if not check.ok]


def lock_check(archive: Archive, subject: str, sha256_hex: str, what: str) -> list[Check]:
    """The lock check of one stored blob (``what``, of ``subject``): nothing for a local blob still read-only."""
    try:
        lock = archive.store.lock_info(sha256_hex)
    except (CustodyError, OSError) as exc:
        return [Check(CheckKind.LOCK, subject, False, f"cannot read the lock state of {what}: {exc}")]
    if not lock.locked:
        return [Check(CheckKind.LOCK, subject, False, f"{what} is no longer protected ({lock.mode})")]
    if lock.retain_until is None:
        return []
    until = parse_utc(lock.retain_until)
    days = (until - utc_now()).days
    soon = days < RETENTION_WARNING_DAYS
    detail = f"{lock.mode} until {lock.retain_until}" + (f" (retention ends in {days} days)" if soon else "")
    return [Check(CheckKind.LOCK, subject, True, detail, warning=soon)]


def _withheld_values(archive: Archive, item: Item) -> tuple[list[Check], str | None]:
    """The stored salted values of a record's withholdable fields still open its signed digests (custody.disclosure);
    and the digest of the blob holding them, when they do."""
    from . import disclosure

    try:
        record = parse(item.record)
    except ValueError:
        return [], None  # reported by the record checks
    if not isinstance(record, dict) or disclosure.committed_digests(record) is None:  # not an object: as above
        return [], None
    try:
        disclosure.load(archive.store, record, item.item_id)
    except CustodyError as exc:
        return [Check(CheckKind.WITHHELD_VALUES, item.item_id, False, str(exc))], None
    checks = [Check(CheckKind.WITHHELD_VALUES, item.item_id, True, "stored values match the signed digests")]
    return checks, str(record[disclosure.KEY]["values_sha256"])
