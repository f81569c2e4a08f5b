"""Work run by threads of a forked child process (custody.forked), as ingest stores files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from custody.errors import InputError, WorkerLostError
from custody.forked import ForkedWorkers, Stopped, can_fork
from tests.support.processes import reaped

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

Progress = Callable[[int], None]
Check = Callable[[], None]



def _square(n: int, progress: Progress, _check: Check) -> int:
    progress(n)
    return n * n


def test_results_come_back_in_order_and_progress_is_reported_to_the_caller() -> None:
    workers: ForkedWorkers[int, int] = ForkedWorkers(_square, 2)
    seen: list[tuple[int, str]] = []
    try:
        futures = workers.submit([1, 2, 3, 4])
        workers.wait(futures, lambda n: seen.append((n, threading.current_thread().name)))
        assert [f.result() for f in futures] == [1, 4, 9, 16]
    finally:
        workers.close(stop=False)
    assert sorted(n for n, _ in seen) == [1, 2, 3, 4]
    assert {name for _, name in seen} == {threading.current_thread().name}


def test_a_later_submission_is_served_by_the_same_child() -> None:
    workers: ForkedWorkers[int, int] = ForkedWorkers(_square, 2)
    try:
        first = workers.submit([5])
        second = workers.submit([6])
        workers.wait([*first, *second], lambda _n: None)
        assert (first[0].result(), second[0].result()) == (25, 36)
    finally:
        workers.close(stop=False)


def _refuse(path: str, _progress: Progress, _check: Check) -> None:
    raise InputError(f"{path}: permission denied; make it readable for this user")


def test_an_expected_failure_comes_back_as_the_same_error_and_message() -> None:
    workers: ForkedWorkers[str, None] = ForkedWorkers(_refuse, 1)
    try:
        (future,) = workers.submit(["/evidence/locked.jpg"])
        workers.wait([future], lambda _n: None)
    finally:
        workers.close(stop=True)
    exc = future.exception()
    assert isinstance(exc, InputError)
    assert str(exc) == "/evidence/locked.jpg: permission denied; make it readable for this user"


def _bug(_arg: int, _progress: Progress, _check: Check) -> None:
    raise ZeroDivisionError("a bug in the task")


def test_a_bug_comes_back_with_its_traceback() -> None:
    workers: ForkedWorkers[int, None] = ForkedWorkers(_bug, 1)
    try:
        (future,) = workers.submit([0])
        workers.wait([future], lambda _n: None)
    finally:
        workers.close(stop=True)
    exc = future.exception()
    assert isinstance(exc, RuntimeError)
    assert "ZeroDivisionError: a bug in the task" in str(exc) and "Traceback" in str(exc)


def _until_stopped(marker: str, progress: Progress, check: Check) -> None:
    """Holds a file open until told to stop, then removes it, as a store task removes its temp file."""
    path = Path(marker)
    path.write_text("working")
    try:
        progress(1)
        while True:
            check()
            time.sleep(0.005)
    except Stopped:
        path.unlink()
        raise


def test_stopping_lets_running_tasks_clean_up_before_close_returns(tmp_path: Path) -> None:
    markers = [str(tmp_path / f"task-{n}") for n in range(2)]
    workers: ForkedWorkers[str, None] = ForkedWorkers(_until_stopped, 2)
    futures = workers.submit(markers)
    started = 0

    def count(_n: int) -> None:
        nonlocal started
        started += 1
        if started == len(markers):
            raise KeyboardInterrupt  # as Ctrl-C would, once both tasks are under way

    pid = workers.pid
    assert pid is not None
    with pytest.raises(KeyboardInterrupt):
        workers.wait(futures, count)
    workers.close(stop=True)
    assert reaped(pid)
    assert list(tmp_path.iterdir()) == []


def _slow(n: int, _progress: Progress, _check: Check) -> int:
    time.sleep(30)
    return n


def _refuse_or_linger(arg: int, _progress: Progress, _check: Check) -> int:
    if arg == 0:
        raise InputError("clip-0.mp4: read failed (Input/output error); nothing was stored")
    time.sleep(30)
    return arg


def test_waiting_ends_at_the_first_failure_without_waiting_for_the_rest() -> None:
    workers: ForkedWorkers[int, int] = ForkedWorkers(_refuse_or_linger, 2)
    started = time.monotonic()
    try:
        futures = workers.submit([0, 1])
        workers.wait(futures, lambda _n: None)
        assert isinstance(futures[0].exception(), InputError) and not futures[1].done()
        assert time.monotonic() - started < 20
    finally:
        if workers.pid is not None:
            os.kill(workers.pid, signal.SIGKILL)  # the lingering task never checks, so would hold close()
        workers.close(stop=True)


def test_a_child_that_dies_fails_the_pending_work_with_a_clear_error() -> None:
    workers: ForkedWorkers[int, int] = ForkedWorkers(_slow, 1)
    pid = workers.pid
    assert pid is not None
    try:
        futures = workers.submit([1, 2])
        os.kill(pid, signal.SIGKILL)
        workers.wait(futures, lambda _n: None)
    finally:
        workers.close(stop=True)
    for future in futures:
        exc = future.exception()
        assert isinstance(exc, WorkerLostError) and "ended unexpectedly" in str(exc)
    assert reaped(pid)


def test_a_child_whose_parent_is_gone_stops(tmp_path: Path) -> None:
    marker = tmp_path / "task"
    # A grandchild's view: the process holding the pipes (here, a forked middle process) dies.
    middle = os.fork()
    if middle == 0:  # pragma: no cover - runs in the middle process
        try:
            workers: ForkedWorkers[str, None] = ForkedWorkers(_until_stopped, 1)
            (tmp_path / "child.pid").write_text(str(workers.pid))
            workers.submit([str(marker)])
            time.sleep(30)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists()
    os.kill(middle, signal.SIGKILL)
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 10
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped = not marker.exists()
    if not stopped:  # never leave an orphan holding the test run's output open
        os.kill(int((tmp_path / "child.pid").read_text()), signal.SIGKILL)
    assert stopped


def _echo(n: int, _progress: Progress, _check: Check) -> int:
    return n


def test_answers_arrive_without_anyone_waiting_so_the_child_never_stalls() -> None:
    # Far more answers than a pipe holds: a reader thread takes them as they come.
    workers: ForkedWorkers[int, int] = ForkedWorkers(_echo, 2)
    try:
        futures = workers.submit(list(range(5000)))
        deadline = time.monotonic() + 30
        while not all(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [f.result() for f in futures] == list(range(5000))
    finally:
        workers.close(stop=False)


def _unpicklable(_n: int, _progress: Progress, _check: Check) -> Callable[[], None]:
    return lambda: None


def test_a_result_that_cannot_be_sent_back_is_reported_not_waited_for() -> None:
    workers: ForkedWorkers[int, Callable[[], None]] = ForkedWorkers(_unpicklable, 1)
    try:
        (future,) = workers.submit([1])
        workers.wait([future], lambda _n: None)
    finally:
        workers.close(stop=True)
    exc = future.exception()
    assert isinstance(exc, RuntimeError) and "pickle" in str(exc).lower()


def test_work_given_to_a_dead_child_fails_with_a_clear_error() -> None:
    workers: ForkedWorkers[int, int] = ForkedWorkers(_echo, 1)
    assert workers.pid is not None
    os.kill(workers.pid, signal.SIGKILL)
    os.waitpid(workers.pid, 0)
    workers.pid = None  # reaped here
    futures = workers.submit([1])
    workers.wait(futures, lambda _n: None)
    exc = futures[0].exception()
    assert isinstance(exc, WorkerLostError)


def _sigint_of_a_program(_n: int, _progress: Progress, _check: Check) -> str:
    probe = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def test_programs_a_task_runs_still_end_on_ctrl_c() -> None:
    # The child itself leaves Ctrl-C to its parent, but ffprobe or ffmpeg started by a task must
    # not inherit that, or an interrupted ingest would wait for them.
    workers: ForkedWorkers[int, str] = ForkedWorkers(_sigint_of_a_program, 1)
    try:
        (future,) = workers.submit([1])
        workers.wait([future], lambda _n: None)
    finally:
        workers.close(stop=False)
    assert future.result() == "False"  # Ctrl-C is not ignored there


def test_forking_is_avoided_while_another_thread_runs() -> None:
    assert not can_fork() or threading.active_count() == 1
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        other.join()
