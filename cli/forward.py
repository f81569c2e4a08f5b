"""The fast path: hand a command to the warm command server of the user's unlock agent.

Importing custody's stack costs a command most of its time (SQLAlchemy alone about 0.3 s here); the
unlock agent already makes the passphrase unnecessary, so ``custody unlock`` also starts a command
server (``cli.server``) that has everything imported and forks one child per command. This module
decides, with the standard library only, whether to use it.

A command is forwarded only when all hold: it is one of ``FORWARDED`` (commands that never ask for a
passphrase while the agent holds the keys), the global options name the archive and actor plainly, and
both the key agent's and the command server's sockets exist in the user's private folder. Anything
else, including any failure before the server confirms it started the command, runs in this process
as before.

Protocol on the Unix socket, one JSON object per line: the client sends ``{"argv", "cwd", "env",
"umask", "stdio"}`` with its standard input, output and error passed as file descriptors
(SCM_RIGHTS), so the command reads and writes the user's own terminal or pipes; the child answers
``{"pid": N}`` when it starts and ``{"exit": code}`` when it ends. Ctrl-C, SIGTERM and SIGHUP at the
client are passed on to the child.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from custody.agent_paths import command_socket_path, folder_is_private, same_user, socket_path

FORWARDED = frozenset(
    {
        "show", "list", "search", "cases", "log", "status", "annotate", "prove", "get", "export",
        "checkpoint", "verify", "verify-bundle", "report",
    }
)  # fmt: skip
_CONFIG_NAME = "custody.toml"  # custody.config.CONFIG_NAME, not imported: that module is not light
_PASSED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _target(argv: list[str]) -> tuple[str | None, str | None, str] | None:
    """(--archive, --as, command) from the global options before the command; None when unusual."""
    values: dict[str, str | None] = {"--archive": None, "--as": None}
    i = 0
    while i < len(argv):
        word = argv[i]
        name, equals, value = word.partition("=")
        if name in values:
            if not equals:
                if i + 1 >= len(argv):
                    return None
                value = argv[i + 1]
                i += 1
            values[name] = value
        elif word.startswith("-"):
            return None  # --help, --version, completion: nothing to gain
        else:
            return values["--archive"], values["--as"], word
        i += 1
    return None


def _archive_root(explicit: str | None) -> Path | None:
    """The archive folder as custody.config.find_archive chooses it; None when it would fail."""
    chosen = explicit or os.environ.get("CUSTODY_ARCHIVE")
    if chosen:
        return Path(chosen).expanduser().resolve()
    cwd = Path.cwd()
    return cwd if (cwd / _CONFIG_NAME).is_file() else None


def _actor(explicit: str | None) -> str:
    named = explicit or os.environ.get("CUSTODY_ACTOR")
    if named:
        return named
    import getpass

    return getpass.getuser()


def _server(argv: list[str]) -> Path | None:
    """The command server's socket if this command may go there."""
    target = _target(argv)
    if target is None or target[2] not in FORWARDED:
        return None
    try:
        root = _archive_root(target[0])
        if root is None:
            return None
        actor = _actor(target[1])
        path = command_socket_path(root, actor)
        if not folder_is_private(path.parent) or not socket_path(root, actor).exists() or not path.exists():
            return None
    except (OSError, KeyError, RuntimeError, ValueError):
        return None
    return path


def _request(argv: list[str]) -> bytes:
    umask = os.umask(0o022)
    os.umask(umask)
    stdio = {
        name: {"encoding": getattr(stream, "encoding", None), "errors": getattr(stream, "errors", None)}
        for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
    }
    message = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask, "stdio": stdio}
    return json.dumps(message).encode() + b"\n"


class _Lines:
    """Lines read from the server connection."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = b""

    def next(self) -> dict[str, object] | None:
        while b"\n" not in self._buffer:
            try:
                chunk = self._conn.recv(4096)
            except InterruptedError:
                continue
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line)
        return answer if isinstance(answer, dict) else None


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` in the warm command server and return its exit code; None to run it here instead."""
    path = _server(argv)
    if path is None:
        return None
    child: list[int] = []
    caught: list[int] = []

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)
        if child:
            with contextlib.suppress(OSError):
                os.kill(child[0], signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in _PASSED_SIGNALS}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        started = _start(conn, path, argv)
    except (OSError, ValueError):
        started = None
    if started is None:
        conn.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            sys.stderr.write("custody: interrupted; nothing was done\n")
            return 128 + caught[-1]
        return None  # the server did not start it: run it here
    child.append(started[1])
    for pending in caught:  # arrived while the command was being started
        with contextlib.suppress(OSError):
            os.kill(child[0], pending)
    return _wait(conn, started[0], caught)


def _start(conn: socket.socket, path: Path, argv: list[str]) -> tuple[_Lines, int] | None:
    """Send the command with this process's standard streams; the child's pid once it runs."""
    for fd in (0, 1, 2):
        os.fstat(fd)
    conn.settimeout(2)
    conn.connect(str(path))
    if not same_user(conn):
        return None
    request = _request(argv)
    fds = array.array("i", [0, 1, 2])
    sent = conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    conn.sendall(request[sent:])
    conn.settimeout(30)
    lines = _Lines(conn)
    started = lines.next()
    if started is None or not isinstance(started.get("pid"), int):
        return None
    return lines, int(str(started["pid"]))


def _wait(conn: socket.socket, lines: _Lines, caught: list[int]) -> int:
    """The command's exit code, once its process reports it."""
    conn.settimeout(None)
    try:
        ended = lines.next()
    except (OSError, ValueError):
        ended = None
    finally:
        conn.close()
    if ended is not None and isinstance(ended.get("exit"), int):
        return int(str(ended["exit"]))
    if caught:
        return 128 + caught[-1]
    sys.stderr.write(
        "custody: the command ended without reporting its outcome; run 'custody status' to see its state\n"
    )
    return 1
