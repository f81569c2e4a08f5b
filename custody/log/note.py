"""C2SP signed notes and tlog checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

Only Ed25519 (signature type 0x01) keys are supported; signature lines from any
other key are skipped, as the signed-note spec requires of verifiers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import InputError, ProofError
from ..keys import SigningKey

_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_SIGNATURES = 100  # the spec requires accepting at least 16; more is a hostile note
_MAX_TREE_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # the spec bans controls below U+0020 except newline


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProofError(f"{what} is not valid base64") from None


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProofError(f"{what} is not valid UTF-8") from None
    if _CONTROL.search(text):
        raise ProofError(f"{what} contains a control character (Windows line endings?); use plain '\\n' lines")


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise ProofError(f"key name {name!r} must be non-empty and contain no spaces or '+'")


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line:
                raise ProofError(f"checkpoint line {line!r} must be non-empty and a single line")
            _check_text(line, "checkpoint line")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise ProofError(f"checkpoint tree size {self.size} is out of range")
        if len(self.root) != 32:
            raise ProofError(f"checkpoint root hash is {len(self.root)} bytes, not a 32-byte SHA-256")

    def body(self) -> str:
        """The checkpoint note text: origin, size and base64 root lines, then extensions."""
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), _b64(self.root), *self.extensions))


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse checkpoint note text strictly; ProofError if malformed."""
    if not body.endswith("\n"):
        raise ProofError("checkpoint text does not end with a newline; it is truncated or not a checkpoint")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ProofError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_TREE_SIZE:
        raise ProofError(f"checkpoint tree size {size_text!r} is not a decimal number without leading zeros")
    return Checkpoint(origin, int(size_text), _unb64(root_text, "checkpoint root hash"), tuple(extensions))


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ALG_ED25519 + _raw(public_key)).digest()[:4]


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """Verifier key text: name+hex(key ID)+base64(0x01 || public key)."""
    _check_name(name)
    return f"{name}+{key_hash(name, public_key).hex()}+{_b64(_ALG_ED25519 + _raw(public_key))}"


def parse_vkey(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Split and check a verifier key; returns (name, key ID, public key)."""
    parts = text.split("+", 2)
    if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
        raise ProofError(f"verifier key {text!r} does not have the form name+8-hex-digit-id+base64-key")
    name, id_hex, key_b64 = parts
    _check_name(name)
    key_bytes = _unb64(key_b64, f"verifier key {name!r}")
    if len(key_bytes) != 33 or key_bytes[:1] != _ALG_ED25519:
        raise ProofError(f"verifier key {name!r} is not an Ed25519 (type 0x01) key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(key_bytes[1:])
    except ValueError:
        raise ProofError(f"verifier key {name!r} is not a valid Ed25519 public key") from None
    if key_hash(name, public_key) != bytes.fromhex(id_hex):
        raise ProofError(f"verifier key {name!r}: its key ID does not match its name and key; the key is corrupt")
    return name, bytes.fromhex(id_hex), public_key


def sign_note(text: str, name: str, private_key: SigningKey) -> str:
    """Sign ``text`` (non-empty, ending in a newline) and return the note with one signature line."""
    _check_name(name)
    if not text.endswith("\n"):
        raise ProofError("note text must end with a newline")
    _check_text(text, "note text")
    blob = key_hash(name, private_key.public_key()) + private_key.sign(text.encode("utf-8"))
    return f"{text}\n{_SIG_PREFIX}{name} {_b64(blob)}\n"


def add_signature(note: str, name: str, private_key: SigningKey) -> str:
    """Append one more signature line (a cosignature by ``name``) to a well-formed signed note."""
    _check_name(name)
    text, _ = _split_note(note)
    blob = key_hash(name, private_key.public_key()) + private_key.sign(text.encode("utf-8"))
    return f"{note}{_SIG_PREFIX}{name} {_b64(blob)}\n"


def signature_lines(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The signed text and every (name, 4-byte key hash || signature) of a well-formed note; ProofError if not."""
    return _split_note(note)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Text and (name, key ID || signature) pairs of a well-formed note."""
    _check_text(note, "signed note")
    split = note.rfind("\n\n")
    if split < 0:
        raise ProofError("signed note has no blank line between its text and its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise ProofError("signed note does not end with a signature line and a newline; it is truncated")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise ProofError(f"signed note has {len(lines)} signature lines; at most {_MAX_SIGNATURES} are accepted")
    signatures = []
    for line in lines:
        fields = line.removeprefix(_SIG_PREFIX).split(" ")
        if not line.startswith(_SIG_PREFIX) or len(fields) != 2 or not _valid_name(fields[0]):
            raise ProofError(f"signed note has a malformed signature line {line[:60]!r}")
        blob = _unb64(fields[1], f"signature by {fields[0]!r}")
        if len(blob) < 5:
            raise ProofError(f"signature by {fields[0]!r} is too short to hold a key ID and a signature")
        signatures.append((fields[0], blob))
    return text, signatures


def open_note(note: str, verifier_key: str) -> str:
    """Verify that ``note`` is well formed and signed by ``verifier_key``; return its text."""
    name, wanted_id, public_key = parse_vkey(verifier_key)
    text, signatures = _split_note(note)
    found = False
    for line_name, blob in signatures:
        if line_name != name or blob[:4] != wanted_id:
            continue  # another signer, e.g. a witness cosignature
        try:
            public_key.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ProofError(f"the signature by {name} on this note is invalid; the note was altered") from None
        found = True
    if not found:
        raise ProofError(f"the note carries no signature by the key {name}+{wanted_id.hex()}")
    return text


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """Verify a checkpoint note and parse it; its origin must be the signing key's name."""
    text = open_note(note, verifier_key)
    checkpoint = parse_checkpoint(text)
    name = verifier_key.split("+", 1)[0]
    if checkpoint.origin != name:
        raise ProofError(
            f"checkpoint origin {checkpoint.origin!r} is not the log {name!r} whose key signed it; "
            "it belongs to another log"
        )
    return checkpoint


def read_note_file(path: Path) -> str:
    """Read a checkpoint note a user kept, with a clear error if unreadable.

    Raises:
        InputError: the file cannot be read or is not a signed note.
    """
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read checkpoint note ({exc}); check the path") from None


def read_vkey_file(path: Path) -> str:
    """A verifier key kept in a file (as ``custody checkpoint --vkey`` prints it), checked for form.

    Raises InputError if the file is unreadable or holds no well-formed vkey.
    """
    try:
        text = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the verifier key ({exc})") from None
    try:
        parse_vkey(text)
    except ProofError as exc:
        raise InputError(f"{path}: {exc}; pass the line 'custody checkpoint --vkey' printed") from None
    return text
