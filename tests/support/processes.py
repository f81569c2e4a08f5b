"""What became of the processes a test's code forked."""

from __future__ import annotations

import os
from pathlib import Path


def reaped(pid: int) -> bool:
    """True once ``pid``, a child of this process, has ended and been waited for."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def children() -> set[int]:
    """This process's child processes (Linux lists them in /proc; elsewhere, none are known)."""
    found: set[int] = set()
    for listing in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        found.update(map(int, listing.read_text().split()))
    return found
