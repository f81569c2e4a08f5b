"""Ed25519 keys: generation, key ids, passphrase-encrypted storage, signing."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import KeyFileError, WrongPassphraseError
from .fileutil import atomic_write


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


@dataclass(frozen=True)
class KdfCost:
    """scrypt parameters of a key file: N (CPU/memory cost, a power of 2), r (block size), p (parallelism)."""

    n: int
    r: int
    p: int

    def weaker_than(self, other: KdfCost) -> bool:
        return (self.n * self.r * self.p) < (other.n * other.r * other.p)


PRODUCTION_KDF = KdfCost(n=2**16, r=8, p=2)
"""64 MiB and about 0.5 s per passphrase guess on a current laptop core (benchmarks/keys.py): p=2 doubles
the work without doubling the memory, so a command that signs stays within its memory budget."""

KDF = PRODUCTION_KDF
"""The cost new key files get. Only tests lower it (tests/conftest.py, a fixture that says so); every
key file records its own parameters, and a file weaker than PRODUCTION_KDF is re-encrypted at this
cost when next opened, so a lowered value never goes unnoticed in a real archive."""

KEY_FORMAT = "custody-key/1"
_MAX_N = 2**22  # a hostile key file must not make us allocate gigabytes


@dataclass(frozen=True)
class PassphrasePolicy:
    """The minimum a new passphrase must meet: length, and a zxcvbn score (0 = guessable .. 4 = strong)."""

    min_length: int = 12
    min_score: int = 3


POLICY = PassphrasePolicy()
"""What ``check_passphrase`` requires; ``custody config set keys.min_length / keys.min_score`` override it."""


def policy_of(min_length: int | None, min_score: int | None) -> PassphrasePolicy:
    """The archive's passphrase policy: its ``keys.*`` settings (None: not set) over ``POLICY``."""
    return PassphrasePolicy(
        POLICY.min_length if min_length is None else min_length, POLICY.min_score if min_score is None else min_score
    )


def check_passphrase(passphrase: str, owner: str, policy: PassphrasePolicy | None = None) -> None:
    """KeyFileError saying why ``passphrase`` is too weak for ``owner``'s new key (length, zxcvbn score)."""
    rule = policy or POLICY
    if len(passphrase) < rule.min_length:
        raise KeyFileError(
            f"the new passphrase for {owner} has {len(passphrase)} characters; at least {rule.min_length} are "
            "required (a few unrelated words make a strong one). Nothing was changed"
        )
    if rule.min_score <= 0:
        return
    from zxcvbn import zxcvbn

    verdict = zxcvbn(passphrase[:100], user_inputs=[owner])
    if int(verdict["score"]) < rule.min_score:
        hint = " ".join(verdict.get("feedback", {}).get("suggestions", [])[:1])
        raise KeyFileError(
            f"the new passphrase for {owner} is too easy to guess (strength {verdict['score']} of 4, "
            f"{rule.min_score} required). {hint} Nothing was changed".replace("  ", " ")
        )


def new_salt() -> bytes:
    """A fresh 16-byte scrypt salt, for key files written together (``save_private(salt=...)``)."""
    return os.urandom(16)


@functools.lru_cache(maxsize=4)
def _kek(passphrase: str, salt: bytes, cost: KdfCost) -> bytes:
    """The key-encryption key; remembered for the process, so an actor's two key files, which share a
    salt, cost one derivation (an attacker's guess tests both at once either way: same passphrase)."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=cost.n, r=cost.r, p=cost.p).derive(passphrase.encode("utf-8"))


def _header(cost: KdfCost, salt: bytes, nonce: bytes, public_id: str) -> dict[str, object]:
    return {
        "format": KEY_FORMAT,
        "kdf": {"name": "scrypt", "n": cost.n, "r": cost.r, "p": cost.p, "salt": b64(salt)},
        "cipher": {"name": "chacha20-poly1305", "nonce": b64(nonce)},
        "key_id": public_id,
    }


def save_private(
    path: Path, key: Ed25519PrivateKey, passphrase: str, cost: KdfCost | None = None, salt: bytes | None = None
) -> None:
    """Write a private key encrypted under ``passphrase`` (scrypt + ChaCha20-Poly1305), owner-only.

    The file is JSON: {format, kdf {name, n, r, p, salt}, cipher {name, nonce}, key_id, ciphertext};
    everything but ciphertext is authenticated as associated data. The folder is made 0700, the file 0600.
    An actor's signing key and archive key copy are written with one ``salt`` (``new_salt()``): a
    command opens both with one scrypt derivation. The nonce is always fresh.
    """
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if not passphrase:
        raise KeyFileError(f"{path}: an empty passphrase is not allowed; choose one")
    use = cost or KDF
    salt, nonce = salt or new_salt(), os.urandom(12)
    header = _header(use, salt, nonce, key_id(key.public_key()))
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    aad = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    sealed = ChaCha20Poly1305(_kek(passphrase, salt, use)).encrypt(nonce, raw, aad)
    text = json.dumps({**header, "ciphertext": b64(sealed)}, indent=1, sort_keys=True) + "\n"
    ensure_private_dir(path.parent)
    # Two processes may upgrade the same key file at once: each writes a temp file of its own.
    atomic_write(path, text.encode("ascii"), mode=0o600, durable=True)


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) and make it 0700: key files are nobody else's business."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def load_private(path: Path, passphrase: str, owner: str, source: str = "") -> Ed25519PrivateKey:
    """Decrypt a private key file; WrongPassphraseError naming ``owner`` if it does not open.

    KeyFileError if the file is missing, unreadable, damaged or not a custody key file. A file in the
    legacy PKCS#8 format, or encrypted more weakly than ``KDF`` (PRODUCTION_KDF outside tests), is
    re-encrypted at that cost once the passphrase opened it. ``source`` (e.g. " (from CUSTODY_PASSPHRASE)")
    says where the passphrase came from, for the message.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no private key for {owner} at {path}; this machine does not hold {owner}'s key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    wrong = f"wrong passphrase for {owner}'s key ({path}){source}"
    if data.lstrip().startswith(b"-----BEGIN"):
        key = _load_legacy(path, data, passphrase, wrong)
        save_private(path, key, passphrase)  # upgraded: scrypt instead of PBKDF2
        return key
    key, cost, salt = _load_json(path, data, passphrase, wrong)
    if cost.weaker_than(KDF):
        save_private(path, key, passphrase, salt=salt)  # the same salt: the pair stays one derivation
    return key


def _load_legacy(path: Path, data: bytes, passphrase: str, wrong: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode("utf-8"))
    except TypeError:
        raise KeyFileError(f"{path}: the private key in it is not encrypted; it is not a custody key file") from None
    except ValueError:
        raise WrongPassphraseError(f"{wrong}, or the old-format file is damaged") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key; it is not a custody key file")
    return key


def _load_json(path: Path, data: bytes, passphrase: str, wrong: str) -> tuple[Ed25519PrivateKey, KdfCost, bytes]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    damaged = f"{path} is damaged or not a custody key file; restore it from a backup ('custody actor restore')"
    try:
        doc = json.loads(data)
        if doc.get("format") != KEY_FORMAT or doc["kdf"]["name"] != "scrypt":
            raise KeyFileError(damaged)
        kdf, cipher = doc["kdf"], doc["cipher"]
        cost = KdfCost(int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        salt, nonce, sealed = unb64(kdf["salt"]), unb64(cipher["nonce"]), unb64(doc["ciphertext"])
        public_id = str(doc["key_id"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise KeyFileError(damaged) from None
    if not (1 < cost.n <= _MAX_N and cost.n & (cost.n - 1) == 0 and 0 < cost.r <= 32 and 0 < cost.p <= 16):
        raise KeyFileError(damaged)
    aad = json.dumps(_header(cost, salt, nonce, public_id), sort_keys=True, separators=(",", ":")).encode()
    try:
        raw = ChaCha20Poly1305(_kek(passphrase, salt, cost)).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise WrongPassphraseError(wrong) from None
    except ValueError:
        raise KeyFileError(damaged) from None
    key = Ed25519PrivateKey.from_private_bytes(raw)
    if key_id(key.public_key()) != public_id:
        raise KeyFileError(damaged)
    return key, cost, salt


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


class SigningKey(Protocol):
    """What signs: an Ed25519PrivateKey, or a key held by the unlock agent (custody.agent.AgentKey)."""

    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> Ed25519PublicKey: ...


@runtime_checkable
class BatchSigningKey(Protocol):
    """A key that signs many messages in one step (the unlock agent's: one round trip, not one each)."""

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]: ...


@dataclass(frozen=True)
class Signer:
    """An unlocked private key (in this process or in the unlock agent) and the name of whoever holds it."""

    name: str
    private_key: SigningKey

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

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        """Ed25519 signatures over each of ``messages``: one request where the unlock agent holds the key."""
        if isinstance(self.private_key, BatchSigningKey):
            return self.private_key.sign_many(messages)
        return [self.private_key.sign(data) for data in messages]
