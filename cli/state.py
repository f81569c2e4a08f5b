"""Options shared by every command and the passphrase prompts."""

from __future__ import annotations

import getpass
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from custody.errors import KeyFileError

if TYPE_CHECKING:
    from custody.archive import Acting, Archive


class _AskPassphrase:
    """``CUSTODY_PASSPHRASE``, else a hidden prompt on the terminal (custody.archive.Acting allows 3 tries).

    ``source`` says, for error messages, where the last passphrase came from; ``interactive`` whether
    asking again can help.
    """

    def __init__(self) -> None:
        self.source = ""
        self.interactive = False
        self._asked: dict[str, int] = {}

    def __call__(self, owner: str) -> str:
        env = os.environ.get("CUSTODY_PASSPHRASE")
        if env is not None:
            self.source, self.interactive = " (taken from CUSTODY_PASSPHRASE: check it)", False
            return env
        self.source, self.interactive = " (typed at the prompt)", True
        asked = self._asked[owner] = self._asked.get(owner, 0) + 1
        if asked > 1:
            print(f"Wrong passphrase for {owner}'s key; try again.", file=sys.stderr)
        return _prompt(f"Passphrase for {owner}'s key: ", owner, "CUSTODY_PASSPHRASE")


def _prompt(text: str, owner: str, variable: str) -> str:
    """A hidden prompt; KeyFileError (not a Python warning) when there is no terminal to ask on."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(text)
        except (EOFError, getpass.GetPassWarning):
            raise KeyFileError(
                f"no passphrase for {owner}: there is no terminal to ask on; set {variable} "
                "or run the command in a terminal"
            ) from None


ask_passphrase = _AskPassphrase()


def ask_old_passphrase(owner: str) -> str:
    """``CUSTODY_OLD_PASSPHRASE``, else a hidden prompt; "" (Enter) means the old key is not at hand."""
    env = os.environ.get("CUSTODY_OLD_PASSPHRASE")
    if env is not None:
        return env
    try:
        return _prompt(f"Passphrase of {owner}'s current key, to endorse the new one (Enter to skip): ", owner, "")
    except KeyFileError:
        return ""


def ask_new_passphrase(owner: str) -> str:
    """``CUSTODY_NEW_PASSPHRASE``, else a hidden prompt asked twice."""
    env = os.environ.get("CUSTODY_NEW_PASSPHRASE")
    if env is not None:
        return env
    first = _prompt(f"New passphrase for {owner}'s key: ", owner, "CUSTODY_NEW_PASSPHRASE")
    if _prompt("Repeat it: ", owner, "CUSTODY_NEW_PASSPHRASE") != first:
        raise KeyFileError(f"the two passphrases for {owner} differ; nothing was changed")
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
