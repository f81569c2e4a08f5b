"""``custody unlock``: the actor's keys, checked against the log, handed to a new unlock agent (custody.agent)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .agent import socket_path, start
from .archive import Acting


def unlock(acting: Acting, seconds: int) -> Path:
    """Decrypt ``acting``'s keys from their files (checked against the log) and hand them to a new agent.

    Any agent already running for this actor and archive is stopped first. Returns the socket path.

    Raises:
        KeyFileError: a key file is unreadable or damaged; WrongPassphraseError: its passphrase is wrong.
        KeyFileError: also when the agent's private socket folder is not the user's, or the agent did not start.
    """
    acting.use_key_files()
    acting.unlock()
    signing, archive = acting.signer.private_key, acting.archive_signer.private_key
    assert isinstance(signing, Ed25519PrivateKey) and isinstance(archive, Ed25519PrivateKey)
    path = socket_path(acting.archive.config.root, acting.name)
    start(path, signing, archive, seconds)
    return path
