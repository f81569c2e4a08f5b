"""Content Credentials (C2PA): read and validated at ingest with the official library, never trusted blindly."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from custody.metadata import content_credentials
from tests.support.archives import Cli
from tests.support.bundles import members
from tests.support.media import c2pa_sign, make_mp4, make_picture
from tests.support.schemas import validate

UNTRUSTED = "signingCredential.untrusted"


def _ingest(cli: Cli, path: Path) -> dict[str, Any]:
    item = cli.ok("ingest", path, "--json").json()[0]["item_id"]
    return cli.ok("show", item, "--json").json()["record"]


@pytest.fixture
def signed_jpeg(tmp_path: Path) -> Path:
    plain = make_picture(tmp_path / "plain.jpg", seed=11)
    return c2pa_sign(plain, tmp_path / "strike.jpg", media_type="image/jpeg", title="strike.jpg")


def test_signed_photo_records_manifest_signer_and_validation(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    record = _ingest(cli, signed_jpeg)
    credentials = record["metadata"]["content_credentials"]
    assert credentials["validation_state"] == "Valid"
    assert credentials["signer"]["common_name"] == "Field Camera"
    assert credentials["signer"]["issuer"] == "Field Newsroom"
    assert credentials["claim_generator"] == "field-camera 2.1"
    assert credentials["title"] == "strike.jpg"
    assert credentials["actions"] == ["c2pa.created"]
    assert credentials["active_manifest"].startswith("urn:c2pa:")
    # No trust list is configured, so the library says the signer is untrusted and nothing else failed.
    assert [f["code"] for f in credentials["failures"]] == [UNTRUSTED]
    assert not [f for f in record["flags"] if f["code"].startswith("c2pa")]
    validate("item-record", record)


@pytest.mark.skipif(not shutil.which("exiftool"), reason="needs exiftool (.ci/run installs it)")
def test_active_manifest_is_the_one_exiftool_finds_in_the_file(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    labels = subprocess.run(
        ["exiftool", "-s3", "-a", "-JUMBF:JUMDLabel", str(signed_jpeg)], capture_output=True, text=True, check=True
    ).stdout.split()
    manifests = [label for label in labels if label.startswith("urn:c2pa:")]
    assert manifests == [_ingest(cli, signed_jpeg)["metadata"]["content_credentials"]["active_manifest"]]


def test_full_manifest_store_is_kept_in_the_raw_metadata_blob(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    metadata = _ingest(cli, signed_jpeg)["metadata"]
    digest = metadata["raw_sha256"]
    raw = json.loads((archive / "store" / "sha256" / digest[:2] / digest[2:4] / digest).read_text())
    store = raw["c2pa"]
    assert store["active_manifest"] == metadata["content_credentials"]["active_manifest"]
    assert store["manifests"][store["active_manifest"]]["title"] == "strike.jpg"
    assert "validation_results" in store


def test_reading_credentials_does_not_modify_the_file(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    before = hashlib.sha256(signed_jpeg.read_bytes()).hexdigest()
    assert _ingest(cli, signed_jpeg)["sha256"] == before == hashlib.sha256(signed_jpeg.read_bytes()).hexdigest()


def test_photo_altered_after_signing_is_kept_and_flagged(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    data = bytearray(signed_jpeg.read_bytes())
    data[-40] ^= 0xFF  # inside the image data the manifest's hash covers
    altered = signed_jpeg.with_name("altered.jpg")
    altered.write_bytes(bytes(data))
    record = _ingest(cli, altered)
    credentials = record["metadata"]["content_credentials"]
    assert credentials["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in [f["code"] for f in credentials["failures"]]
    (flag,) = [f for f in record["flags"] if f["code"] == "c2pa_invalid"]
    assert "assertion.dataHash.mismatch" in flag["message"] and UNTRUSTED not in flag["message"]
    assert record["sha256"] == hashlib.sha256(bytes(data)).hexdigest()
    validate("item-record", record)


def test_photo_without_credentials_records_none(cli: Cli, archive: Path, tmp_path: Path) -> None:
    record = _ingest(cli, make_picture(tmp_path / "plain.jpg"))
    assert "content_credentials" not in record["metadata"]


def test_truncated_photo_without_credentials_is_not_reported_as_a_broken_manifest(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    whole = make_picture(tmp_path / "whole.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) // 2])
    record = _ingest(cli, truncated)
    assert "content_credentials" not in record["metadata"]
    assert "corrupt" in [f["code"] for f in record["flags"]]


def test_truncated_signed_photo_says_the_manifest_could_not_be_read(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    data = signed_jpeg.read_bytes()
    truncated = signed_jpeg.with_name("cut.jpg")
    truncated.write_bytes(data[: len(data) // 2])
    record = _ingest(cli, truncated)
    assert "unreadable" in record["metadata"]["content_credentials"]["not_read"]
    assert "c2pa_not_read" in [f["code"] for f in record["flags"]]
    validate("item-record", record)


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg (.ci/run installs it)")
def test_signed_video_records_its_manifest(cli: Cli, archive: Path, tmp_path: Path) -> None:
    clip = make_mp4(tmp_path / "clip.mp4", creation_time="2026-02-28T12:03:11Z", duration=1.0)
    signed = c2pa_sign(clip, tmp_path / "signed.mp4", media_type="video/mp4", title="signed.mp4")
    credentials = _ingest(cli, signed)["metadata"]["content_credentials"]
    assert credentials["validation_state"] == "Valid"
    assert credentials["title"] == "signed.mp4"


def test_show_describes_the_credentials(cli: Cli, archive: Path, signed_jpeg: Path) -> None:
    cli.ok("ingest", signed_jpeg)
    out = cli.ok("show", "EV-000001").out
    assert "Content" in out and "Valid manifest signed by" in " ".join(out.split())


def test_a_valid_manifest_is_described_with_what_was_not_checked() -> None:
    summary = {"validation_state": "Valid", "signer": {"common_name": "Field Camera"}, "actions": ["c2pa.created"]}
    text = content_credentials.describe(summary)
    assert text.startswith("Valid manifest signed by Field Camera; actions: c2pa.created")
    assert text.endswith("(signature and hashes check; signer not checked against a C2PA trust list)")


def test_bundle_report_shows_the_credentials(cli: Cli, archive: Path, signed_jpeg: Path, tmp_path: Path) -> None:
    cli.ok("ingest", signed_jpeg)
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "court")
    report = next(v for k, v in members(out).items() if k.endswith("custody/report.html")).decode()
    assert "Content Credentials (C2PA)" in report and "Valid manifest signed by Field Camera" in report


def test_missing_library_is_reported_not_hidden(
    cli: Cli, archive: Path, signed_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one place a stand-in is right: the machine without c2pa-python is the case under test.
    monkeypatch.setitem(sys.modules, "c2pa", None)
    content_credentials._supported_types.cache_clear()
    try:
        record = _ingest(cli, signed_jpeg)
    finally:
        content_credentials._supported_types.cache_clear()
    assert record["metadata"]["content_credentials"] == {"not_read": content_credentials.NOT_INSTALLED}
    (flag,) = [f for f in record["flags"] if f["code"] == "c2pa_not_read"]
    assert "pip install c2pa-python" in flag["message"]
