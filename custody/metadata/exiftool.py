"""ExifTool, the field's reference metadata reader, kept running for a whole ingest (``-stay_open``).

A small adapter rather than PyExifTool (0.5.6, the current release): that wrapper has no
per-call timeout, spins for ever on a process that died mid-answer (its read loop never sees
end of file), and starts the process through ``preexec_fn``, which is unsafe in a process that
runs threads, as ingest does. Here every answer is awaited with a deadline; a process that
overruns is killed and the file flagged, and the next file gets a fresh process.

Lifetime: one process per ingest and per OS process (a forked store worker starts its own),
shared by the store threads in turn. ``close_all`` ends it at the end of an ingest. ExifTool
does not exit when its argument pipe closes (it polls it), so it is started under
``setpriv --pdeathsig KILL``: when the thread that started it ends (the end of a store worker,
a crash, a kill), the kernel kills it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path

TIMEOUT_S = 60.0
_VERSION_TIMEOUT_S = 30.0
# Tags with their group (family 1: IFD0, ExifIFD, GPS, XMP-photoshop, Keys, Track1 ...), values
# unconverted (-n), duplicates kept (-a), large files read whole, and binary blobs left out.
_READ_ARGS = ("-json", "-G1", "-n", "-a", "-api", "LargeFileSupport=1", "-charset", "filename=utf8")


class ExifToolError(Exception):
    """ExifTool could not read a file; the message says why."""


class ExifToolTimeout(ExifToolError):
    """ExifTool did not answer within the deadline; its process was killed."""


def exiftool_path() -> str | None:
    """The exiftool executable on PATH, or None when it is not installed."""
    return shutil.which("exiftool")


def exiftool_version() -> str | None:
    """ExifTool's version (``-ver``), or None when it is not installed."""
    exe = exiftool_path()
    return None if exe is None else _version(exe)


_VERSIONS: dict[str, str] = {}


def _version(exe: str) -> str | None:
    # Only an answer is remembered: a failed probe is tried again for the next file.
    if exe not in _VERSIONS:
        try:
            out = subprocess.run([exe, "-ver"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT_S).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        if not out.strip():
            return None
        _VERSIONS[exe] = out.strip()
    return _VERSIONS[exe]


class _Process:
    """One running ``exiftool -stay_open True -@ -``; used by one thread at a time."""

    def __init__(self, exe: str) -> None:
        command = [exe, "-stay_open", "True", "-@", "-"]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "KILL", *command]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
        )
        self._counter = 0

    def read(self, path: Path, timeout: float) -> tuple[list[dict[str, object]], str]:
        """Parsed JSON answer for one file and ExifTool's messages; raises ExifToolError."""
        self._counter += 1
        ready = f"{{ready{self._counter}}}".encode()
        done = f"done{self._counter}".encode()
        # One argument per line: a path holding a newline could smuggle options in.
        name = os.fsencode(path)
        if b"\n" in name or b"\r" in name:
            raise ExifToolError("the path holds a line break; ExifTool's argument protocol cannot carry it")
        args = [*(a.encode() for a in _READ_ARGS), b"-echo4", done, name, f"-execute{self._counter}".encode()]
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        try:
            self.proc.stdin.write(b"\n".join(args) + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise ExifToolError(f"ExifTool is not running ({exc.strerror})") from None
        out, err = self._collect(ready, done, time.monotonic() + timeout)
        text = out[: out.rfind(ready)].decode("utf-8", "replace").strip()
        messages = err[: err.rfind(done)].decode("utf-8", "replace").strip()
        if not text:
            return [], messages
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise ExifToolError("ExifTool's answer was not JSON") from None
        return (parsed if isinstance(parsed, list) else []), messages

    def _collect(self, ready: bytes, done: bytes, deadline: float) -> tuple[bytes, bytes]:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        fds = {self.proc.stdout.fileno(): bytearray(), self.proc.stderr.fileno(): bytearray()}
        out_fd, err_fd = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        # Both pipes are drained together, so a chatty stderr cannot block ExifTool's stdout.
        while not (fds[out_fd].rstrip().endswith(ready) and fds[err_fd].rstrip().endswith(done)):
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ExifToolTimeout("ExifTool did not finish in time; its process was stopped")
            readable, _w, _x = select.select(list(fds), [], [], left)
            for fd in readable:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.kill()
                    raise ExifToolError("ExifTool ended unexpectedly")
                fds[fd] += chunk
        return bytes(fds[out_fd]), bytes(fds[err_fd])

    def close(self) -> None:
        """Ask ExifTool to exit; kill it if it does not within a few seconds."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b"-stay_open\nFalse\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# One process per OS process (a forked child must never write to its parent's), used by one
# thread at a time: store workers take turns, each file's read bounded by the deadline.
_LOCK = threading.Lock()
_RUNNING: dict[int, _Process] = {}


def _forget_after_fork() -> None:
    global _LOCK
    _LOCK = threading.Lock()
    # The parent's pipes are not this process's to use; only their copies are closed here.
    for process in _RUNNING.values():
        process._close_pipes()
    _RUNNING.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def read_tags(path: Path, timeout: float | None = None) -> tuple[dict[str, object], str]:
    """All tags of one file as ``{"Group:Tag": value}`` and ExifTool's own messages.

    Raises ExifToolError (ExifToolTimeout on a deadline), FileNotFoundError without exiftool.
    """
    exe = exiftool_path()
    if exe is None:
        raise FileNotFoundError("exiftool")
    pid = os.getpid()
    with _LOCK:
        process = _RUNNING.get(pid)
        if process is None or process.proc.poll() is not None:
            process = _RUNNING[pid] = _Process(exe)
        try:
            answer, messages = process.read(path, TIMEOUT_S if timeout is None else timeout)
        except BaseException:
            process.kill()
            del _RUNNING[pid]
            raise
    return (answer[0] if answer and isinstance(answer[0], dict) else {}), messages


def close_all() -> None:
    """End this process's ExifTool (the end of an ingest); the next read starts a new one."""
    with _LOCK:
        process = _RUNNING.pop(os.getpid(), None)
    if process is not None:
        process.close()
