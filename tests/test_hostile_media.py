"""Hostile media, as an attacker would hand it over: bounded, crash-free, no network, nothing left running.

Every file is kept byte-exact and recorded; a problem becomes a flag and a warning naming the
evidence file; the batch's other files are ingested. Memory is measured in a fresh process
(tests/support/peak_memory.py), with everything the command starts (ffmpeg, ExifTool) counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import custody.ingest
from custody.archive import Archive
from custody.errors import InputError
from custody.ingest import IngestOptions
from custody.metadata import content_credentials, exiftool, similar, video
from custody.records import Provenance
from tests.support.archives import Cli
from tests.support.media import exiftool_write, make_8k_mp4, make_mp4, make_picture, pixel_bomb_jpeg
from tests.support.peak_memory import run_cli_measured
from tests.support.schemas import validate

pytestmark = pytest.mark.skipif(not shutil.which("exiftool") or not shutil.which("ffmpeg"),
                                reason="needs exiftool and ffmpeg (.ci/run installs them)")

MEMORY_BOUND_MB = 1024
ROOT = Path(__file__).parents[1]


def _env(archive: Path, **extra: str) -> dict[str, str]:
    return {"CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": "alice-secret", **extra}


def _records(cli: Cli) -> dict[str, dict]:
    return {r["original_name"]: r for r in cli.ok("list", "--json").json()}


def _codes(record: dict) -> set[str]:
    return {f["code"] for f in record["flags"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_library_noise(stderr: str) -> None:
    for word in ("Warning", "DecompressionBomb", "Traceback", "UserWarning"):
        assert word not in stderr, stderr


# --- memory and time bounds -----------------------------------------------------------------------


def test_a_pixel_bomb_is_kept_flagged_and_the_batch_goes_on_in_bounded_memory(cli: Cli, archive: Path,
                                                                              tmp_path: Path) -> None:
    bomb = pixel_bomb_jpeg(tmp_path / "bomb.jpg", width=30000, height=30000)  # 900 MP claimed, 2 KB on disk
    big = pixel_bomb_jpeg(tmp_path / "big.jpg", width=12000, height=8000)  # 96 MP: Pillow only warns
    good = make_picture(tmp_path / "good.jpg")
    code, peak_mb, err = run_cli_measured("--as", "alice", "ingest", bomb, big, good, "--json", env=_env(archive))
    assert code == 0, err
    assert 0 < peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb:.0f} MB"
    _no_library_noise(err)
    records = _records(cli)
    assert set(records) == {"bomb.jpg", "big.jpg", "good.jpg"}
    for name, path in (("bomb.jpg", bomb), ("big.jpg", big), ("good.jpg", good)):
        assert records[name]["sha256"] == _sha256(path)
        validate("item-record", records[name])
    assert "decode_skipped" in _codes(records["bomb.jpg"])
    assert records["bomb.jpg"]["metadata"]["decode_check"] == "skipped"
    assert (records["bomb.jpg"]["metadata"]["width"], records["bomb.jpg"]["metadata"]["height"]) == (30000, 30000)
    assert records["big.jpg"]["metadata"]["width"] == 12000
    assert _codes(records["good.jpg"]) == {"metadata_absent"}


def test_a_tiny_8k_video_is_hashed_in_bounded_memory(cli: Cli, archive: Path, tmp_path: Path) -> None:
    # 25 frames: the thumbnail filter, fed them at full size, held 1.4 GB (5 GB for 100 frames).
    clip = make_8k_mp4(tmp_path / "8k.mp4", seconds=1.0)
    assert clip.stat().st_size < 200_000
    good = make_picture(tmp_path / "good.jpg")
    code, peak_mb, err = run_cli_measured("--as", "alice", "ingest", clip, good, "--json", env=_env(archive))
    assert code == 0, err
    assert 0 < peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb:.0f} MB"
    _no_library_noise(err)
    records = _records(cli)
    meta = records["8k.mp4"]["metadata"]
    assert (meta["width"], meta["height"]) == (7680, 4320)
    assert meta["decode_check"] == "complete" and len(meta["phash"].split(",")) >= 1
    assert records["8k.mp4"]["sha256"] == _sha256(clip) and "good.jpg" in records


def test_an_ffmpeg_timeout_is_a_flag_and_the_batch_goes_on(cli: Cli, archive: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similar, "FFMPEG_TIMEOUT_S", 0.01)
    clip = make_mp4(tmp_path / "clip.mp4", creation_time="2026-02-28T12:03:11Z")
    good = make_picture(tmp_path / "good.jpg")
    rows = cli.ok("ingest", clip, good, "--json").json()
    assert len(rows) == 2
    record = _records(cli)["clip.mp4"]
    (flag,) = [f for f in record["flags"] if f["code"] == "tool_timeout"]
    assert flag["message"] == "ffmpeg did not finish within 0.01 s; stopped; no perceptual hash"
    assert "phash" not in record["metadata"]
    assert record["metadata"]["captured_at"] == "2026-02-28T12:03:11Z"  # what could be read, was
    assert record["warnings"] == ["clip.mp4: ffmpeg did not finish within 0.01 s; stopped"]


def test_an_ffprobe_timeout_is_a_flag_and_the_batch_goes_on(cli: Cli, archive: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "FFPROBE_TIMEOUT_S", 0.001)
    clip = make_mp4(tmp_path / "clip.mp4", creation_time="2026-02-28T12:03:11Z")
    assert len(cli.ok("ingest", clip, make_picture(tmp_path / "good.jpg"), "--json").json()) == 2
    record = _records(cli)["clip.mp4"]
    assert "tool_timeout" in _codes(record)
    assert record["warnings"] == ["clip.mp4: ffprobe did not finish within 0.001 s; stopped"]


def test_an_exiftool_timeout_is_a_flag_and_the_next_file_gets_a_fresh_exiftool(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = exiftool_write(make_picture(tmp_path / "p.jpg"), "-DateTimeOriginal=2026:02:28 14:03:11")
    monkeypatch.setattr(exiftool, "TIMEOUT_S", 0.0)
    cli.ok("ingest", photo)
    record = _records(cli)["p.jpg"]
    assert "tool_timeout" in _codes(record) and "captured_at" not in record["metadata"]
    assert "metadata_absent" not in _codes(record)  # not read is not absent
    assert record["warnings"] == ["p.jpg: ExifTool did not finish in time; its process was stopped"]
    monkeypatch.setattr(exiftool, "TIMEOUT_S", 60.0)
    again = exiftool_write(make_picture(tmp_path / "q.jpg", seed=2), "-DateTimeOriginal=2026:02:28 14:03:12")
    cli.ok("ingest", again)
    assert _records(cli)["q.jpg"]["metadata"]["captured_at"] == "2026-02-28T14:03:12"


# --- files that change under our feet -------------------------------------------------------------


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: ingest hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("in_child", [True, False], ids=["child-process", "threads"])
def test_a_file_replaced_by_a_fifo_after_the_check_is_refused_not_waited_on(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_child: bool
) -> None:
    good = make_picture(tmp_path / "good.jpg")
    swapped = make_picture(tmp_path / "swapped.jpg", seed=2)
    checked = custody.ingest.collect

    def collect_then_swap(*args: object, **kwargs: object) -> list[custody.ingest.Source]:
        sources = checked(*args, **kwargs)  # type: ignore[arg-type]
        swapped.unlink()
        os.mkfifo(swapped)  # nobody ever writes to it
        return sources

    monkeypatch.setattr(custody.ingest, "collect", collect_then_swap)
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    with _deadline(60), pytest.raises(InputError, match=r"swapped\.jpg: is no longer a regular file"):
        custody.ingest.ingest(acting, [good, swapped], Provenance(), options=IngestOptions(store_in_child=in_child))
    assert cli.ok("list", "--json").json() == []


# --- no network -----------------------------------------------------------------------------------


def _xmp_provenance(url: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'dcterms:provenance="{url}"/></rdf:RDF></x:xmpmeta>'
    )


def _connection_pending(server: socket.socket, wait_s: float) -> bool:
    readable, _w, _x = select.select([server], [], [], wait_s)
    return bool(readable)


def test_a_remote_manifest_is_recorded_and_never_fetched(cli: Cli, archive: Path, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/manifests/strike.c2pa"
        xmp = tmp_path / "provenance.xmp"
        xmp.write_text(_xmp_provenance(url))
        photo = exiftool_write(make_picture(tmp_path / "strike.jpg"), f"-xmp<={xmp}")
        record = next(iter(_records_after(cli, photo).values()))
        assert not _connection_pending(server, 0.5), "ingest connected to the URL the file's author chose"
        assert record["metadata"]["content_credentials"] == {
            "not_read": content_credentials.REMOTE_NOT_FETCHED,
            "remote_manifest": {"url": url, "fetched": False},
        }
        (flag,) = [f for f in record["flags"] if f["code"] == "c2pa_remote_not_fetched"]
        assert url in flag["message"]
        validate("item-record", record)
        # The listener does catch a fetch: the library with its default settings connects.
        import c2pa

        with photo.open("rb") as stream, contextlib.suppress(c2pa.C2paError):
            c2pa.Reader.try_create("image/jpeg", stream)
        assert _connection_pending(server, 5)


def _records_after(cli: Cli, path: Path) -> dict[str, dict]:
    cli.ok("ingest", path)
    return _records(cli)


# --- ExifTool's lifetime --------------------------------------------------------------------------


def _exiftools_marked(marker: str, serving: bool = False) -> list[int]:
    """Running exiftool processes started under this test's marker (zombies have no environment);
    with ``serving``, only long-lived ``-stay_open`` ones (not a ``-ver`` probe)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            # The program itself (perl -w /usr/bin/exiftool ...), not a command that mentions it.
            if serving and b"-stay_open" not in argv:
                continue
            if any(os.path.basename(arg) == b"exiftool" for arg in argv[:3]) and marker.encode() in (
                entry / "environ"
            ).read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _gone(marker: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while _exiftools_marked(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("in_child", [True, False], ids=["child-process", "threads"])
def test_one_exiftool_serves_an_ingest_and_none_is_left_after_it(cli: Cli, archive: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 in_child: bool) -> None:
    marker = f"CUSTODY_TEST_MARK_{uuid.uuid4().hex}"
    monkeypatch.setenv(marker, "1")
    seen: set[int] = set()
    read = exiftool.read_tags

    def watched(path: Path, timeout: float | None = None) -> tuple[dict, str]:
        result = read(path, timeout)
        seen.update(_exiftools_marked(marker))
        return result

    monkeypatch.setattr(exiftool, "read_tags", watched)
    photos = [make_picture(tmp_path / f"p{i}.jpg", seed=i) for i in range(6)]
    acting = Archive.open(archive).act("alice", lambda _n: "alice-secret")
    custody.ingest.ingest(acting, photos, Provenance(), options=IngestOptions(store_in_child=in_child))
    assert _gone(marker), "an exiftool process outlived the ingest"
    if not in_child:  # the child's processes are not visible to this process's wrapper
        assert len(seen) == 1, f"{len(seen)} exiftool processes for one ingest"


def _ingest_in_background(archive: Path, tmp_path: Path, marker: str, files: int = 150) -> subprocess.Popen[str]:
    photos = [str(make_picture(tmp_path / f"p{i:03d}.jpg", seed=i, size=(320, 240))) for i in range(files)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "custody_cli.main", "--as", "alice", "ingest", *photos],
        env={**os.environ, **_env(archive), marker: "1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _exiftools_marked(marker) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert _exiftools_marked(marker), "exiftool never started"
    return proc


def test_a_whole_ingest_in_a_forked_store_process_uses_one_exiftool(archive: Path, tmp_path: Path) -> None:
    marker = f"CUSTODY_TEST_MARK_{uuid.uuid4().hex}"
    proc = _ingest_in_background(archive, tmp_path, marker, files=40)
    seen: set[int] = set()
    try:
        while proc.poll() is None:
            seen.update(_exiftools_marked(marker, serving=True))
            time.sleep(0.005)
        _out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert len(seen) == 1, f"{len(seen)} exiftool processes for one ingest of 40 files"
    assert _gone(marker)


def test_ctrl_c_leaves_no_exiftool_running(archive: Path, tmp_path: Path) -> None:
    marker = f"CUSTODY_TEST_MARK_{uuid.uuid4().hex}"
    proc = _ingest_in_background(archive, tmp_path, marker)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground job
        _out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert _gone(marker)


def test_a_killed_ingest_leaves_no_exiftool_running(archive: Path, tmp_path: Path) -> None:
    marker = f"CUSTODY_TEST_MARK_{uuid.uuid4().hex}"
    proc = _ingest_in_background(archive, tmp_path, marker)
    try:
        proc.kill()  # the command alone, SIGKILL: nothing of ours runs to clean up
        proc.communicate(timeout=60)
        left = _gone(marker)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its process group
    assert left, "exiftool outlived a killed ingest"



def test_an_exiftool_failure_is_flagged_and_not_taken_for_absent_metadata(tmp_path: Path) -> None:
    from custody.metadata import compute_flags, extract
    from custody.timeutil import utc_now

    # A line break in a path would let it smuggle options into ExifTool's argument stream: refused.
    odd = make_picture(tmp_path / "two\nlines.jpg")
    extraction = extract(odd, "image/jpeg", "evidence.jpg")
    assert extraction.flags == [{"code": "tool_error", "message": "ExifTool could not read the file (the path holds "
                                 "a line break; ExifTool's argument protocol cannot carry it)"}]
    flags = compute_flags(extraction.metadata, extraction.warnings, ingested_at=utc_now(), collected_at=None,
                          fs_mtime=None, name="evidence.jpg", media_type="image/jpeg", extracted=extraction.flags)
    assert "metadata_absent" not in {f["code"] for f in flags}
    assert extraction.warnings[0].startswith("evidence.jpg: ExifTool could not read the file")
