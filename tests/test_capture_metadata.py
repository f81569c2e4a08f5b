"""Capture time, place and device: what the file really says, with the tag it says it in.

The corpus is made here with exiftool, ffmpeg and pillow-heif, shaped like the files of public
bug reports (iPhone MOV and HEIC, cameras without a GPS fix or a set clock); every test asserts
the exact value custody signs.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.archives import Cli
from tests.support.media import (
    exiftool_write,
    make_heic,
    make_iphone_mov,
    make_mov,
    make_mp4,
    make_picture,
    zero_gps_rationals,
)
from tests.support.schemas import validate

pytestmark = pytest.mark.skipif(not shutil.which("exiftool") or not shutil.which("ffmpeg"),
                                reason="needs exiftool and ffmpeg (.ci/run installs them)")

APPLE_KEY = "Keys:CreationDate"


def _record(cli: Cli, path: Path) -> dict[str, Any]:
    item = cli.ok("ingest", path, "--json").json()[0]["item_id"]
    record = cli.ok("show", item, "--json").json()["record"]
    validate("item-record", record)
    return record


def _codes(record: dict) -> list[str]:
    return [f["code"] for f in record["flags"]]


def _photo(tmp_path: Path, name: str, *assignments: str) -> Path:
    return exiftool_write(make_picture(tmp_path / name), *assignments)


# --- capture time ---------------------------------------------------------------------------------


def test_iphone_mov_takes_the_apple_creationdate_not_the_container_stop_time(cli: Cli, archive: Path,
                                                                             tmp_path: Path) -> None:
    mov = make_iphone_mov(tmp_path / "IMG_0412.MOV", creationdate="2022:02:28 12:46:00+02:00",
                          container_utc="2022-02-28T10:49:00Z")
    record = _record(cli, mov)
    meta = record["metadata"]
    assert meta["captured_at"] == "2022-02-28T12:46:00+02:00"
    assert meta["capture_time"]["tag"] == APPLE_KEY
    assert meta["capture_time"]["zone"] == "offset stated in the value"
    assert meta["device"] == {"make": "Apple", "model": "iPhone 12", "software": "15.3.1",
                              "sources": {"make": "Keys:Make", "model": "Keys:Model", "software": "Keys:Software"}}
    container = next(c for c in meta["time_candidates"] if c["tag"] == "QuickTime:CreateDate")
    assert container["time"] == "2022-02-28T10:49:00Z" and container["eligible"] is True
    # Three minutes after the start of a one-second recording: both values are flagged.
    (disagreement,) = [f for f in record["flags"] if f["code"] == "time_disagreement"]
    assert "2022-02-28T12:46:00+02:00" in disagreement["message"]
    assert "2022-02-28T10:49:00Z" in disagreement["message"] and "3 min apart" in disagreement["message"]
    assert "metadata_absent" not in _codes(record)


def test_a_container_time_within_the_recording_length_is_no_disagreement(cli: Cli, archive: Path,
                                                                         tmp_path: Path) -> None:
    # Recording stopped 3 s after it started: the container time is its stop time, as specified.
    mov = make_iphone_mov(tmp_path / "long.MOV", creationdate="2022:02:28 12:46:00+02:00",
                          container_utc="2022-02-28T10:46:03Z", duration=3.0)
    record = _record(cli, mov)
    assert record["metadata"]["captured_at"] == "2022-02-28T12:46:00+02:00"
    assert "time_disagreement" not in _codes(record)


def test_mov_with_only_the_apple_key_is_not_called_stripped(cli: Cli, archive: Path, tmp_path: Path) -> None:
    mov = make_iphone_mov(tmp_path / "only-key.MOV", creationdate="2022:02:28 12:46:00+02:00", container_utc=None)
    record = _record(cli, mov)
    meta = record["metadata"]
    assert meta["captured_at"] == "2022-02-28T12:46:00+02:00"
    assert meta["capture_time"]["tag"] == APPLE_KEY
    assert "metadata_absent" not in _codes(record)
    # The container's zero time (1904, QuickTime's epoch) is recorded as a placeholder, not a time.
    zero = next(c for c in meta["time_candidates"] if c["tag"] == "QuickTime:CreateDate")
    assert zero["status"] == "placeholder" and "time" not in zero


def test_video_rotation_and_iso6709_location_are_recorded(cli: Cli, archive: Path, tmp_path: Path) -> None:
    mov = make_iphone_mov(tmp_path / "r.MOV", creationdate="2022:02:28 12:46:00+02:00", container_utc=None)
    meta = _record(cli, mov)["metadata"]
    assert meta["rotation"]["degrees"] == 90
    assert meta["gps"] == {"source": "Keys:GPSCoordinates (com.apple.quicktime.location.ISO6709)",
                           "status": "valid", "latitude": 50.4501, "longitude": 30.5234, "altitude": 120.0}


def test_quicktime_user_data_location_keeps_its_southern_and_western_signs(cli: Cli, archive: Path,
                                                                          tmp_path: Path) -> None:
    mov = exiftool_write(make_mov(tmp_path / "xyz.mov", creation_time="2026-02-28T12:00:00Z"),
                         "-UserData:GPSCoordinates#=-12.5 -45.25")
    gps = _record(cli, mov)["metadata"]["gps"]
    assert (gps["latitude"], gps["longitude"], gps["status"]) == (-12.5, -45.25, "valid")
    assert gps["source"].startswith("UserData:GPSCoordinates")


def test_mp4_container_time_is_utc_and_named(cli: Cli, archive: Path, tmp_path: Path) -> None:
    meta = _record(cli, make_mp4(tmp_path / "c.mp4", creation_time="2026-02-28T12:03:11Z"))["metadata"]
    assert meta["captured_at"] == "2026-02-28T12:03:11Z"
    assert meta["capture_time"] == {
        "tag": "QuickTime:CreateDate",
        "meaning": "container creation time: UTC by the QuickTime specification, written when recording stopped",
        "zone": "UTC by the format's specification",
    }


def test_exif_time_takes_its_own_offset_and_keeps_sub_seconds(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "p.jpg", "-DateTimeOriginal=2026:02:28 14:03:11", "-OffsetTimeOriginal=+02:00",
                   "-SubSecTimeOriginal=050")
    meta = _record(cli, photo)["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11.050+02:00"
    assert meta["capture_time"]["zone"] == "offset from ExifIFD:OffsetTimeOriginal"


def test_an_offset_belonging_to_another_time_is_not_applied(cli: Cli, archive: Path, tmp_path: Path) -> None:
    # OffsetTime belongs to DateTime (the file's modification), not to DateTimeOriginal.
    photo = _photo(tmp_path, "p.jpg", "-DateTimeOriginal=2026:02:28 14:03:11", "-OffsetTime=+05:00",
                   "-ModifyDate=2026:03:01 09:00:00")
    meta = _record(cli, photo)["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11"
    assert meta["captured_at_zone"] == "unknown (local time of the device)"
    modified = next(c for c in meta["time_candidates"] if c["tag"] == "IFD0:ModifyDate")
    assert modified["time"] == "2026-03-01T09:00:00+05:00" and modified["eligible"] is False


def test_a_modification_time_never_becomes_the_capture_time(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "edited.jpg", "-ModifyDate=2026:03:01 09:00:00", "-XMP-xmp:ModifyDate=2026:03:01 09:00:00")
    record = _record(cli, photo)
    meta = record["metadata"]
    assert "captured_at" not in meta
    assert {c["tag"]: c["eligible"] for c in meta["time_candidates"]} == {"IFD0:ModifyDate": False,
                                                                         "XMP-xmp:ModifyDate": False}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0000:00:00 00:00:00", "all zeros"),
        ("    :  :     :  :  ", "blank"),
        ("1970:01:01 00:00:00", "clock never set (1970-01-01, an epoch start)"),
    ],
    ids=["zeros", "blanks", "epoch"],
)
def test_placeholder_times_are_recorded_as_placeholders_never_as_times(cli: Cli, archive: Path, tmp_path: Path,
                                                                       value: str, reason: str) -> None:
    # -n: write the value as given (exiftool would otherwise refuse a date it cannot parse).
    record = _record(cli, _photo(tmp_path, "p.jpg", "-n", f"-DateTimeOriginal={value}"))
    meta = record["metadata"]
    assert "captured_at" not in meta
    (candidate,) = meta["time_candidates"]
    assert candidate == {"tag": "ExifIFD:DateTimeOriginal", "value": value,
                         "meaning": "when the picture was taken (EXIF DateTimeOriginal)", "eligible": True,
                         "status": "placeholder", "reason": reason}
    (flag,) = [f for f in record["flags"] if f["code"] == "time_placeholder"]
    assert repr(value) in flag["message"]


def test_xmp_date_created_is_used_when_exif_has_none(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "x.jpg", "-XMP-photoshop:DateCreated=2026:02:28 14:03:11+02:00")
    meta = _record(cli, photo)["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11+02:00"
    assert meta["capture_time"]["tag"] == "XMP-photoshop:DateCreated"


def test_gps_time_is_utc_evidence_and_a_disagreement_is_flagged_with_both_values(cli: Cli, archive: Path,
                                                                                 tmp_path: Path) -> None:
    photo = _photo(tmp_path, "g.jpg", "-DateTimeOriginal=2026:02:28 14:03:11", "-OffsetTimeOriginal=+02:00",
                   "-GPSDateStamp=2026:02:27", "-GPSTimeStamp=12:03:11")
    record = _record(cli, photo)
    meta = record["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11+02:00"
    gps_time = next(c for c in meta["time_candidates"] if c["tag"] == "GPS:GPSDateTime")
    assert gps_time["time"] == "2026-02-27T12:03:11Z" and gps_time["eligible"] is False
    (flag,) = [f for f in record["flags"] if f["code"] == "time_disagreement"]
    assert "2026-02-28T14:03:11+02:00" in flag["message"] and "2026-02-27T12:03:11Z" in flag["message"]


def test_gps_time_agreeing_with_the_capture_time_raises_nothing(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "g.jpg", "-DateTimeOriginal=2026:02:28 14:03:11", "-OffsetTimeOriginal=+02:00",
                   "-GPSDateStamp=2026:02:28", "-GPSTimeStamp=12:03:10")
    assert "time_disagreement" not in _codes(_record(cli, photo))


# --- place ----------------------------------------------------------------------------------------


def test_photo_without_a_gps_fix_keeps_its_time_and_records_no_coordinates(cli: Cli, archive: Path,
                                                                           tmp_path: Path) -> None:
    photo = zero_gps_rationals(_photo(tmp_path, "nofix.jpg", "-DateTimeOriginal=2026:02:28 14:03:11",
                                      "-OffsetTimeOriginal=+02:00"))
    good = _photo(tmp_path, "good.jpg", "-DateTimeOriginal=2026:02:28 15:00:00")
    rows = cli.ok("ingest", photo, good, "--json").json()
    assert len(rows) == 2  # the batch, good photo included, is ingested
    record = cli.ok("show", rows[0]["item_id"], "--json").json()["record"]
    validate("item-record", record)
    meta = record["metadata"]
    assert meta["captured_at"] == "2026-02-28T14:03:11+02:00"
    assert meta["gps"]["status"] == "invalid"
    assert not {"latitude", "longitude"} & set(meta["gps"])
    assert "gps_invalid" in _codes(record)


def test_southern_western_coordinates_take_their_sign_from_the_reference(cli: Cli, archive: Path,
                                                                         tmp_path: Path) -> None:
    photo = _photo(tmp_path, "sw.jpg", "-GPSLatitude=33.8688", "-GPSLatitudeRef=S", "-GPSLongitude=70.6693",
                   "-GPSLongitudeRef=W", "-GPSAltitude=12", "-GPSAltitudeRef#=1")
    gps = _record(cli, photo)["metadata"]["gps"]
    assert (gps["latitude"], gps["longitude"], gps["altitude"], gps["status"]) == (-33.8688, -70.6693, -12.0, "valid")


def test_a_missing_reference_leaves_the_hemisphere_unknown(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "noref.jpg", "-GPSLatitude=47.8388", "-GPSLongitude=35.1396", "-GPSLongitudeRef=E")
    record = _record(cli, photo)
    gps = record["metadata"]["gps"]
    assert gps["latitude"] is None and gps["latitude_unsigned"] == 47.8388
    assert gps["latitude_hemisphere"] == "unknown" and gps["status"] == "hemisphere unknown"
    assert gps["longitude"] == 35.1396
    (flag,) = [f for f in record["flags"] if f["code"] == "gps_hemisphere_unknown"]
    assert "GPS:GPSLatitudeRef missing" in flag["message"]


def test_an_out_of_range_coordinate_is_invalid(cli: Cli, archive: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "far.jpg", "-GPSLatitude=95", "-GPSLatitudeRef=N", "-GPSLongitude=35",
                   "-GPSLongitudeRef=E")
    record = _record(cli, photo)
    assert record["metadata"]["gps"] == {
        "source": "EXIF GPS (GPS:GPSLatitude/GPSLatitudeRef, GPS:GPSLongitude/GPSLongitudeRef)",
        "status": "invalid",
        "reason": "GPS:GPSLatitude is 95.0, outside 0..90",
    }
    assert "gps_invalid" in _codes(record)


# --- iPhone HEIC ----------------------------------------------------------------------------------


def test_intact_iphone_heic_is_neither_corrupt_nor_without_metadata(cli: Cli, archive: Path, tmp_path: Path) -> None:
    heic = exiftool_write(make_heic(tmp_path / "IMG_0413.HEIC"), "-Make=Apple", "-Model=iPhone 13",
                          "-DateTimeOriginal=2022:02:28 12:50:07", "-OffsetTimeOriginal=+02:00",
                          "-SubSecTimeOriginal=412", "-GPSLatitude=47.8388", "-GPSLatitudeRef=N",
                          "-GPSLongitude=35.1396", "-GPSLongitudeRef=E")
    record = _record(cli, heic)
    meta = record["metadata"]
    assert record["media_type"] == "image/heic"
    assert not {"corrupt", "metadata_absent"} & set(_codes(record)) and record["warnings"] == []
    assert meta["captured_at"] == "2022-02-28T12:50:07.412+02:00"
    assert (meta["gps"]["latitude"], meta["gps"]["longitude"]) == (47.8388, 35.1396)
    assert meta["device"]["model"] == "iPhone 13"
    assert meta["decode_check"] == "complete" and "phash" in meta
    assert "pillow-heif" in meta["read_by"]["decode_check"]


def test_warnings_name_the_evidence_file_never_a_custody_temp_file(cli: Cli, archive: Path, tmp_path: Path) -> None:
    heic = make_heic(tmp_path / "IMG_0414.HEIC").read_bytes()
    cut = tmp_path / "IMG_0414-cut.HEIC"
    cut.write_bytes(heic[: len(heic) * 2 // 3])
    record = _record(cli, cut)
    assert "corrupt" in _codes(record)
    assert record["warnings"] and all(w.startswith("IMG_0414-cut.HEIC: ") for w in record["warnings"])
    assert not [w for w in record["warnings"] if str(archive) in w or ".tmp" in w or "pending" in w]


# --- records say how they were read ---------------------------------------------------------------


def test_each_value_names_the_tool_and_version_that_read_it(cli: Cli, archive: Path, tmp_path: Path) -> None:
    version = subprocess.run(["exiftool", "-ver"], capture_output=True, text=True, check=True).stdout.strip()
    photo = _photo(tmp_path, "p.jpg", "-DateTimeOriginal=2026:02:28 14:03:11", "-Make=Canon")
    meta = _record(cli, photo)["metadata"]
    assert meta["tools"]["ExifTool"] == version
    assert meta["read_by"]["captured_at"] == meta["read_by"]["device"] == f"ExifTool {version}"
    assert meta["read_by"]["phash"].startswith("Pillow ")


# --- honest flags ---------------------------------------------------------------------------------


def test_an_empty_file_is_flagged(cli: Cli, archive: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert "empty_file" in _codes(_record(cli, tmp_path / "empty.jpg"))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.jpg", b"just some notes\n", "named .jpg (suggesting image/jpeg) but the content is text (text/plain)"),
        ("clip.MOV", bytes(range(256)) * 64,
         "named .mov (suggesting video/quicktime) but the content is not a recognised format "
         "(application/octet-stream)"),
    ],
    ids=["text-as-jpg", "random-as-mov"],
)
def test_an_extension_that_does_not_match_the_content_is_flagged(cli: Cli, archive: Path, tmp_path: Path,
                                                                 name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    record = _record(cli, tmp_path / name)
    assert {"code": "extension_mismatch", "message": expected} in record["flags"]


def test_plain_text_under_a_text_name_is_not_flagged(cli: Cli, archive: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    assert _record(cli, tmp_path / "notes.txt")["flags"] == []


# --- names ----------------------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_recorded_losslessly_and_the_recursive_run_goes_on(cli: Cli, archive: Path,
                                                                                      tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    folder.mkdir()
    raw_name = b"caf\xe9-strike.jpg"  # Latin-1, as an old camera or a Windows share writes it
    make_picture(folder / "good.jpg")
    make_picture(Path(os.fsdecode(os.fsencode(folder) + b"/" + raw_name)), seed=5)
    rows = cli.ok("ingest", "--recursive", folder, "--json").json()
    assert len(rows) == 2
    records = {r["original_name"]: r for r in cli.ok("list", "--json").json()}
    odd = records["caf\\xe9-strike.jpg"]
    assert base64.b64decode(odd["original_name_bytes_b64"]) == raw_name
    # The path's bytes are signed as a salted digest beside source_path (withholdable with it).
    assert "source_path_bytes_b64" in odd["withholdable"]["digests"] and "source_path_bytes_b64" not in odd
    assert "original_name_bytes_b64" not in records["good.jpg"]
    validate("item-record", odd)


# --- records signed before ExifTool was the reader ------------------------------------------------


def test_records_signed_with_the_earlier_metadata_shape_still_match_the_schema(cli: Cli, archive: Path,
                                                                              tmp_path: Path) -> None:
    record = _record(cli, make_picture(tmp_path / "p.jpg"))
    earlier_photo = {"kind": "image", "format": "JPEG", "width": 640, "height": 480,
                     "captured_at": "2026-02-28T14:03:11", "captured_at_zone": "unknown (local time of the device)",
                     "gps": {"latitude": 47.8388, "longitude": 35.1396, "altitude": 98.5},
                     "device": {"make": "Samsung", "model": "SM-A525F"}, "orientation": 1, "has_exif": True,
                     "phash": "831c71447656cfd9", "tools": {"Pillow": "10.4.0"}}
    earlier_video = {"kind": "video", "tool_missing": "ffprobe", "tools": {"ffprobe": "missing"}}
    earlier_nofix = {"kind": "image", "gps": {"latitude": None, "longitude": None}, "has_exif": True}
    for metadata in (earlier_photo, earlier_video, earlier_nofix):
        validate("item-record", {**record, "metadata": metadata})
