"""The one exception hierarchy of custody.

Every error carries a one-line, user-facing message that names the file, item or
event at fault and says what to do. The CLI prints ``str(error)`` and exits with
``error.exit_code``; a traceback means a bug, never bad input.
"""

from __future__ import annotations


class CustodyError(Exception):
    """Base of every expected failure; ``str()`` is the message shown to the user."""

    exit_code = 2


class ConfigError(CustodyError):
    """The archive folder or its configuration is missing, invalid or already present."""


class ArchiveExistsError(ConfigError):
    """``init`` was pointed at a folder that already holds an archive."""


class NoArchiveError(ConfigError):
    """No archive could be found where one was expected."""


class KeyFileError(CustodyError):
    """A key file is missing, unreadable or cannot be decrypted."""


class WrongPassphraseError(KeyFileError):
    """The passphrase does not decrypt the actor's private key."""


class ActorError(CustodyError):
    """An actor is unknown, already exists, or is named wrongly."""


class PermissionDeniedError(CustodyError):
    """The acting actor lacks the role for the action (the refusal is logged)."""

    exit_code = 3


class InputError(CustodyError):
    """A path given by the user cannot be ingested as asked (missing, directory, symlink...)."""


class ItemNotFoundError(CustodyError):
    """An item id does not exist in the archive."""


class EventNotFoundError(CustodyError):
    """An event sequence number does not exist in the log."""


class StoreError(CustodyError):
    """The blob store failed to read or write evidence bytes."""


class WorkerLostError(StoreError):
    """A worker process storing or re-hashing blobs ended before it answered."""


class IntegrityError(CustodyError):
    """Stored bytes, a record, a signature or the log do not match what was recorded."""

    exit_code = 1


class ProofError(CustodyError):
    """A Merkle proof, checkpoint or signed note is malformed or does not verify."""

    exit_code = 1


class BundleError(CustodyError):
    """An evidence bundle is malformed, hostile, or fails verification."""

    exit_code = 1


class TimestampError(CustodyError):
    """An RFC 3161 time-stamp authority could not be reached or its token is invalid."""
