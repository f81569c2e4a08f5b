"""What the file says about itself: extracted at ingest, signed into the record, never changing the file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.archives import Cli
from tests.support.media import exiftool_read, exiftool_tag, ffprobe, make_mp4, make_picture

pytestmark = pytest.mark.skipif(
    not shutil.which("exiftool") or not shutil.which("ffmpeg"),
    reason="needs exiftool and ffmpeg (.ci/run installs them)",
)


def _record(cli: Cli, path: Path, *extra: str) -> dict[str, Any]:
    item = cli.ok("ingest", path, *extra, "--json").json()[0]["item_id"]
    return cli.ok("show", item, "--json").json()["record"]


@pytest.fixture
def tagged_jpeg(tmp_path: Path) -> Path:
    path = make_picture(tmp_path / "strike.jpg", seed=7)
    return exiftool_tag(
        path,
        DateTimeOriginal="2026:02:28 14:03:11",
        OffsetTimeOriginal="+02:00",
        GPSLatitude=47.8388,
        GPSLatitudeRef="N",
        GPSLongitude=35.1396,
        GPSLongitudeRef="E",
        GPSAltitude=98.5,
        Make="Samsung",
        Model="SM-A525F",
    )


def test_exif_capture_time_gps_and_device_match_exiftool(cli: Cli, archive: Path, tagged_jpeg: Path) -> None:
    truth = exiftool_read(tagged_jpeg)
    meta = _record(cli, tagged_jpeg)["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11+02:00"
    assert meta["gps"]["latitude"] == pytest.approx(truth["GPSLatitude"], abs=1e-6)
    assert meta["gps"]["longitude"] == pytest.approx(truth["GPSLongitude"], abs=1e-6)
    assert meta["gps"]["altitude"] == pytest.approx(truth["GPSAltitude"], abs=1e-3)
    assert meta["device"] == {"make": truth["Make"], "model": truth["Model"],
                              "sources": {"make": "IFD0:Make", "model": "IFD0:Model"}}
    assert (meta["width"], meta["height"]) == (truth["ImageWidth"], truth["ImageHeight"])


def test_extraction_does_not_modify_the_file(cli: Cli, archive: Path, tagged_jpeg: Path) -> None:
    before = hashlib.sha256(tagged_jpeg.read_bytes()).hexdigest()
    record = _record(cli, tagged_jpeg)
    assert record["sha256"] == before == hashlib.sha256(tagged_jpeg.read_bytes()).hexdigest()


def test_capture_time_without_offset_is_marked_local_of_unknown_zone(cli: Cli, archive: Path, tmp_path: Path) -> None:
    path = exiftool_tag(make_picture(tmp_path / "p.jpg"), DateTimeOriginal="2026:02:28 14:03:11")
    meta = _record(cli, path)["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11"
    assert "unknown" in meta["captured_at_zone"]


def test_complete_raw_dump_is_its_own_blob(cli: Cli, archive: Path, tagged_jpeg: Path) -> None:
    digest = _record(cli, tagged_jpeg)["metadata"]["raw_sha256"]
    blob = archive / "store" / "sha256" / digest[:2] / digest[2:4] / digest
    raw = json.loads(blob.read_text())
    assert raw["exiftool"]["ExifIFD:DateTimeOriginal"] == "2026:02:28 14:03:11"
    # Nothing about custody's temp copy of the file (its name, folder, times) is kept.
    assert not [key for key in raw["exiftool"] if key.startswith("System:") or key == "SourceFile"]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest


def test_mp4_duration_size_and_creation_time_match_ffprobe(cli: Cli, archive: Path, tmp_path: Path) -> None:
    video = make_mp4(tmp_path / "clip.mp4", creation_time="2026-02-28T12:03:11Z", duration=2.0)
    truth = ffprobe(video)
    record = _record(cli, video)
    meta = record["metadata"]
    assert record["media_type"] == "video/mp4"
    assert truth["format"]["tags"]["creation_time"] == "2026-02-28T12:03:11.000000Z"
    assert meta["captured_at"] == "2026-02-28T12:03:11Z"
    assert meta["capture_time"]["tag"] == "QuickTime:CreateDate"
    assert meta["duration_seconds"] == pytest.approx(float(truth["format"]["duration"]), abs=0.01)
    assert (meta["width"], meta["height"]) == (320, 240)
    assert "h264" in meta["codecs"] and meta["frame_rate"] == 25.0


def test_png_without_metadata_is_flagged(cli: Cli, archive: Path, tmp_path: Path) -> None:
    record = _record(cli, make_picture(tmp_path / "plain.png"))
    assert record["media_type"] == "image/png"
    assert "metadata_absent" in {f["code"] for f in record["flags"]}


def test_jpeg_named_mp4_is_sniffed_and_flagged(cli: Cli, archive: Path, tmp_path: Path) -> None:
    disguised = make_picture(tmp_path / "video.jpg")
    disguised = disguised.rename(tmp_path / "video.mp4")
    record = _record(cli, disguised)
    assert record["media_type"] == "image/jpeg"
    (flag,) = [f for f in record["flags"] if f["code"] == "extension_mismatch"]
    assert ".mp4" in flag["message"] and "image/jpeg" in flag["message"]


def test_truncated_jpeg_is_preserved_with_warnings(cli: Cli, archive: Path, tagged_jpeg: Path, tmp_path: Path) -> None:
    data = tagged_jpeg.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    record = _record(cli, cut)
    assert record["sha256"] == hashlib.sha256(cut.read_bytes()).hexdigest()
    assert record["warnings"] and "corrupt" in {f["code"] for f in record["flags"]}
    assert record["metadata"]["captured_at"] == "2026-02-28T14:03:11+02:00"


def test_capture_after_claimed_collection_is_flagged(cli: Cli, archive: Path, tagged_jpeg: Path) -> None:
    record = _record(cli, tagged_jpeg, "--collected-at", "2026-02-27T10:00:00+02:00")
    assert "capture_after_collection" in {f["code"] for f in record["flags"]}


def test_show_lists_flags_for_people(cli: Cli, archive: Path, tmp_path: Path) -> None:
    item = cli.ok("ingest", make_picture(tmp_path / "plain.png"), "--json").json()[0]["item_id"]
    assert "metadata_absent" in cli.ok("show", item).out


def test_missing_tools_are_said_not_hidden_and_nothing_is_guessed(cli: Cli, archive: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    video = make_mp4(tmp_path / "clip.mp4", creation_time="2026-02-28T12:03:11Z")
    monkeypatch.setenv("PATH", "/nonexistent")
    record = _record(cli, video)
    assert record["metadata"]["tool_missing"] == "exiftool, ffprobe"
    assert "captured_at" not in record["metadata"] and "time_candidates" not in record["metadata"]
    assert "tool_missing" in {f["code"] for f in record["flags"]}
    assert "ffprobe" in cli.ok("show", record["item_id"]).out


def test_missing_exiftool_leaves_no_capture_time_from_another_reader(cli: Cli, archive: Path, tagged_jpeg: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    record = _record(cli, tagged_jpeg)
    meta = record["metadata"]
    assert meta["tool_missing"] == "exiftool"
    assert not {"captured_at", "gps", "device"} & set(meta)
    # Nothing says the metadata is absent: it was not read.
    assert {f["code"] for f in record["flags"]} == {"tool_missing"}
    assert meta["decode_check"] == "complete" and meta["read_by"]["decode_check"].startswith("Pillow ")


def test_similar_finds_a_resized_recompressed_copy_but_not_an_unrelated_image(cli: Cli, archive: Path,
                                                                              tmp_path: Path) -> None:
    original = make_picture(tmp_path / "original.jpg", seed=3, size=(800, 600))
    copy = tmp_path / "reupload.jpg"
    with Image.open(original) as image:
        image.resize((400, 300)).save(copy, "JPEG", quality=45)
    other = make_picture(tmp_path / "other.jpg", seed=99, size=(800, 600))
    ids = [cli.ok("ingest", p, "--json").json()[0]["item_id"] for p in (original, copy, other)]
    matches = cli.ok("similar", ids[0], "--json").json()
    assert [m["item_id"] for m in matches] == [ids[1]]
    assert matches[0]["distance"] <= 10


def test_similar_finds_reencoded_footage(cli: Cli, archive: Path, tmp_path: Path) -> None:
    first = make_mp4(tmp_path / "a.mp4", creation_time="2026-02-28T12:00:00Z", size="640x480")
    second = tmp_path / "reupload.mp4"  # what a platform does: smaller, harder compressed, metadata gone
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            first,
            "-vf",
            "scale=320:240",
            "-c:v",
            "libx264",
            "-crf",
            "38",
            "-map_metadata",
            "-1",
            second,
        ],
        check=True,
    )
    unrelated = tmp_path / "other.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=640x480:rate=25",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            unrelated,
        ],
        check=True,
    )
    ids = [cli.ok("ingest", p, "--json").json()[0]["item_id"] for p in (first, second, unrelated)]
    assert [m["item_id"] for m in cli.ok("similar", ids[0], "--json").json()] == [ids[1]]


def test_similar_on_a_text_item_says_why_not(cli: Cli, archive: Path, evidence: Path) -> None:
    item = cli.ok("ingest", evidence / "transcript.txt", "--json").json()[0]["item_id"]
    result = cli("similar", item)
    assert result.code != 0 and "no perceptual hash" in result.err


def test_manifest_ingests_rows_with_their_own_provenance(cli: Cli, archive: Path, tmp_path: Path) -> None:
    make_picture(tmp_path / "a.jpg", seed=1)
    make_picture(tmp_path / "b.jpg", seed=2)
    (tmp_path / "batch.csv").write_text(
        "path,platform,posted_at,uploader,collected_from\n"
        "a.jpg,Telegram,2026-02-28T15:00:00+02:00,@witness17,Field team 3\n"
        "b.jpg,X,2026-03-01T09:00:00+00:00,@reporter,Journalist A\n"
    )
    rows = cli.ok("ingest", "--manifest", tmp_path / "batch.csv", "--case", "UA-9", "--json").json()
    given = {r["original_name"]: cli.ok("show", r["item_id"], "--json").json()["acquisitions"][0] for r in rows}
    assert len(rows) == 2
    assert given["a.jpg"]["provenance"]["platform"] == "Telegram"
    assert given["b.jpg"]["provenance"]["uploader"] == "@reporter"
    assert given["b.jpg"]["provenance"]["case"] == "UA-9"


def test_bad_manifest_rows_are_reported_by_line_and_nothing_is_ingested(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    make_picture(tmp_path / "a.jpg")
    (tmp_path / "batch.csv").write_text(
        "path,posted_at\na.jpg,2026-02-28T15:00:00+02:00\nmissing.jpg,\na.jpg,yesterday\n"
    )
    result = cli("ingest", "--manifest", tmp_path / "batch.csv")
    assert result.code != 0
    assert "line 3" in result.err and "line 4" in result.err and "nothing was ingested" in result.err
    assert cli.ok("list", "--json").json() == []


def test_provenance_options_are_recorded(cli: Cli, archive: Path, evidence: Path) -> None:
    item = cli.ok("ingest", evidence / "transcript.txt", "--platform", "Telegram", "--posted-at",
                  "2026-02-28T16:00:00+02:00", "--uploader", "@w17", "--title", "Strike", "--description",
                  "Two explosions", "--language", "uk", "--collected-from", "W-17", "--capture-device", "phone",
                  "--json").json()[0]["item_id"]  # fmt: skip
    given = cli.ok("show", item, "--json").json()["acquisitions"][0]
    assert given["provenance"]["language"] == "uk" and given["provenance"]["collected_from"] == "W-17"
