"""The unlock agent's warm command server: forwarded commands behave exactly as commands run in-process.

Each test runs ``custody`` as a user does (a fresh ``python -m custody_cli.main`` process). Whether a command was
forwarded is seen with ``-X importtime``: a forwarded command's process never imports SQLAlchemy (the
server imported it long before), a command run in-process does.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from custody import agent
from custody.agent_paths import command_socket_path
from tests.support.archives import PASSPHRASES, Cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def unlocked(cli: Cli, archive: Path, evidence: Path, runtime: Path) -> Iterator[Path]:
    """The archive with one item, alice's agent and command server running."""
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("unlock", "--for", "5m")
    try:
        yield archive
    finally:
        cli.ok("lock")


def _custody(
    *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CUSTODY_ACTOR": "alice", "CUSTODY_PASSPHRASE": "not needed", **(env or {})}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "custody_cli.main", *map(str, args)],
        cwd=cwd, env=environment, text=True, timeout=120, **streams,  # type: ignore[call-overload]
    )  # fmt: skip


def _forwarded(result: subprocess.CompletedProcess[str]) -> bool:
    return "| sqlalchemy" not in result.stderr


def _messages(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


def test_unlock_starts_a_command_server_beside_the_agent_in_the_private_folder(unlocked: Path) -> None:
    path = command_socket_path(unlocked, "alice")
    assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600
    beside = agent.socket_path(unlocked, "alice")
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, beside.name])


def test_a_forwarded_show_prints_what_an_in_process_show_prints(unlocked: Path) -> None:
    served = _custody("show", "EV-000001", "--json")
    assert served.returncode == 0 and _forwarded(served)
    own = {"XDG_RUNTIME_DIR": "/nonexistent", "CUSTODY_PASSPHRASE": PASSPHRASES["alice"]}
    local = _custody("show", "EV-000001", "--json", env=own)
    assert local.returncode == 0 and not _forwarded(local)
    assert json.loads(served.stdout)["record"] == json.loads(local.stdout)["record"]


def test_a_forwarded_command_signs_through_the_agent_and_the_log_verifies(cli: Cli, unlocked: Path) -> None:
    note = _custody("annotate", "EV-000001", "seen through the command server")
    assert note.returncode == 0 and _forwarded(note), note.stderr
    assert cli("verify", "--all").code == 0
    assert "seen through the command server" in cli.ok("show", "EV-000001", "--json").out


def test_bad_input_keeps_its_exit_code_and_one_line_error(unlocked: Path) -> None:
    missing = _custody("show", "EV-999999")
    assert missing.returncode == 2 and _forwarded(missing)
    assert "EV-999999" in _messages(missing.stderr) and "Traceback" not in missing.stderr


def test_the_command_uses_the_clients_folder_and_environment(unlocked: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    taken = _custody(
        "get", "EV-000001", "--out", "out", "--purpose", "forensic copy",
        cwd=work, env={"CUSTODY_ARCHIVE": str(unlocked)},
    )  # fmt: skip
    assert taken.returncode == 0 and _forwarded(taken), taken.stderr
    assert [p.name for p in (work / "out").iterdir()] == ["transcript.txt"]


def test_output_goes_where_the_client_sent_its_standard_output(unlocked: Path, tmp_path: Path) -> None:
    target = tmp_path / "listing.json"
    with open(target, "w") as fh:
        result = _custody("list", "--json", stdout=fh)
    assert result.returncode == 0 and _forwarded(result)
    assert [row["item_id"] for row in json.loads(target.read_text())] == ["EV-000001"]


def test_commands_that_may_ask_for_a_passphrase_run_in_process(unlocked: Path) -> None:
    listed = _custody("actor", "list")
    assert listed.returncode == 0 and not _forwarded(listed)


def test_ctrl_c_at_the_client_interrupts_the_forwarded_command(unlocked: Path) -> None:
    # The command's standard output is a pipe that is already full, so it blocks on its first line.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)
    pipe = os.readlink(f"/proc/self/fd/{write_end}")
    env = {**os.environ, "CUSTODY_ACTOR": "alice"}
    client = subprocess.Popen(
        [sys.executable, "-m", "custody_cli.main", "show", "EV-000001"],
        cwd=ROOT, env=env, stdout=write_end, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(write_end)
    command = _blocked_writer(pipe, besides=client.pid)  # the server's child, stuck writing to the full pipe
    client.send_signal(signal.SIGINT)
    with os.fdopen(read_end, "rb") as drained:
        drained.read()  # unblock it so it can finish
    assert client.wait(timeout=60) == 130
    assert client.stderr is not None and "interrupted" in client.stderr.read()
    assert not Path(f"/proc/{command}").exists() or "custody" not in Path(f"/proc/{command}/cmdline").read_text()


def _blocked_writer(pipe: str, besides: int) -> int:
    """The pid of the process (other than ``besides``) whose standard output is ``pipe``, once it waits to write."""
    for _ in range(600):
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == besides:
                continue
            try:
                if os.readlink(proc / "fd" / "1") == pipe and "pipe_write" in (proc / "wchan").read_text():
                    return int(proc.name)
            except OSError:
                continue
        time.sleep(0.1)
    raise AssertionError("the forwarded command never started writing")


def test_lock_ends_the_command_server(cli: Cli, archive: Path, evidence: Path, runtime: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("unlock", "--for", "5m")
    cli.ok("lock")
    assert not command_socket_path(archive, "alice").exists()
    after = _custody("show", "EV-000001", env={"CUSTODY_PASSPHRASE": PASSPHRASES["alice"]})
    assert not _forwarded(after)


def test_a_killed_agent_sends_commands_back_to_the_passphrase(
    cli: Cli, archive: Path, evidence: Path, runtime: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("unlock", "--for", "5m")
    path = agent.socket_path(archive, "alice")
    pid = _listener(path)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert path.exists()  # a killed agent leaves its socket file behind
    refused = _custody("annotate", "EV-000001", "x", env={"CUSTODY_PASSPHRASE": "wrong"})
    # The server does not start the command without the agent; it runs in-process and asks for the passphrase.
    assert refused.returncode == 2 and "wrong passphrase" in _messages(refused.stderr)
    assert _gone(command_socket_path(archive, "alice"))
    path.unlink()


def _listener(path: Path) -> int:
    """The pid of the process listening on the Unix socket at ``path``."""
    inodes = {
        line.split()[6]
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]
        if line.split()[-1] == str(path)
    }
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if any(link == f"socket:[{inode}]" for inode in inodes for link in links):
            return int(proc.name)
    raise AssertionError(f"nobody listens on {path}")


def test_an_upgraded_custody_is_not_served_from_the_old_code(unlocked: Path) -> None:
    import custody_cli.render

    source = Path(str(custody_cli.render.__file__))
    before = source.stat()
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        upgraded = _custody("show", "EV-000001", env={"CUSTODY_PASSPHRASE": PASSPHRASES["alice"]})
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert upgraded.returncode == 0 and not _forwarded(upgraded)
    assert _gone(command_socket_path(unlocked, "alice"))  # the server has ended


def _gone(path: Path) -> bool:
    for _ in range(50):
        if not path.exists():
            return True
        time.sleep(0.1)
    return False
