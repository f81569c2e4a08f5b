"""A task run over work items by threads of a forked child process, its results sent back.

Reading, hashing and writing evidence release the GIL, but only between the Python steps that
drive them. Run as threads beside a main thread that signs and records in Python, such workers
wait for the GIL after every chunk; on two cores, storing a 600 MB set beside a busy main thread
took about half as long again as threads than in a child. A child forked before any thread
starts has its own interpreter and runs them at full speed.

The task is the parent's own code (the child is a copy of the parent); only its arguments, its
results and its progress cross the pipes, pickled. Expected failures come back as the same
``CustodyError`` class and message; anything else comes back as a traceback, as a bug. A child
that ends without answering fails the work it held with ``WorkerLostError``.
"""

from __future__ import annotations

import contextlib
import gc
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
from typing import Any, BinaryIO, Generic, TypeVar

from . import errors
from .errors import CustodyError, WorkerLostError

A = TypeVar("A")
R = TypeVar("R")

Progress = Callable[[int], None]
Check = Callable[[], None]

_HEADER = struct.Struct(">I")
_PIPE_BUFFER = 64 * 1024
_LOST = "a worker process ended unexpectedly; nothing it was doing was recorded"


class Stopped(Exception):
    """Raised by a task's ``check`` (or ``progress``) once its workers are told to stop."""


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


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    return data if len(data) == n else None


def _send(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(data)) + data)


def _receive(stream: BinaryIO) -> Any | None:
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    data = _read_exact(stream, length)
    return None if data is None else pickle.loads(data)


def _reader(fd: int) -> BinaryIO:
    # Buffered: many small messages cost one system call (and one wait for the GIL), not two each.
    return open(fd, "rb", buffering=_PIPE_BUFFER, closefd=False)


def _rebuild_error(name: str, message: str) -> CustodyError:
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, CustodyError):
        return cls(message)
    return CustodyError(message)


class ForkedWorkers(Generic[A, R]):
    """``task(arg, progress, check)`` for every submitted arg, on ``workers`` threads of a child.

    ``progress(n)`` reports bytes done (and raises ``Stopped`` once stopping); ``check()`` raises
    ``Stopped`` once stopping, so a task can give up before a step it must not take half-way.
    ``nice`` lowers the child's priority. Raises OSError if no child can be started.
    """

    def __init__(self, task: Callable[[A, Progress, Check], R], workers: int, nice: int = 0) -> None:
        from_parent, to_child = os.pipe()
        try:
            from_child, to_parent = os.pipe()
        except OSError:
            os.close(from_parent)
            os.close(to_child)
            raise
        # Objects made so far are never collected in the child (nor copied by the collector's
        # writes): an inherited database connection is never finalised there.
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            for fd in (from_parent, to_child, from_child, to_parent):
                os.close(fd)
            raise
        if pid == 0:  # pragma: no cover - the child never returns from here
            code = 1
            try:
                os.close(to_child)
                os.close(from_child)
                _child_main(task, workers, nice, from_parent, to_parent)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        gc.unfreeze()
        os.close(from_parent)
        os.close(to_parent)
        self.pid: int | None = pid
        self._to_child = to_child
        self._from_child = from_child
        self._lock = threading.Lock()
        self._futures: dict[int, Future[R]] = {}
        self._next_ticket = 0
        # Progress counts, and None whenever a future is resolved, for ``wait`` to act on.
        self._events: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read_loop, name="custody-forked-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        # Drains the child's pipe continuously (so the child never waits on a full pipe) and
        # resolves futures here, so any thread may wait on one.
        try:
            stream = _reader(self._from_child)
            while (message := _receive(stream)) is not None:
                if message[0] == "progress":
                    self._events.put(message[1])
                    continue
                with self._lock:
                    future = self._futures.pop(message[1])
                if message[0] == "done":
                    future.set_result(message[2])
                elif message[0] == "error":
                    future.set_exception(_rebuild_error(message[2], message[3]))
                else:
                    future.set_exception(RuntimeError(f"a worker in the child process failed:\n{message[2]}"))
                self._events.put(None)
        except Exception:
            pass  # a garbled pipe means a lost worker, which the line below reports
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        with self._lock:
            pending, self._futures = self._futures, {}
        for future in pending.values():
            future.set_exception(WorkerLostError(_LOST))
        self._events.put(None)

    def submit(self, args: Sequence[A]) -> list[Future[R]]:
        """Queue work in the child; each future is resolved as the child answers."""
        batch: list[tuple[int, A]] = []
        futures: list[Future[R]] = []
        with self._lock:
            for arg in args:
                ticket = self._next_ticket
                self._next_ticket += 1
                future: Future[R] = Future()
                self._futures[ticket] = future
                batch.append((ticket, arg))
                futures.append(future)
        try:
            _send(self._to_child, ("work", batch))
        except OSError:
            self._fail_pending()  # the child is gone
        return futures

    def wait(self, futures: Sequence[Future[R]], on_progress: Progress) -> None:
        """Report progress (on this thread) until every future is resolved or one has failed."""

        def settled() -> bool:
            return all(f.done() for f in futures) or any(f.done() and f.exception() for f in futures)

        while not settled():
            event = self._events.get()
            if event is not None:
                on_progress(event)
        while True:  # progress that arrived with the last answers
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event is not None:
                on_progress(event)

    def close(self, stop: bool) -> None:
        """Let the child finish its work (or, with ``stop``, give up at the next check) and reap it.

        Returns only once the child has ended, so nothing its tasks write outlives this call. A
        second interruption while waiting kills the child outright.
        """
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(OSError):
            _send(self._to_child, ("stop",) if stop else ("end",))
        os.close(self._to_child)
        try:
            os.waitpid(pid, 0)
        except KeyboardInterrupt:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        finally:
            self._reader.join()
            os.close(self._from_child)


def _ignore(_signum: int, _frame: object) -> None:
    """SIGINT in the child: the parent decides. A Python handler, unlike SIG_IGN, is not
    inherited by programs the tasks run (ffprobe, say), which Ctrl-C still ends."""


def _child_main(  # pragma: no cover - runs in the child process
    task: Callable[[Any, Progress, Check], Any], workers: int, nice: int, commands: int, results: int
) -> None:
    signal.signal(signal.SIGINT, _ignore)
    if nice:
        os.nice(nice)
    stop = threading.Event()
    send_lock = threading.Lock()

    def send(message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with send_lock:
                _write_all(results, _HEADER.pack(len(data)) + data)
        except OSError:
            stop.set()  # the parent is gone: every task stops at its next check
            raise Stopped from None

    def check() -> None:
        if stop.is_set():
            raise Stopped

    def progress(n: int) -> None:
        check()
        send(("progress", n))

    def run(ticket: int, arg: Any) -> None:
        try:
            try:
                result = task(arg, progress, check)
            except CustodyError as exc:
                send(("error", ticket, type(exc).__name__, str(exc)))
            else:
                send(("done", ticket, result))
        except Stopped:
            return
        except BaseException:
            send(("bug", ticket, traceback.format_exc()))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-forked")
    try:
        stream = _reader(commands)
        while (message := _receive(stream)) is not None and message[0] == "work":
            for ticket, arg in message[1]:
                pool.submit(run, ticket, arg)
        # A lost parent (end of file) is treated like a stop.
        if message is None or message[0] == "stop":
            stop.set()
    finally:
        pool.shutdown(wait=True, cancel_futures=stop.is_set())
