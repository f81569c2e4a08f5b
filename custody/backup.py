"""Key backup for an offline recovery holder: an actor's key files, age-encrypted to the holder's key.

The backup holds the key files exactly as stored (each still encrypted under the actor's passphrase),
wrapped once more with age (X25519) for the recipients named. Restoring needs the recovery holder's
age identity, and using the restored keys still needs the actor's passphrase. Format: age ciphertext
of JSON {"format": "custody-key-backup/1", "archive_id", "actor", "key_id", "signing", "archive"}
where "signing"/"archive" are the texts of keys/NAME.signing.pem and keys/NAME.archive.pem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import keys
from .age import age_identities, age_recipients
from .archive import Archive, actor_state, archive_key_path, signing_key_path
from .errors import InputError, KeyFileError

FORMAT = "custody-key-backup/1"


@dataclass(frozen=True)
class Restored:
    """What ``restore`` put back."""

    actor: str
    key_id: str
    files: tuple[Path, ...]


def backup(archive: Archive, name: str, recipients: Sequence[str], out: Path) -> str:
    """Write ``name``'s key files, age-encrypted to ``recipients``, to ``out`` (0600, never overwritten).

    Returns the backed-up signing key's id. KeyFileError if this machine does not hold the key files.

    Raises:
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        ActorError: no such actor.
        InputError: no or a bad --recipient, or an --out that exists or cannot be written.
    """
    import pyrage

    if not recipients:
        raise InputError("name at least one --recipient (the recovery holder's age1... public key)")
    wanted = age_recipients(recipients)
    cfg = archive.config
    with archive.db.read() as session:
        state = actor_state(session, archive.actor(session, name))
    texts = {}
    for label, path in (("signing", signing_key_path(cfg, name)), ("archive", archive_key_path(cfg, name))):
        try:
            texts[label] = path.read_text("ascii")
        except (OSError, UnicodeDecodeError):
            raise KeyFileError(f"cannot read {path}: this machine does not hold {name}'s key files") from None
    doc = {"format": FORMAT, "archive_id": cfg.archive_id, "actor": name, "key_id": state.key_id, **texts}
    sealed = pyrage.encrypt(json.dumps(doc, sort_keys=True).encode(), wanted)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{out} already exists; choose another file name") from None
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(sealed)
    return state.key_id


def restore(archive: Archive, source: Path, identity: Path) -> Restored:
    """Put back the key files of a backup made for this archive, if they hold the actor's current key.

    Refuses a backup of another archive, of a revoked actor, or of a key since rotated; existing key
    files are kept aside as ``*.replaced-<time>.pem`` rather than overwritten.

    Raises:
        InputError: an unreadable backup or identity file, or a backup of another archive, a revoked actor or a
            rotated key.
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
    """
    import pyrage

    identities = age_identities(identity)
    try:
        doc = json.loads(pyrage.decrypt(source.read_bytes(), identities))
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from None
    except pyrage.DecryptError:
        raise InputError(f"{source}: the identity in {identity} cannot decrypt this backup") from None
    except ValueError:
        raise InputError(f"{source}: not a custody key backup") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{source}: not a custody key backup")
    cfg = archive.config
    name = str(doc.get("actor"))
    if doc.get("archive_id") != cfg.archive_id:
        raise InputError(f"{source}: a backup of another archive ({doc.get('archive_id')}); nothing was restored")
    with archive.db.read() as session:
        state = actor_state(session, archive.actor(session, name))
    if state.revoked_seq is not None:
        raise InputError(f"{name} was revoked at event {state.revoked_seq}; a backup of the key is of no use")
    if state.key_id != doc.get("key_id"):
        raise InputError(f"{source} holds a key of {name} that was since rotated; nothing was restored")
    stamp = keys.b64(os.urandom(3)).replace("/", "_").replace("+", "-")
    written = []
    keys.ensure_private_dir(cfg.keys_dir)
    for label, path in (("signing", signing_key_path(cfg, name)), ("archive", archive_key_path(cfg, name))):
        if path.exists():
            path.replace(path.with_name(f"{path.stem}.replaced-{stamp}.pem"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(str(doc[label]))
        written.append(path)
    return Restored(name, state.key_id, tuple(written))
