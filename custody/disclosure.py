"""Withheld fields: salted-digest commitments to a record's source path and provenance (SD-JWT style).

A record (or an acquire event) signs, instead of each withholdable value, the digest of a
*disclosure*: the JCS text of the array ``[salt, field, value]``, salt = 16 random bytes (128 bits)
in unpadded base64url. The digest is hex SHA-256 of the disclosure's UTF-8 bytes. The archive keeps
every disclosure of a record in one content-addressed store blob (``values_sha256``); a bundle
carries only the disclosures of the fields it reveals, so a withheld value never leaves, and a later
reveal is checked against the signed digest (custody/bundle/standalone/FORMATS.md, "Withheld fields").
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .canonical import canonical
from .errors import InputError, IntegrityError, StoreError
from .records import Provenance
from .store.base import BlobStore

# The record member holding the commitments; its absence marks a record made before withheld fields.
KEY = "withholdable"
SALT_BYTES = 16
# Everything that may name or locate a witness or a source; "case" stays in the clear because the
# archive and a court must know which case an item belongs to (case membership is checked from it).
FIELDS: tuple[str, ...] = (
    "source_path", *(f for f in Provenance.__dataclass_fields__ if f not in ("case", "tags"))
)  # fmt: skip
# The most a values blob is read to: each value comes from a command-line argument or a manifest field (at most
# 128 KiB each, some 14 fields, JSON-escaped twice), so a genuine one stays far below this.
MAX_VALUES_BYTES = 64 * 1024 * 1024
# Committed beside source_path only when present (a path whose bytes are not UTF-8), withheld with it.
PATH_BYTES = "source_path_bytes_b64"


def digest_of(text: str) -> str:
    """Hex SHA-256 of a disclosure's UTF-8 bytes: the value a record commits to."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _salt() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SALT_BYTES)).rstrip(b"=").decode("ascii")


def make(field: str, value: object) -> str:
    """A new disclosure (JCS text of ``[salt, field, value]``) with a fresh 128-bit salt."""
    return canonical([_salt(), field, value]).decode("utf-8")


@dataclass(frozen=True)
class Disclosure:
    """One checked disclosure: which field, which value, under which digest."""

    digest: str
    field: str
    value: object
    text: str


def parse(text: str) -> Disclosure:
    """Parse a disclosure text; ValueError if it is not ``[salt, field, value]`` with a 128-bit salt."""
    data = json.loads(text)
    if not (isinstance(data, list) and len(data) == 3 and isinstance(data[0], str) and isinstance(data[1], str)):
        raise ValueError("a disclosure is the JSON array [salt, field, value]")
    if len(data[0]) < 22:
        raise ValueError("the salt is shorter than 128 bits (22 base64url characters)")
    if canonical(data).decode("utf-8") != text:
        raise ValueError("a disclosure must be in canonical form (RFC 8785)")
    return Disclosure(digest_of(text), data[1], data[2], text)


def store_texts(store: BlobStore, texts: list[str], durable: bool) -> str:
    """Write the disclosures ``texts`` to ``store`` as one canonical JSON array; its SHA-256 (hex), the blob's name."""
    blob = canonical(texts)
    values_sha256 = hashlib.sha256(blob).hexdigest()
    writer = store.open_writer(durable=durable)
    try:
        writer.write(blob)
        writer.commit(values_sha256)
    except BaseException:
        writer.abort()
        raise
    return values_sha256


def commit(store: BlobStore, acquisition: Mapping[str, Any]) -> dict[str, object]:
    """The acquisition with its withholdable values replaced by signed-to-be digests.

    ``acquisition`` is ``{original_name, source_path, fs_times, provenance, ...}``; the result keeps
    ``provenance.case`` in the clear and adds ``withholdable: {digests: {field: hex}, values_sha256}``.
    The disclosures are written to ``store`` (durable only after the caller's ``store.sync()``).
    """
    provenance = dict(acquisition.get("provenance") or {})
    values: dict[str, Any] = {"source_path": acquisition.get("source_path")}
    values.update({f: provenance.get(f) for f in FIELDS if f != "source_path"})
    names = list(FIELDS)
    if acquisition.get(PATH_BYTES) is not None:
        values[PATH_BYTES] = acquisition[PATH_BYTES]
        names.append(PATH_BYTES)
    texts = [make(f, values[f]) for f in names]
    values_sha256 = store_texts(store, texts, durable=False)
    committed = {k: v for k, v in acquisition.items() if k not in ("source_path", PATH_BYTES, "provenance")}
    committed["provenance"] = {"case": provenance.get("case")}
    committed[KEY] = {
        "digests": {f: digest_of(t) for f, t in zip(names, texts, strict=True)},
        "values_sha256": values_sha256,
    }
    return committed


def committed_digests(holder: Mapping[str, object]) -> dict[str, str] | None:
    """The ``field -> digest`` commitments of a record or acquisition, or None if it has none (made before)."""
    section = holder.get(KEY)
    if not isinstance(section, dict) or not isinstance(section.get("digests"), dict):
        return None
    return {str(k): str(v) for k, v in section["digests"].items()}


def load(store: BlobStore, holder: Mapping[str, Any], where: str) -> dict[str, Disclosure]:
    """Every disclosure of a committed record or acquisition, checked against its digests; field -> disclosure.

    Raises IntegrityError when the stored values are missing or do not match what was signed.
    """
    digests = committed_digests(holder)
    if digests is None:
        return {}
    values_sha256 = str(holder[KEY].get("values_sha256"))
    try:
        with store.open_read(values_sha256) as fh:
            blob = fh.read(MAX_VALUES_BYTES + 1)
    except (StoreError, OSError) as exc:
        raise IntegrityError(f"{where}: the stored values of its withheld fields cannot be read ({exc})") from None
    if len(blob) > MAX_VALUES_BYTES:
        # A forged record can name any stored blob, a video of many gigabytes: never read one whole into memory.
        raise IntegrityError(
            f"{where}: the stored values of its withheld fields are over {MAX_VALUES_BYTES >> 20} MiB, "
            "larger than any the archive writes; not read"
        )
    if hashlib.sha256(blob).hexdigest() != values_sha256:
        raise IntegrityError(f"{where}: the stored values of its withheld fields are not the ones signed")
    found: dict[str, Disclosure] = {}
    try:
        texts = json.loads(blob)
        # The digest matches whatever the record names: a forged record may name any stored blob, whose JSON
        # need not be the array of texts the archive writes (an insider can store one under its true digest).
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise ValueError("not a JSON array of disclosure texts")
        for text in texts:
            disclosure = parse(text)
            if digests.get(disclosure.field) == disclosure.digest:
                found[disclosure.field] = disclosure
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep to parse
        raise IntegrityError(f"{where}: the stored values of its withheld fields are malformed ({exc})") from None
    missing = sorted(set(digests) - set(found))
    if missing:
        raise IntegrityError(f"{where}: no stored value matches the signed digest of {', '.join(missing)}")
    return found


def opened(store: BlobStore, holder: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``{source_path, provenance}`` of a record or acquisition in the clear (from its disclosures if committed)."""
    if committed_digests(holder) is None:
        return {"source_path": holder.get("source_path"), "provenance": dict(holder.get("provenance") or {})}
    found = load(store, holder, where)
    provenance = {f: found[f].value for f in FIELDS if f != "source_path"}
    provenance["case"] = (holder.get("provenance") or {}).get("case")
    return {"source_path": found["source_path"].value, "provenance": provenance}


def parse_fields(text: str | Iterable[str] | None) -> list[str]:
    """A ``--withhold`` list: comma-separated field names (``none`` for none); InputError names unknown ones.

    Withholding ``source_path`` withholds ``source_path_bytes_b64`` too (listed after the user's fields).
    """
    if text is None:
        return []
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    names = [p for p in parts if p and p not in ("none", PATH_BYTES)]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise InputError(
            f"--withhold: unknown field {', '.join(unknown)}; fields that can be withheld: {', '.join(FIELDS)}"
        )
    chosen = sorted(set(names), key=FIELDS.index)
    return [*chosen, PATH_BYTES] if "source_path" in chosen else chosen
