"""The warm command server that ``custody unlock`` starts beside the key agent.

It imports custody's whole stack once, then forks one child per command that ``cli.forward`` hands
it, so an everyday command does not pay the import of SQLAlchemy, rich and custody's modules (most of
its time). The child takes over the client's standard streams, working folder, environment and umask
and runs the command exactly as ``custody`` would (``cli.app.main``); it signs through the key agent
like any other command. The server holds no key and never runs a command itself.

Same trust as the key agent: a 0600 socket in the user's 0700 folder, and only peers of the same uid
(SO_PEERCRED) are served. It ends with the agent (the agent's socket gone), at its deadline, or when its own socket is
removed (``custody lock``).
Forking is safe only from a process with one thread: the server checks that after importing and
refuses to start otherwise. Once custody's source files change (an upgrade), it ends instead of running
old code: the commands then load the new code themselves.
"""

from __future__ import annotations

import array
import contextlib
import gc
import importlib
import io
import json
import os
import pkgutil
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from custody.agent_paths import accept_same_user, listen_private, start_detached
from custody.errors import KeyFileError

_LIMIT = 1 << 20  # a request beyond 1 MiB (argv + environment) is not one custody sends
# This module's and the CLI package's names, whatever the distribution calls the package (also under -m).
_MODULE = __spec__.name if __spec__ is not None else __name__
_CLI = _MODULE.rpartition(".")[0]
_SKIP = ("custody.bundle.standalone", _MODULE, f"{_CLI}.forward")


def start(path: Path, agent_path: Path, seconds: int) -> None:
    """Start a detached command server at ``path`` for ``seconds``; returns once it listens.

    Raises KeyFileError if it does not start (the commands then simply run without it).
    """
    path.unlink(missing_ok=True)
    if not start_detached([sys.executable, "-m", _MODULE, str(path), str(agent_path), str(seconds)]):
        raise KeyFileError(f"the command server did not start at {path}")


def stop(path: Path) -> None:
    """End the command server at ``path``: without its socket it takes no command and ends within a second.

    It also ends by itself once the key agent has.
    """
    path.unlink(missing_ok=True)


def _preload() -> None:
    """Import every module of custody and of the CLI, and build the CLI's command once."""
    import custody

    cli = importlib.import_module(_CLI)
    app = importlib.import_module(f"{_CLI}.app")
    for package in (custody, cli):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name.startswith(_SKIP):
                continue
            try:
                importlib.import_module(module.name)
            except ImportError:
                continue  # an optional extra that is not installed: that command imports it itself
    app.click_command()


def _sources() -> dict[str, tuple[int, int]]:
    """(mtime, size) of the source file of every custody and CLI module loaded."""
    found: dict[str, tuple[int, int]] = {}
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if source and (name == "custody" or name.startswith(("custody.", f"{_CLI}.")) or name == _CLI):
            try:
                info = os.stat(source)
            except OSError:
                continue
            found[source] = (info.st_mtime_ns, info.st_size)
    return found


def _changed(loaded: dict[str, tuple[int, int]]) -> bool:
    """True if custody was upgraded or edited since the server loaded it: its code is no longer current."""
    for source, seen in loaded.items():
        try:
            info = os.stat(source)
        except OSError:
            return True
        if (info.st_mtime_ns, info.st_size) != seen:
            return True
    return False


def serve(path: Path, agent_path: Path, seconds: int) -> int:
    _preload()
    loaded = _sources()
    if threading.active_count() != 1:
        return 1  # a library started a thread while importing: forking would not be safe
    gc.collect()
    gc.freeze()  # keep the imported objects' pages shared with the children
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    deadline = time.monotonic() + seconds
    server = listen_private(path, 16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while agent_path.exists() and path.exists() and (left := deadline - time.monotonic()) > 0:
            conn = accept_same_user(server, left)
            if conn is None:
                continue
            if not _agent_answers(agent_path) or _changed(loaded):
                # The client runs the command itself: with the passphrase, or with custody's new code.
                conn.close()
                break
            if os.fork() == 0:
                server.close()
                os._exit(_child(conn))
            conn.close()
    finally:
        path.unlink(missing_ok=True)
    return 0


def _agent_answers(agent_path: Path) -> bool:
    """True if the key agent still accepts connections (a killed agent leaves its socket file behind)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            probe.connect(str(agent_path))
    except OSError:
        return False
    return True


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request line and the three file descriptors sent with it."""
    conn.settimeout(5)
    fds = array.array("i")
    data, ancillary, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk or len(data) > _LIMIT:
            raise OSError("incomplete request")
        data += chunk
    request = json.loads(data)
    if not isinstance(request, dict):
        raise ValueError("request is not an object")
    return request, list(fds)


def _stream(fd: int, mode: str, spec: Any, line_buffering: bool) -> TextIO:
    spec = spec if isinstance(spec, dict) else {}
    raw = io.FileIO(fd, mode, closefd=False)
    binary: io.BufferedReader | io.BufferedWriter = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary,
        encoding=spec.get("encoding") or "utf-8",
        errors=spec.get("errors") or "strict",
        line_buffering=line_buffering,
    )


def _child(conn: socket.socket) -> int:
    """Run one command in this forked child as the client would have run it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the command's own subprocesses are waited for
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    try:
        request, fds = _receive(conn)
        if len(fds) != 3:
            return 1
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        os.umask(int(request["umask"]))
        time.tzset()  # the client's TZ, not the server's
        argv = [str(a) for a in request["argv"]]
    except (OSError, ValueError, KeyError, TypeError):
        return 1  # nothing was started: the client runs the command itself
    stdio = request.get("stdio") or {}
    sys.stdin = _stream(0, "r", stdio.get("stdin"), False)
    sys.stdout = _stream(1, "w", stdio.get("stdout"), os.isatty(1))
    sys.stderr = _stream(2, "w", stdio.get("stderr"), True)
    sys.argv = ["custody", *argv]
    conn.settimeout(None)
    conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    main = importlib.import_module(f"{_CLI}.app").main
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    return 0


def main(argv: list[str]) -> int:
    return serve(Path(argv[0]), Path(argv[1]), int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
