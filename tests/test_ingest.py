"""custody ingest: one read, two digests, immutable storage, signed records, clear refusals."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import blake3
import pytest

from custody.ingest import IngestOptions
from tests.support.archives import PASSPHRASES, Cli
from tests.support.peak_memory import run_cli_measured

JSON_FIELDS = {"item_id", "sha256", "blake3", "size", "media_type", "original_name", "duplicate_of"}


def _counts(archive: Path) -> tuple[int, int]:
    with sqlite3.connect(archive / "custody.db") as conn:
        items = conn.execute("select count(*) from items").fetchone()[0]
        events = conn.execute("select count(*) from events").fetchone()[0]
    return items, events


def _blobs(archive: Path) -> list[Path]:
    return [p for p in (archive / "store" / "sha256").rglob("*") if p.is_file()]


@pytest.fixture(params=[pytest.param(True, id="child-process"), pytest.param(False, id="threads")])
def store_kind(request: pytest.FixtureRequest) -> IngestOptions:
    """Ingest options that run the store workers in a forked child process, then in threads."""
    if request.param and not hasattr(os, "fork"):
        pytest.skip("needs fork")
    return IngestOptions(store_in_child=request.param)


def _interrupt_after(limit: int) -> Callable[[int], None]:
    """A progress callback that interrupts, like Ctrl-C, once ``limit`` bytes have been stored."""
    seen = 0

    def interrupt(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > limit:
            raise KeyboardInterrupt

    return interrupt


def test_ingest_json_reports_both_digests_and_stable_ids(cli: Cli, archive: Path, evidence: Path) -> None:
    rows = cli.ok("ingest", "-r", evidence, "--json").json()
    assert [r["item_id"] for r in rows] == ["EV-000001", "EV-000002", "EV-000003"]
    for row in rows:
        assert row.keys() >= JSON_FIELDS
        data = (evidence / row["original_name"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["blake3"] == blake3.blake3(data).hexdigest()
        assert row["size"] == len(data)
        assert row["duplicate_of"] is None


def test_stored_blob_is_read_only_for_its_owner_and_byte_identical(cli: Cli, archive: Path, evidence: Path) -> None:
    row = cli.ok("ingest", evidence / "strike.bin", "--json").json()[0]
    blob = archive / "store" / "sha256" / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]
    assert blob.read_bytes() == (evidence / "strike.bin").read_bytes()
    assert stat.S_IMODE(blob.stat().st_mode) == 0o400


def test_media_type_is_sniffed_from_content_not_name(cli: Cli, archive: Path, tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("plain words, not a picture\n")
    assert cli.ok("ingest", fake, "--json").json()[0]["media_type"] == "text/plain"


def test_record_carries_provenance_and_file_times(cli: Cli, archive: Path, evidence: Path) -> None:
    cli.ok(
        "ingest",
        evidence / "transcript.txt",
        "--source-url",
        "https://t.me/x/1",
        "--collected-by",
        "Field team 3",
        "--collected-at",
        "2026-03-01T10:00:00+02:00",
        "--method",
        "messenger export",
        "--case",
        "UA-2026-07",
        "--note",
        "from witness",
    )
    record = cli.ok("list", "--json").json()[0]
    given = cli.ok("show", record["item_id"], "--json").json()["acquisitions"][0]
    assert given["provenance"]["source_url"] == "https://t.me/x/1"
    assert given["provenance"]["collected_by"] == "Field team 3"
    assert given["provenance"]["case"] == record["provenance"]["case"] == "UA-2026-07"
    assert record["original_name"] == "transcript.txt"
    assert given["source_path"] == str(evidence / "transcript.txt")
    assert set(record["fs_times"]) == {"modified", "accessed", "changed"}
    # Signed as salted digests only: the record itself holds neither value.
    assert "source_path" not in record and "Field team 3" not in json.dumps(record)


def test_same_bytes_again_become_an_acquisition_of_the_existing_item(
    cli: Cli, archive: Path, evidence: Path, tmp_path: Path
) -> None:
    first = cli.ok("ingest", evidence / "strike.bin", "--json").json()[0]
    copy = tmp_path / "forwarded.bin"
    copy.write_bytes((evidence / "strike.bin").read_bytes())
    second = cli.ok("ingest", copy, "--source-url", "https://x.example/p/9", "--json").json()[0]
    assert second["duplicate_of"] == first["item_id"] == second["item_id"]
    # One blob of evidence bytes; the others hold each acquisition's salted provenance values.
    strike = (evidence / "strike.bin").read_bytes()
    assert sum(1 for blob in _blobs(archive) if blob.read_bytes() == strike) == 1
    view = cli.ok("show", first["item_id"], "--json").json()
    assert [a["original_name"] for a in view["acquisitions"]] == ["strike.bin", "forwarded.bin"]
    assert view["acquisitions"][1]["provenance"]["source_url"] == "https://x.example/p/9"


def test_zero_byte_file_is_allowed_and_recorded(cli: Cli, archive: Path, evidence: Path) -> None:
    row = cli.ok("ingest", evidence / "empty.dat", "--json").json()[0]
    assert row["size"] == 0
    assert row["sha256"] == hashlib.sha256(b"").hexdigest()


def test_case_filter_lists_only_that_case(cli: Cli, archive: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "A")
    cli.ok("ingest", evidence / "strike.bin", "--case", "B")
    assert [r["original_name"] for r in cli.ok("list", "--case", "B", "--json").json()] == ["strike.bin"]


def test_many_files_print_a_summary_table(cli: Cli, archive: Path, evidence: Path) -> None:
    result = cli.ok("ingest", "-r", evidence)
    assert "Ingested 3 file(s)" in result.out
    assert "EV-000003" in result.out


def test_a_large_batch_prints_a_summary_by_media_type(cli: Cli, archive: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(59):
        (folder / f"note-{n:02d}.txt").write_text(f"witness note {n}\n")
    (folder / "note-copy.txt").write_text("witness note 0\n")
    out = " ".join(cli.ok("ingest", "-r", folder).out.split())
    assert "Ingested 60 files: new items EV-000001 .. EV-000059" in out
    assert "text/plain │ 59 │ 1 │" in out
    assert "custody list" in out


def test_identical_files_in_one_batch_become_one_item_and_an_acquisition(
    cli: Cli, any_db_archive: Path, tmp_path: Path
) -> None:
    # Items of a batch are inserted together at commit; duplicates and cases must see pending ones.
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(b"the same photo")
    (folder / "d.txt").write_text("something else")
    rows = cli.ok("ingest", "-r", folder, "--case", "K1", "--json").json()
    assert [(r["item_id"], r["duplicate_of"]) for r in rows] == [
        ("EV-000001", None),
        ("EV-000001", "EV-000001"),
        ("EV-000001", "EV-000001"),
        ("EV-000002", None),
    ]
    assert len(cli.ok("show", "EV-000001", "--json").json()["acquisitions"]) == 3
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_interrupted_parallel_batch_records_nothing_and_a_rerun_completes(
    cli: Cli, archive: Path, tmp_path: Path, store_kind: IngestOptions
) -> None:
    from custody.archive import Archive
    from custody.ingest import collect, ingest_batch
    from custody.records import Provenance

    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(6):
        (folder / f"clip-{n}.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    interrupt = _interrupt_after(4 * 1024 * 1024)

    before = _counts(archive)
    sources = [(source, Provenance()) for source in collect([folder], True, False)]
    with pytest.raises(KeyboardInterrupt):
        ingest_batch(acting, sources, interrupt, options=store_kind)
    assert _counts(archive) == before
    # A file another worker had finished is a complete blob under its own digest, never a partial one.
    _no_temp_files_and_only_complete_blobs(archive)
    rows = cli.ok("ingest", "-r", folder, "--json").json()
    assert len(rows) == 6 and all(r["duplicate_of"] is None for r in rows)
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def _two_batches_of_two(tmp_path: Path) -> Path:
    """Four 1 MiB files, to be ingested as two batches of two (``batch_files=2``)."""
    folder = tmp_path / "batches"
    folder.mkdir()
    for n in range(4):
        (folder / f"clip-{n}.bin").write_bytes(os.urandom(1024 * 1024))
    return folder


def _no_temp_files_and_only_complete_blobs(archive: Path) -> None:
    assert list((archive / "store" / "tmp").iterdir()) == []
    for blob in _blobs(archive):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_an_interruption_while_the_next_batch_is_stored_keeps_the_recorded_batch_and_nothing_else(
    cli: Cli, archive: Path, tmp_path: Path, store_kind: IngestOptions
) -> None:
    import custody.ingest
    from custody.archive import Archive
    from custody.records import Provenance

    folder = _two_batches_of_two(tmp_path)
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    before_items, before_events = _counts(archive)

    # The first batch reports its 2 MiB before the second starts; the third file interrupts.
    interrupt = _interrupt_after(2560 * 1024)
    with pytest.raises(KeyboardInterrupt):
        options = replace(store_kind, batch_files=2)
        custody.ingest.ingest(acting, [folder], Provenance(), recursive=True, on_bytes=interrupt, options=options)

    items, events = _counts(archive)
    assert items - before_items == 2
    assert events - before_events == 2
    _no_temp_files_and_only_complete_blobs(archive)
    rows = cli.ok("ingest", "-r", folder, "--json").json()
    assert [r["duplicate_of"] for r in rows] == ["EV-000001", "EV-000002", None, None]
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_ctrl_c_while_a_batch_is_recorded_records_nothing_and_leaves_only_complete_blobs(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_kind: IngestOptions
) -> None:
    import custody.ingest
    import custody.ingest.catalog
    from custody.archive import Archive
    from custody.records import Provenance

    folder = _two_batches_of_two(tmp_path)
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    before = _counts(archive)

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt  # on the main thread, while the next batch is being stored

    with monkeypatch.context() as patch:
        patch.setattr(custody.ingest.catalog, "record_many", interrupted)
        with pytest.raises(KeyboardInterrupt):
            options = replace(store_kind, batch_files=2)
            custody.ingest.ingest(acting, [folder], Provenance(), recursive=True, options=options)

    assert _counts(archive) == before
    _no_temp_files_and_only_complete_blobs(archive)
    rows = cli.ok("ingest", "-r", folder, "--json").json()
    assert len(rows) == 4 and all(r["duplicate_of"] is None for r in rows)
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_a_worker_stopped_after_reading_a_file_gives_up_before_its_blob_is_committed(
    archive: Path, tmp_path: Path
) -> None:
    from custody.archive import Archive
    from custody.ingest import collect
    from custody.ingest.pipeline import store_file

    clip = tmp_path / "clip.bin"
    clip.write_bytes(os.urandom(1024 * 1024))
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    (source,) = collect([clip], False, False)

    def stopped() -> None:
        raise KeyboardInterrupt  # what the pool's stop raises once the ingest is interrupted

    with pytest.raises(KeyboardInterrupt):
        store_file(acting, source, lambda _n: None, stopped)
    assert _blobs(archive) == []
    assert list((archive / "store" / "tmp").iterdir()) == []


# Bad input: one line naming the path, non-zero exit, nothing written.


def _refused(cli: Cli, archive: Path, *args: str | Path) -> str:
    before = _counts(archive)
    result = cli("ingest", *args)
    assert result.code != 0
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert _counts(archive) == before
    assert _blobs(archive) == []
    return result.err


def test_missing_file_is_refused(cli: Cli, archive: Path, tmp_path: Path) -> None:
    err = _refused(cli, archive, tmp_path / "nope.jpg")
    assert "nope.jpg: no such file" in err


def test_folder_without_recursive_is_refused(cli: Cli, archive: Path, evidence: Path) -> None:
    assert "pass --recursive" in _refused(cli, archive, evidence)


def test_a_bad_path_aborts_the_whole_batch_before_anything_is_stored(
    cli: Cli, archive: Path, evidence: Path, tmp_path: Path
) -> None:
    _refused(cli, archive, evidence / "strike.bin", tmp_path / "missing.mp4")


def test_symlink_is_refused_without_follow_symlinks(cli: Cli, archive: Path, evidence: Path) -> None:
    (evidence / "link.txt").symlink_to(evidence / "transcript.txt")
    assert "link.txt: is a symbolic link" in _refused(cli, archive, evidence / "link.txt")


def test_symlink_inside_the_tree_is_followed_when_asked(cli: Cli, archive: Path, evidence: Path) -> None:
    (evidence / "link.txt").symlink_to(evidence / "transcript.txt")
    rows = cli.ok("ingest", "-r", evidence, "--follow-symlinks", "--json").json()
    assert {r["original_name"] for r in rows} == {"transcript.txt", "strike.bin", "empty.dat", "link.txt"}


def test_symlink_out_of_the_tree_is_never_followed(cli: Cli, archive: Path, evidence: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("outside")
    (evidence / "escape.txt").symlink_to(outside)
    err = _refused(cli, archive, "-r", evidence, "--follow-symlinks")
    assert "escape.txt: symbolic link points outside" in err


def test_special_file_is_refused(cli: Cli, archive: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "pipe: not a regular file" in _refused(cli, archive, fifo)


def test_unreadable_file_is_refused(archive: Path, tmp_path: Path) -> None:
    secret = tmp_path / "locked.jpg"
    secret.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    secret.chmod(0)
    cmd = [sys.executable, "-m", "custody_cli.main", "--as", "alice", "ingest", str(secret)]
    if os.geteuid() == 0:
        # root reads anything; drop the capabilities that let it, as an ordinary user would lack them.
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all", *cmd]
    env = {**os.environ, "CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": "alice-secret"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert proc.returncode != 0
    assert "locked.jpg" in proc.stderr and "permission denied" in proc.stderr.lower()
    assert _counts(archive) == (0, 2)


def test_interrupted_ingest_leaves_nothing_and_a_rerun_completes(
    cli: Cli, archive: Path, tmp_path: Path, store_kind: IngestOptions
) -> None:
    from custody.archive import Archive
    from custody.ingest import collect, ingest_one
    from custody.records import Provenance

    # Large enough, in small chunks, that a child process told to stop as soon as its first
    # chunk is reported is still far from committing the blob.
    options = replace(store_kind, store_chunk=1024 * 1024)
    big = tmp_path / "clip.bin"
    with big.open("wb") as fh:
        fh.write(os.urandom(1024 * 1024))
        fh.truncate(256 * 1024**2)
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    interrupt = _interrupt_after(512 * 1024)

    before = _counts(archive)
    with pytest.raises(KeyboardInterrupt):
        ingest_one(acting, collect([big], False, False)[0], Provenance(), interrupt, options=options)
    assert _counts(archive) == before
    assert _blobs(archive) == [] and list((archive / "store" / "tmp").iterdir()) == []
    row = cli.ok("ingest", big, "--json").json()[0]
    with big.open("rb") as fh:
        assert row["sha256"] == hashlib.file_digest(fh, "sha256").hexdigest()


def _ingest_under_way(archive: Path, tmp_path: Path, past_bytes: int) -> tuple[subprocess.Popen[str], list[Path]]:
    """``custody ingest`` of a huge sparse file in a process group of its own, once its temp file
    holds ``past_bytes``; returns the process and the temp files then present."""
    big = tmp_path / "huge.bin"
    with big.open("wb") as fh:
        fh.truncate(16 * 1024**3)
    env = {**os.environ, "CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": "alice-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "custody_cli.main", "--as", "alice", "ingest", str(big)],
        env=env,
        cwd=Path(__file__).parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as a terminal's foreground job: Ctrl-C reaches every process in it
    )
    deadline = time.monotonic() + 60
    parts: list[Path] = []
    while time.monotonic() < deadline:
        parts = list((archive / "store" / "tmp").glob("*.part"))
        if parts and parts[0].stat().st_size > past_bytes:
            break
        time.sleep(0.01)
    return proc, parts


def test_killed_ingest_leaves_no_partial_blob_no_row_no_event(cli: Cli, archive: Path, tmp_path: Path) -> None:
    proc, _parts = _ingest_under_way(archive, tmp_path, 64 * 1024 * 1024)
    try:
        proc.kill()
        proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert _counts(archive) == (0, 2)
    assert _blobs(archive) == []
    # The next command that opens the store discards a dead process's temp file.
    small = tmp_path / "small.txt"
    small.write_text("after the crash")
    cli.ok("ingest", small)
    assert list((archive / "store" / "tmp").glob("*.part")) == []
    assert _counts(archive)[0] == 1


def test_ctrl_c_during_ingest_says_so_and_leaves_nothing(archive: Path, tmp_path: Path) -> None:
    proc, parts = _ingest_under_way(archive, tmp_path, 32 * 1024 * 1024)
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert [int(p.name.split("-")[0]) for p in parts] == [int(c) for c in children]  # stored by its child
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # only if the test failed half-way
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted; nothing half-written was kept"
    assert _counts(archive) == (0, 2)
    assert _blobs(archive) == [] and list((archive / "store" / "tmp").iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the command is left running


def test_one_gib_file_ingests_in_bounded_memory(archive: Path, tmp_path: Path) -> None:
    big = tmp_path / "gig.bin"
    with big.open("wb") as fh:
        fh.truncate(1024**3)
    env = {"CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": "alice-secret"}
    code, peak_mb, err = run_cli_measured("--as", "alice", "ingest", big, "--json", env=env)
    assert code == 0, err
    assert 0 < peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"


def test_records_of_a_slowly_recorded_batch_are_dated_with_their_ingest_events(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning a batch can take minutes (a manifest of thousands of rows over S3): each record is dated with the
    moment it is signed, which is its ingest event's time, never minutes before it (the record rules compare them)."""
    from datetime import timedelta

    import custody.ingest
    import custody.ingest.catalog
    from custody.archive import Archive
    from custody.records import Provenance
    from custody.timeutil import utc_now

    folder = tmp_path / "slow"
    folder.mkdir()
    for n in range(3):
        (folder / f"photo-{n}.bin").write_bytes(os.urandom(1000 + n))
    start, calls = utc_now() - timedelta(minutes=40), []

    def slow_clock() -> object:
        # Each look at the clock while the batch is planned is ten minutes later, up to the real time.
        calls.append(1)
        return min(start + timedelta(minutes=10 * len(calls)), utc_now())

    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    with monkeypatch.context() as slow:
        slow.setattr(custody.ingest.catalog, "utc_now", slow_clock)
        results = custody.ingest.ingest(acting, [folder], Provenance(), recursive=True)
    assert len(calls) > 3  # the planning did look at the clock several times
    logged = {e["item"]: e["time"] for e in cli.ok("log", "--json").json() if e["action"] == "ingest"}
    for result in results:
        record = cli.ok("show", result.item_id, "--json").json()["record"]
        assert record["ingested_at"] == logged[result.item_id]
    assert cli.ok("verify", "--all", "--json").json()["ok"]


def test_the_archives_own_files_are_refused_before_anything_is_stored(
    cli: Cli, archive: Path, evidence: Path, tmp_path: Path
) -> None:
    """'ingest -r .' in the folder holding both the evidence and the archive (the README walkthrough's layout)
    would take the catalog and the actors' key files in as evidence, and into the next export."""
    before = cli.ok("log", "--json").json()
    whole = cli("ingest", "-r", tmp_path)
    assert whole.code == 2 and f"inside the archive folder {archive}" in whole.err and whole.err.count("\n") == 1
    key = cli("ingest", archive / "keys" / "alice.signing.pem")
    assert key.code == 2 and "alice.signing.pem" in key.err and "inside the archive folder" in key.err
    manifest = tmp_path / "batch.csv"
    manifest.write_text(f"path\n{evidence / 'transcript.txt'}\n{archive / 'custody.toml'}\n")
    listed = cli("ingest", "--manifest", manifest)
    assert listed.code == 2 and "custody.toml" in listed.err and "inside the archive folder" in listed.err
    assert cli.ok("log", "--json").json() == before and cli.ok("list", "--json").json() == []


def test_a_store_and_catalog_kept_outside_the_archive_folder_are_refused_too(
    cli: Cli, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init --db and --store may put the catalog and the blobs (withheld witness values among them) elsewhere:
    they are the archive's own files as much as those in its folder, and must never leave as evidence."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "archive"
    cli.ok("init", root, "--admin", "alice", "--db", f"sqlite:///{elsewhere / 'catalog.db'}",
           "--store", f"file:{elsewhere / 'store'}", new_passphrase=PASSPHRASES["alice"])  # fmt: skip
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root))
    cli.ok("ingest", evidence / "transcript.txt", "--collected-from", "a witness")
    before = cli.ok("log", "--json").json()
    whole = cli("ingest", "-r", elsewhere)
    assert whole.code == 2 and "custody never ingests its own catalog" in whole.err, whole.err
    catalog = cli("ingest", elsewhere / "catalog.db")
    assert catalog.code == 2 and "catalog.db" in catalog.err and "the archive's own files" in catalog.err
    blob = next(p for p in (elsewhere / "store").rglob("*") if p.is_file())
    stored = cli("ingest", blob)
    assert stored.code == 2 and f"inside the archive's store {elsewhere / 'store'}" in stored.err, stored.err
    assert cli.ok("log", "--json").json() == before and len(cli.ok("list", "--json").json()) == 1


def test_a_hard_link_to_a_key_file_is_refused_as_the_key_file(cli: Cli, archive: Path, evidence: Path) -> None:
    """A second name for the same file (a hard link; a bind mount or another spelling of the archive folder alike)
    is the archive's file: files are compared by identity, not by the name they were given under."""
    os.link(archive / "keys" / "alice.signing.pem", evidence / "notes.txt")
    before = cli.ok("log", "--json").json()
    linked = cli("ingest", "-r", evidence)
    assert linked.code == 2 and "notes.txt" in linked.err and "the archive's own files" in linked.err, linked.err
    assert cli.ok("log", "--json").json() == before and cli.ok("list", "--json").json() == []


@pytest.mark.parametrize("follow", [False, True])
def test_a_file_swapped_after_it_was_checked_is_refused_not_read(
    cli: Cli, archive: Path, evidence: Path, follow: bool
) -> None:
    """Every check (regular file, inside the tree, not the archive's own) ran on the file as it was when collected; a
    large batch opens its last files minutes later. Replaced meanwhile (a hard link to a key file, or with
    --follow-symlinks a symbolic link to it), the new file was read and stored as the evidence."""
    from custody.archive import Archive
    from custody.errors import InputError
    from custody.ingest import ingest
    from custody.records import Provenance

    key = archive / "keys" / "alice.signing.pem"
    target = evidence / "transcript.txt"

    def swap(_sources: object) -> None:
        target.unlink()
        if follow:
            target.symlink_to(key)
        else:
            os.link(key, target)

    acting = Archive.open(archive).act("alice", lambda _n: PASSPHRASES["alice"])
    with pytest.raises(InputError, match="changed after it was checked"):
        ingest(acting, [target], Provenance(), follow_symlinks=follow, on_start=swap)
    assert cli.ok("list", "--json").json() == []
