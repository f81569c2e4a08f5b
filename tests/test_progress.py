"""Progress bars: drawn on a terminal (a pseudo-terminal here, driven with pexpect), never in --json or a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.support.archives import PASSPHRASES, Cli

BIG = 400 * 1024**2  # large enough that moving it takes several refreshes of the bar


@pytest.fixture
def big_item(cli: Cli, team: Path, tmp_path: Path) -> Path:
    path = tmp_path / "footage.bin"
    with path.open("wb") as fh:
        block = os.urandom(1024**2)
        for _ in range(BIG // len(block)):
            fh.write(block)
    cli.ok("ingest", path, "--case", "P", actor="bob")
    return team


def _spawn(archive: Path, actor: str, *args: str | Path) -> pexpect.spawn:
    env = {**os.environ, "CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": PASSPHRASES[actor], "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "custody_cli.main", "--as", actor, *map(str, args)],
        env=env,
        dimensions=(40, 160),
        timeout=300,
        encoding="utf-8",
    )


def _bar_seen(child: pexpect.spawn, label: str) -> str:
    # rich's bar: the phase label, the bar (colour codes between its parts), bytes done/total, speed, time left.
    esc = r"\x1b\[[0-9;?]*[a-zA-Z]"
    child.expect(rf"{label}({esc}| )+({esc}|[━╸╺])+ ({esc})*\d+(\.\d+)?/\d+(\.\d+)? MB")
    seen = str(child.after)
    child.expect(r"\d+:\d\d:\d\d")  # the time left
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return seen


def test_export_shows_a_progress_bar_on_a_terminal(big_item: Path, tmp_path: Path) -> None:
    seen = _bar_seen(_spawn(big_item, "bob", "export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "p"),
                     "export")  # fmt: skip
    assert "MB" in seen and (tmp_path / "b.zip").exists()


def test_verify_shows_a_progress_bar_on_a_terminal(big_item: Path) -> None:
    _bar_seen(_spawn(big_item, "dave", "verify", "--all"), "verify")


def test_no_bar_with_json_even_on_a_terminal(big_item: Path) -> None:
    child = _spawn(big_item, "dave", "verify", "--all", "--json")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "━" not in str(child.before) and '"ok": true' in str(child.before)


def test_no_bar_when_output_is_a_pipe(big_item: Path) -> None:
    env = {**os.environ, "CUSTODY_ARCHIVE": str(big_item), "CUSTODY_PASSPHRASE": PASSPHRASES["dave"]}
    proc = subprocess.run([sys.executable, "-m", "custody_cli.main", "--as", "dave", "verify", "--all"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "━" not in proc.stderr and " MB" not in proc.stderr


def test_a_bulk_export_on_a_terminal_shows_the_count_and_asks(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "B", actor="bob")
    cli.ok("ingest", evidence / "strike.bin", "--case", "B", actor="bob")
    out = tmp_path / "b.zip"
    child = _spawn(team, "bob", "export", "--case", "B", "--type", "text", "--out", out, "--purpose", "p")
    child.expect(r"1 item\(s\) selected by .*Proceed\?")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and not out.exists()
    child = _spawn(team, "bob", "export", "--case", "B", "--type", "text", "--out", out, "--purpose", "p")
    child.expect(r"Proceed\?")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and out.exists()
