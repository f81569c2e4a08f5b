"""Progress of long byte-moving work (export, verify, verify-bundle, import, get), for whoever shows it.

The library prints nothing: it announces a phase with the bytes it will move (``begin``) and reports
bytes as they pass (``advance``). The CLI installs a sink (``reporting``) that draws a progress bar on
a terminal; without one, both calls do nothing. One sink per process: a command runs alone in its
process (the warm command server forks a child per command), and worker threads report to it too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Sink(Protocol):
    def begin(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


_lock = threading.Lock()
_sink: Sink | None = None


def begin(label: str, total: int | None) -> None:
    """A phase starts: ``label`` in words, ``total`` bytes to move (None if unknown)."""
    sink = _sink
    if sink is not None:
        sink.begin(label, total)


def advance(n: int) -> None:
    """``n`` more bytes of the current phase were moved or checked."""
    sink = _sink
    if sink is not None and n:
        sink.advance(n)


@contextmanager
def reporting(sink: Sink | None) -> Iterator[None]:
    """Send this process's progress to ``sink`` (None: nowhere) while the block runs."""
    global _sink
    with _lock:
        previous, _sink = _sink, sink
    try:
        yield
    finally:
        with _lock:
            _sink = previous
