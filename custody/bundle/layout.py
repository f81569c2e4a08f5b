"""Names inside a bundle, and how BagIt manifest lines encode file paths."""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from datetime import datetime
from typing import Any

from ..timeutil import utc_now

BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFESTS = {"sha256": "manifest-sha256.txt", "sha512": "manifest-sha512.txt"}
TAGMANIFEST = "tagmanifest-sha256.txt"
ITEMS = "custody/items.json"
EVENTS = "custody/events.jsonl"
# Disclosures (salted values) of the withholdable fields the bundle reveals: {digest: disclosure text}.
DISCLOSURES = "custody/disclosures.json"
PROOFS = "custody/proofs.json"
CHECKPOINT = "custody/checkpoint.txt"
VKEY = "custody/vkey.txt"
REPORT = "custody/report.html"
REPORT_PDF = "custody/report.pdf"
CASE_UCO = "custody/case-uco.jsonld"
VERIFY_MD = "custody/VERIFY.md"
FORMATS_MD = "custody/FORMATS.md"
VERIFIER = "custody/verify_bundle.py"
KEYS_DIR = "custody/keys/"
CHECKPOINT_TSR = "custody/checkpoint.tsr"
CHECKPOINT_TSA_CERTS = "custody/checkpoint.tsa-certs.pem"
SEAL_SIG = "custody/seal.sig"
SEAL_PUB = "custody/seal.pub.pem"
SEAL_TSR = "custody/seal.tsr"
SEAL_TSA_CERTS = "custody/seal.tsa-certs.pem"
# Files that sign or timestamp the tag manifest cannot be listed in it.
SEAL_FILES = frozenset({SEAL_SIG, SEAL_PUB, SEAL_TSR, SEAL_TSA_CERTS})

_BUNDLE_ID = re.compile(r"^BND-\d{8}-[0-9a-f]{8}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\]")  # the rule of bundles made before payload paths were recorded
# Kept as they are in a payload name: letters, marks and digits of any script, the joiners some
# scripts need, and ASCII punctuation every file system and line-oriented tool takes literally.
_KEPT_PUNCTUATION = frozenset(" -_.,()[]{}+=@#&!~'")
_JOINERS = frozenset("\u200c\u200d")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]}
)
MAX_NAME_BYTES = 120  # leaves room for "<bundle id>/data/<item id>/" under every path-length limit
_MAX_SUFFIX_CHARS = 16


def new_bundle_id(now: datetime | None = None) -> str:
    """A fresh bundle id: ``BND-YYYYMMDD-<8 hex>``."""
    return f"BND-{(now or utc_now()):%Y%m%d}-{secrets.token_hex(4)}"


def is_bundle_id(text: str) -> bool:
    return bool(_BUNDLE_ID.match(text))


def legacy_payload_name(item_id: str, original_name: str) -> str:
    """The payload path of a bundle whose items.json entries carry no ``path`` (made before it was recorded)."""
    name = original_name
    if not name or name in {".", ".."} or _UNSAFE_NAME.search(name) or len(name.encode()) > 200:
        name = item_id
    return f"data/{item_id}/{name}"


def _kept(char: str) -> bool:
    if char in _KEPT_PUNCTUATION or char in _JOINERS:
        return True
    if not char.isascii():
        return unicodedata.category(char)[0] in "LMN"
    return char.isalnum()


def _shorten(name: str) -> str:
    """Cut a long name to MAX_NAME_BYTES of UTF-8, keeping a short extension."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_SUFFIX_CHARS:
        stem, suffix = name, ""
    tail = f".{suffix}" if suffix else ""
    budget = MAX_NAME_BYTES - len(tail.encode())
    cut = stem.encode()[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{cut}{tail}" if cut else ""


def safe_name(original_name: str) -> str:
    """A file name every file system and line-oriented tool takes literally; "" when nothing usable is left.

    Letters, marks and digits of any script are kept; whitespace other than an inner ASCII
    space, every line or paragraph separator, control and format character, '%', and what
    Windows cannot create (``<>:"/\\|?*``, a trailing dot or space, CON, NUL, COM1...) are
    replaced by '_'. Names longer than MAX_NAME_BYTES are shortened, keeping the extension.
    """
    name = unicodedata.normalize("NFC", original_name)
    # Blank at either end (a joiner joins nothing there), or a final dot, would not survive.
    name = "".join(c if _kept(c) else "_" for c in name).lstrip(" \u200c\u200d").rstrip(" .\u200c\u200d")
    if name.startswith("."):
        name = "_" + name[1:]
    if len(name.encode()) > MAX_NAME_BYTES:
        name = _shorten(name)
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def payload_path(item_id: str, original_name: str) -> str:
    """``data/<item id>/<safe name>``: the original name made safe (see safe_name), else the item id."""
    return f"data/{item_id}/{safe_name(original_name) or item_id}"


def entry_path(entry: dict[str, Any]) -> str:
    """The payload path of one items.json entry: its ``path``, or the legacy rule for older bundles."""
    if "path" in entry:
        return str(entry["path"])
    record = entry.get("record") or {}
    return legacy_payload_name(str(record.get("item_id")), str(record.get("original_name")))


def path_problem(entry: dict[str, Any]) -> str | None:
    """Why an entry's ``path`` is not a payload path of its own item (None when it is)."""
    if "path" not in entry:
        return None
    path, item = entry["path"], str((entry.get("record") or {}).get("item_id"))
    if not isinstance(path, str):
        return "path is not a string"
    prefix = f"data/{item}/"
    name = path[len(prefix) :]
    if not path.startswith(prefix) or not name or "/" in name or name in {".", ".."}:
        return f"path {path!r} is not one file directly in data/{item}/"
    return None


def encode_path(path: str) -> str:
    """RFC 8493 section 2.1.3: percent-encode '%', CR and LF in manifest paths."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(path: str) -> str:
    return path.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace("%25", "%")


def manifest_text(entries: list[tuple[str, str]]) -> str:
    """Manifest lines ``<digest>  <path>`` in path order."""
    return "".join(f"{digest}  {encode_path(path)}\n" for path, digest in sorted(entries))


_MANIFEST_LINE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.+)", re.DOTALL)


def lines(text: str) -> list[str]:
    """The lines of a file whose lines end with LF only (no other character ends one); the last may lack it."""
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return parts


def parse_manifest(text: str, source: str) -> dict[str, str]:
    """Path -> digest from BagIt manifest text; ValueError naming ``source`` on malformed lines.

    RFC 8493 2.1.3: lines end with LF; the path is everything after the digest and one run of
    blanks, percent-decoded for %25, %0A and %0D only, never stripped.
    """
    result: dict[str, str] = {}
    for number, line in enumerate(lines(text), 1):
        if line == "":
            continue
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{source} line {number} is malformed")
        digest, path = match.group(1).lower(), decode_path(match.group(2))
        if path in result:
            raise ValueError(f"{source} lists {path} twice")
        result[path] = digest
    return result


def parse_jsonl(text: str, source: str) -> list[Any]:
    """The JSON values of a JSON Lines file (only "\\n" ends a line); ValueError naming ``source`` and the line."""
    values = []
    for number, line in enumerate(lines(text), 1):
        try:
            values.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{source} line {number} is not JSON ({exc})") from None
    return values
