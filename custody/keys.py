"""Ed25519 keys: generation, key ids, passphrase-encrypted storage, signing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import KeyFileError, WrongPassphraseError


def generate() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Key id: SHA-256 of the raw public key, lowercase hex."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM, as openssl and other stock tools read it."""
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def load_public_pem(pem: str | bytes, what: str) -> Ed25519PublicKey:
    """Parse a PEM public key; KeyFileError naming ``what`` if it is not Ed25519."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{what}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{what}: not an Ed25519 public key")
    return key


def save_private(path: Path, key: Ed25519PrivateKey, passphrase: str) -> None:
    """Write a private key as passphrase-encrypted PKCS#8 PEM, readable by the owner only."""
    if not passphrase:
        raise KeyFileError(f"{path}: an empty passphrase is not allowed; choose one")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_private(path: Path, passphrase: str, owner: str) -> Ed25519PrivateKey:
    """Decrypt a private key file; WrongPassphraseError naming ``owner`` if it does not open."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no private key for {owner} at {path}; this machine does not hold {owner}'s key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode("utf-8"))
    except (ValueError, TypeError):
        raise WrongPassphraseError(f"wrong passphrase for {owner}'s key ({path}); check CUSTODY_PASSPHRASE") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return key


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``data``."""
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64; ValueError on malformed input."""
    # strict_mode refuses what b64decode(validate=True) refuses, without its regular expression:
    # a full verification decodes a million signatures.
    return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)


@dataclass(frozen=True)
class Signer:
    """An unlocked private key and the name of whoever holds it."""

    name: str
    private_key: Ed25519PrivateKey

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def key_id(self) -> str:
        # Asked for by every record and event a batch signs.
        return key_id(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature over ``data``."""
        return self.private_key.sign(data)
