"""Names inside a bundle, and how BagIt manifest lines encode file paths."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

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
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\]")


def new_bundle_id(now: datetime | None = None) -> str:
    """A fresh bundle id: ``BND-YYYYMMDD-<8 hex>``."""
    return f"BND-{(now or utc_now()):%Y%m%d}-{secrets.token_hex(4)}"


def is_bundle_id(text: str) -> bool:
    return bool(_BUNDLE_ID.match(text))


def payload_name(item_id: str, original_name: str) -> str:
    """``data/<item id>/<original file name>``, falling back to the id for unusable names."""
    name = original_name
    if not name or name in {".", ".."} or _UNSAFE_NAME.search(name) or len(name.encode()) > 200:
        name = item_id
    return f"data/{item_id}/{name}"


def encode_path(path: str) -> str:
    """RFC 8493 section 2.1.3: percent-encode '%', CR and LF in manifest paths."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(path: str) -> str:
    return path.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace("%25", "%")


def manifest_text(entries: list[tuple[str, str]]) -> str:
    """Manifest lines ``<digest>  <path>`` in path order."""
    return "".join(f"{digest}  {encode_path(path)}\n" for path, digest in sorted(entries))


def parse_manifest(text: str, source: str) -> dict[str, str]:
    """Path -> digest from manifest text; ValueError naming ``source`` on malformed lines."""
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{source} line {number} is malformed")
        digest, path = parts[0].lower(), decode_path(parts[1].strip())
        if path in result:
            raise ValueError(f"{source} lists {path} twice")
        result[path] = digest
    return result
