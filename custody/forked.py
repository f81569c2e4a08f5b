"""A task run over work items by threads of a forked child process, its results sent back.

Reading, hashing and writing evidence release the GIL, but only between the Python steps that
drive them. Run as threads beside a main thread that signs and records in Python, such workers
wait for the GIL after every chunk; on two cores that cost ingest about a third of its time. A
child forked before any thread starts has its own interpreter and runs them at full speed.

The task is the parent's own code (the child is a copy of the parent); only its arguments, its
results and its progress cross the pipe, pickled. Expected failures come back as the same
``CustodyError`` class and message; anything else comes back as a traceback, as a bug.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from . import errors
from .errors import CustodyError, StoreError

A = TypeVar("A")
R = TypeVar("R")

Progress = Callable[[int], None]
Check = Callable[[], None]

_HEADER = struct.Struct(">I")


class Stopped(Exception):
    """Raised by a task's ``check`` (or ``progress``) once the parent has asked the child to stop."""


def can_fork() -> bool:
    """True where a child can be forked safely: on Linux, while this process runs no other thread.

    Forking while another thread runs could copy a lock that thread holds into the child. Threads
    that native libraries start are invisible to ``threading``, so the kernel's count decides.
    """
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes | None:
    parts: list[bytes] = []
    while n:
        part = os.read(fd, n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(data)) + data)


def _receive(fd: int) -> Any | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    data = _read_exact(fd, length)
    return None if data is None else pickle.loads(data)


def _rebuild_error(name: str, message: str) -> CustodyError:
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, CustodyError):
        return cls(message)
    return CustodyError(message)


class ForkedWorkers(Generic[A, R]):
    """``task(arg, progress, check)`` for every submitted arg, on ``workers`` threads of a child.

    ``progress(n)`` reports bytes done (and raises ``Stopped`` once stopping); ``check()`` raises
    ``Stopped`` once stopping, so a task can give up before a step it must not take half-way.
    """

    def __init__(self, task: Callable[[A, Progress, Check], R], workers: int) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns from here
            code = 1
            try:
                os.close(to_child)
                os.close(from_child)
                _child_main(task, workers, from_parent, to_parent)
                code = 0
            finally:
                os._exit(code)
        os.close(from_parent)
        os.close(to_parent)
        self.pid: int | None = pid
        self._to_child = to_child
        self._from_child = from_child
        self._messages: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._futures: dict[int, Future[R]] = {}
        self._next_ticket = 0
        self._reader = threading.Thread(target=self._read_loop, name="custody-forked-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        # Drains the child's pipe continuously, so the child never waits on a full pipe.
        while (message := _receive(self._from_child)) is not None:
            self._messages.put(message)
        self._messages.put(("eof",))

    def submit(self, args: Sequence[A]) -> list[Future[R]]:
        """Queue work in the child; each future is resolved by ``wait``."""
        batch: list[tuple[int, A]] = []
        futures: list[Future[R]] = []
        for arg in args:
            ticket = self._next_ticket
            self._next_ticket += 1
            future: Future[R] = Future()
            self._futures[ticket] = future
            batch.append((ticket, arg))
            futures.append(future)
        _send(self._to_child, ("work", batch))
        return futures

    def wait(self, futures: Sequence[Future[R]], on_progress: Progress) -> None:
        """Handle the child's messages (progress on this thread) until every future is resolved
        or one has failed."""
        while not all(f.done() for f in futures) and not any(f.done() and f.exception() for f in futures):
            message = self._messages.get()
            kind = message[0]
            if kind == "progress":
                on_progress(message[1])
            elif kind == "eof":
                self._messages.put(message)  # every later wait sees it too
                for future in self._futures.values():
                    if not future.done():
                        future.set_exception(
                            StoreError("the storing process ended unexpectedly; nothing was recorded for it")
                        )
            else:
                future = self._futures.pop(message[1])
                if kind == "done":
                    future.set_result(message[2])
                elif kind == "error":
                    future.set_exception(_rebuild_error(message[2], message[3]))
                else:
                    future.set_exception(RuntimeError(f"a worker in the child process failed:\n{message[2]}"))

    def close(self, stop: bool) -> None:
        """Let the child finish its work (or, with ``stop``, give up at the next check) and reap it."""
        if self.pid is None:
            return
        # If the child is gone already, reaping it below is all that is left.
        with contextlib.suppress(OSError):
            _send(self._to_child, ("stop",) if stop else ("end",))
        os.close(self._to_child)
        # Waits for the child's tasks to abort or finish, so nothing they write outlives this call.
        os.waitpid(self.pid, 0)
        self.pid = None
        self._reader.join()
        os.close(self._from_child)


def _child_main(  # pragma: no cover - runs in the child process
    task: Callable[[Any, Progress, Check], Any], workers: int, commands: int, results: int
) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and tells the child to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    send_lock = threading.Lock()

    def send(message: Any) -> None:
        try:
            with send_lock:
                _send(results, message)
        except OSError:
            stop.set()  # the parent is gone: stop at the next check
            raise Stopped from None

    def check() -> None:
        if stop.is_set():
            raise Stopped

    def progress(n: int) -> None:
        check()
        send(("progress", n))

    def run(ticket: int, arg: Any) -> None:
        try:
            result = task(arg, progress, check)
        except Stopped:
            return
        except CustodyError as exc:
            send(("error", ticket, type(exc).__name__, str(exc)))
        except BaseException:
            send(("bug", ticket, traceback.format_exc()))
        else:
            send(("done", ticket, result))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-forked")
    try:
        while (message := _receive(commands)) is not None and message[0] == "work":
            for ticket, arg in message[1]:
                pool.submit(run, ticket, arg)
        # A lost parent (end of file) is treated like a stop.
        if message is None or message[0] == "stop":
            stop.set()
    finally:
        pool.shutdown(wait=True, cancel_futures=stop.is_set())
