"""Rendering results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: importing rich is a noticeable share of a command's start-up."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.console.print(*objects, **kwargs)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


class _Result(Protocol):
    def to_json(self) -> Any: ...


def done(result: _Result, json_: bool, message: str) -> None:
    """End a command that recorded something: its JSON record with ``--json``, else one line for people."""
    if json_:
        print_json(result.to_json())
    else:
        out.print(message)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A plain rich table."""
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    out.print(t)


def short(digest: str, n: int = 16) -> str:
    return digest[:n] + "…" if len(digest) > n else digest


def warn(message: str) -> None:
    """Something the user must know about a command that nevertheless completed."""
    err.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def names_and_zone(archive: Any) -> tuple[dict[str, str], Any]:
    """Key id -> actor name, and the archive's configured time zone (or None), for human output."""
    from custody.actors import list_actors
    from custody.humanize import zone

    return {a.key_id: a.name for a in list_actors(archive)}, zone(archive.config.timezone)
