"""Progress bars on a terminal (rich): bytes, speed and time left, for export, verify, verify-bundle, import, get.

Drawn only when standard output and standard error are both a terminal and the command was not asked
for JSON: a script, a pipe or ``--json`` never sees one. The bar is transient (it vanishes when the
command ends) and goes to standard error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from custody import progress

from .render import err

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def wanted(json_: bool) -> bool:
    """True when a bar may be drawn: a person is watching a terminal and no JSON was asked for."""
    return not json_ and sys.stdout.isatty() and sys.stderr.isatty()


class _Bar:
    """A rich Progress started at the first phase (never before: a command may fork its workers first)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def begin(self, label: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err.console,
                transient=True,
            )
            self._progress.start()
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def bars(json_: bool = False) -> Iterator[None]:
    """Show the library's progress (custody.progress) as a bar while the block runs, when ``wanted``."""
    if not wanted(json_):
        yield
        return
    bar = _Bar()
    try:
        with progress.reporting(bar):
            yield
    finally:
        bar.stop()
