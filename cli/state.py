"""Options shared by every command and the passphrase prompts."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from custody.errors import KeyFileError

if TYPE_CHECKING:
    from custody.archive import Acting, Archive


def ask_passphrase(owner: str) -> str:
    """``CUSTODY_PASSPHRASE``, else a hidden prompt."""
    env = os.environ.get("CUSTODY_PASSPHRASE")
    if env is not None:
        return env
    try:
        return getpass.getpass(f"Passphrase for {owner}'s key: ")
    except EOFError:
        raise KeyFileError(f"no passphrase for {owner}: set CUSTODY_PASSPHRASE or run interactively") from None


def ask_old_passphrase(owner: str) -> str:
    """``CUSTODY_OLD_PASSPHRASE``, else a hidden prompt; "" (Enter) means the old key is not at hand."""
    env = os.environ.get("CUSTODY_OLD_PASSPHRASE")
    if env is not None:
        return env
    try:
        return getpass.getpass(f"Passphrase of {owner}'s current key, to endorse the new one (Enter to skip): ")
    except EOFError:
        return ""


def ask_new_passphrase(owner: str) -> str:
    """``CUSTODY_NEW_PASSPHRASE``, else a hidden prompt asked twice."""
    env = os.environ.get("CUSTODY_NEW_PASSPHRASE")
    if env is not None:
        return env
    try:
        first = getpass.getpass(f"New passphrase for {owner}'s key: ")
        if getpass.getpass("Repeat it: ") != first:
            raise KeyFileError(f"the two passphrases for {owner} differ; nothing was created")
    except EOFError:
        raise KeyFileError(f"no passphrase for {owner}: set CUSTODY_NEW_PASSPHRASE or run interactively") from None
    return first


@dataclass
class State:
    """Global options: which archive, which actor."""

    archive_path: str | None = None
    actor: str | None = None
    opened: list[Archive] = field(default_factory=list)

    def reset(self) -> None:
        self.archive_path = None
        self.actor = None
        self.opened.clear()

    def notices(self) -> list[str]:
        """What the archives this command opened want the user to know."""
        return [n for a in self.opened for n in a.notices]

    def actor_name(self) -> str:
        named = self.actor or os.environ.get("CUSTODY_ACTOR")
        if named:
            return named
        from custody.initialise import default_actor

        return default_actor()

    def archive(self) -> Archive:
        from custody.archive import Archive
        from custody.config import find_archive

        archive = Archive.open(find_archive(self.archive_path))
        self.opened.append(archive)
        return archive

    def acting(self) -> Acting:
        return self.archive().act(self.actor_name(), ask_passphrase)


STATE = State()


def path_arg(text: str) -> Path:
    return Path(text).expanduser()
