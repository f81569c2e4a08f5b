"""Several processes appending at once never fork the tree or skip or repeat a seq."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.archives import Cli, make_archive

WORKER = """
import sys
from pathlib import Path
from custody.archive import Archive
from custody.ingest import ingest
from custody.records import Provenance

archive, folder = Path(sys.argv[1]), Path(sys.argv[2])
acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
for path in sorted(folder.iterdir()):
    ingest(acting, [path], Provenance(case="concurrent"))
"""


def _run_workers(archive: Path, tmp_path: Path, processes: int, files: int) -> None:
    folders = []
    for p in range(processes):
        folder = tmp_path / f"worker{p}"
        folder.mkdir()
        for i in range(files):
            (folder / f"{p}-{i}.bin").write_bytes(os.urandom(64) + f"{p}/{i}".encode())
        folders.append(folder)
    root = Path(__file__).parents[1]
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(archive), str(f)], cwd=root, stderr=subprocess.PIPE)
        for f in folders
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()


def _assert_one_unbroken_log(cli: Cli, expected_items: int) -> None:
    events = cli.ok("log", "--json").json()
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert len(cli.ok("list", "--json").json()) == expected_items
    ids = [r["item_id"] for r in cli.ok("list", "--json").json()]
    assert ids == [f"EV-{n:06d}" for n in range(1, expected_items + 1)]
    report = cli.ok("verify", "--all", "--json").json()
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]


def test_four_processes_append_to_sqlite(cli: Cli, archive: Path, tmp_path: Path) -> None:
    _run_workers(archive, tmp_path, processes=4, files=50)
    _assert_one_unbroken_log(cli, 200)


def test_four_processes_append_to_postgresql(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    archive = make_archive(cli, tmp_path / "pg", monkeypatch, db=pg_url)
    _run_workers(archive, tmp_path, processes=4, files=50)
    _assert_one_unbroken_log(cli, 200)
