"""Rendering results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

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


def finish(result: _Result, json_: bool, said: str, problems: list[str]) -> NoReturn:
    """End a command that may partly fail: its JSON, or ``said`` and a warning per problem; exit 1 on any problem."""
    import typer

    if json_:
        print_json(result.to_json())
    else:
        out.print(said, markup=False, highlight=False)
        for problem in problems:
            warn(problem)
    raise typer.Exit(1 if problems else 0)


def styled(markup: str) -> Any:
    """A table cell whose rich markup (colours) is meant: every other cell is shown as the text it is."""
    from rich.text import Text

    return Text.from_markup(markup)


def cell(value: Any) -> Any:
    """A table cell for people: data never acts as markup, control characters are shown escaped."""
    from rich.markup import escape
    from rich.text import Text

    from custody.humanize import printable

    if value is None:
        return ""
    if isinstance(value, Text):
        return value
    return escape(printable(str(value)))


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A plain rich table; cells are data (``cell``) unless made with ``styled``."""
    from rich.table import Table

    t = Table(title=None if title is None else cell(title), show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*[cell(v) for v in row])
    out.print(t)


def short(digest: str, n: int = 16) -> str:
    return digest[:n] + "…" if len(digest) > n else digest


def warn(message: str) -> None:
    """Something the user must know about a command that nevertheless completed."""
    err.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def names_and_zone(archive: Any, key_ids: bool = False) -> tuple[dict[str, str], Any]:
    """Key id -> actor name (with ``key_ids``: ``name (key 3f2a9c01b7d4…)``), and the configured time zone."""
    from custody.actors import list_actors
    from custody.humanize import zone

    names = {a.key_id: a.name for a in list_actors(archive)}
    if key_ids:
        names = {k: f"{n} (key {k[:12]}…)" for k, n in names.items()}
    return names, zone(archive.config.timezone)
