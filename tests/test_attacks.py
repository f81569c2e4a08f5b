"""Attacks by a fresh pair of hostile eyes: each test is one way custody was made (or could be made) to lie.

Attackers: a holder of one key running a doctored client, a forger editing a bundle (re-sealing with the
exporter's key), an insider with database access. Every bundle verdict is asked of custody's
``verify-bundle`` and of the standalone verifier: they must agree, and both must say "failed".
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import blake3
import pytest

from custody import keys
from custody.bundle import standalone
from custody.log import events, note
from tests.support.archives import PASSPHRASES, Cli, make_archive
from tests.support.bundles import members, rewrite, root
from tests.support.court import (
    Genuine,
    custody_verdict,
    genuine,
    guide_verdict,
    reseal,
    standalone_verdict,
    three_verdicts,
)
from tests.support.media import exiftool_write, make_iphone_mov, make_picture

__all__ = ["genuine"]  # the fixture, shared with the court tests


def _both(cli: Cli, bundle: Path, g: Genuine, tmp: Path) -> dict[str, bool]:
    return {
        "custody verify-bundle": custody_verdict(cli, bundle, g, tmp),
        "standalone verifier": standalone_verdict(bundle, g, tmp),
    }


def _edit_json(entries: dict[str, bytes], name: str, change: Any, g: Genuine) -> dict[str, bytes]:
    key = f"{root(entries)}/{name}"
    return reseal({**entries, key: json.dumps(change(json.loads(entries[key]))).encode()}, g.bob)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("custody/items.json", lambda items: ["not an entry", *items]),
        ("custody/items.json", lambda items: [{"record": "not a record", "signer": "x", "signature": "x"}, *items]),
        ("custody/proofs.json", lambda proofs: [proofs]),
        ("custody/proofs.json", lambda proofs: {**proofs, "inclusion": list(proofs["inclusion"].values())}),
        ("custody/proofs.json", lambda proofs: {**proofs, "inclusion": dict.fromkeys(proofs["inclusion"], 7)}),
    ],
    ids=["entry-not-object", "record-not-object", "proofs-not-object", "inclusion-not-object", "proof-not-list"],
)
def test_a_bundle_with_custody_files_of_the_wrong_shape_is_a_report_not_a_traceback(
    cli: Cli, genuine: Genuine, tmp_path: Path, name: str, change: Any
) -> None:
    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", lambda e: _edit_json(e, name, change, genuine))
    result = cli("verify-bundle", forged, "--json")
    assert result.code == 1, result.err
    assert not json.loads(result.out)["ok"]
    assert standalone_verdict(forged, genuine, tmp_path) is False


def test_an_event_line_whose_seq_is_a_string_fails_both_verifiers(cli: Cli, genuine: Genuine, tmp_path: Path) -> None:
    """The exporter re-types a seq ("3" for 3) and re-seals: the event object is not the one FORMATS.md states."""

    def retype(entries: dict[str, bytes]) -> dict[str, bytes]:
        key = f"{root(entries)}/custody/events.jsonl"
        lines = [json.loads(line) for line in entries[key].decode().split("\n")[:-1]]
        lines[-1]["seq"] = str(lines[-1]["seq"])
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return reseal({**entries, key: text.encode()}, genuine.bob)

    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", retype)
    verdicts = _both(cli, forged, genuine, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


@pytest.mark.parametrize("form", ["%Y-%m-%dT%H:%M:%S-00:00", "%Y-%m-%dT%H:%M:%S+0000", "%Y%m%dT%H%M%SZ"])
def test_an_event_time_not_in_the_one_stated_form_fails_verify(
    cli: Cli, team: Path, evidence: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """FORMATS.md states YYYY-MM-DDTHH:MM:SS.ffffffZ; what else Python happens to parse is not a time custody wrote."""
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    with monkeypatch.context() as doctored:
        doctored.setattr(events, "iso", lambda when: when.strftime(form))
        cli.ok("annotate", "EV-000001", "dated in another form", actor="carol")
    seq = cli.ok("log", "--json").json()[-1]["seq"]
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    assert any(c["subject"] == f"event {seq}" and not c["ok"] for c in result.json()["checks"])


def test_the_three_verifiers_judge_an_event_time_in_another_form_alike(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    with monkeypatch.context() as doctored:
        doctored.setattr(events, "iso", lambda when: when.strftime("%Y-%m-%dT%H:%M:%S-00:00"))
        cli.ok("annotate", "EV-000001", "dated in another form", actor="carol")
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def genuine_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def test_a_registration_with_a_role_no_verifier_knows_fails_all_three_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin's doctored client registers mallory as "superuser"; mallory's refused attempt names the item."""
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    with monkeypatch.context() as doctored:
        doctored.setattr("custody.actors.Role", lambda role: SimpleNamespace(value=role))
        cli.ok("actor", "add", "mallory", "--role", "superuser", new_passphrase="mallory-secret")
    assert cli("annotate", "EV-000001", "mallory was here", actor="mallory", passphrase="mallory-secret").code == 3
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    assert b"superuser" in members(out)[f"{root(members(out))}/custody/events.jsonl"]
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_payload_file_no_signed_record_vouches_for_fails_all_three_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob (archivist, may export) runs a doctored export that plants a file beside an item's payload.

    The export event logs the planted manifest, so every digest and the seal are genuine: only the rule
    "each payload file is the file of one signed record" catches it.
    """
    from custody.bundle import writer

    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    genuine_add = writer.Bag.add_payload

    def planting(bag: Any, name: str, stream: Any, sha256: str, b3: str, item: str) -> None:
        genuine_add(bag, name, stream, sha256, b3, item)
        planted = b"A confession nobody ingested.\n"
        genuine_add(bag, f"data/{item}/confession.txt", io.BytesIO(planted), hashlib.sha256(planted).hexdigest(),
                    blake3.blake3(planted).hexdigest(), item)  # fmt: skip

    genuine_tag = writer.Bag.add_tag

    def counting(bag: Any, name: str, data: bytes, listed: bool = True) -> None:
        if name == "bag-info.txt":  # one more payload file than items
            data = re.sub(rb"Payload-Oxum: ([0-9]+)[.]([0-9]+)", lambda m: b"Payload-Oxum: %s.%d" % (m[1],
                          int(m[2]) + 1), data)  # fmt: skip
        genuine_tag(bag, name, data, listed)

    out = tmp_path / "bundle.zip"
    with monkeypatch.context() as doctored:
        doctored.setattr(writer.Bag, "add_payload", planting)
        doctored.setattr(writer.Bag, "add_tag", counting)
        cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    assert any(name.endswith("/data/EV-000001/confession.txt") for name in members(out))
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_checkpoint_of_size_0_with_a_root_other_than_the_empty_trees_fails_both_verifiers(
    cli: Cli, genuine: Genuine, team: Path, tmp_path: Path
) -> None:
    """Every actor holds the archive key: a size-0 "checkpoint" with any root must not be said to be extended."""
    archive_key = keys.load_private(team / "keys" / "bob.archive.pem", PASSPHRASES["bob"], "bob")
    origin = genuine.vkey.split("+", 1)[0]
    forged = note.sign_note(note.Checkpoint(origin, 0, hashlib.sha256(b"not empty").digest()).body(), origin,
                            archive_key)  # fmt: skip
    g = Genuine(genuine.bundle, genuine.vkey, forged, genuine.bob)
    anchor = tmp_path / "size0.txt"
    anchor.write_text(forged)
    verdicts = {
        "custody verify-bundle": custody_verdict(cli, genuine.bundle, g, tmp_path),
        "standalone verifier": standalone_verdict(genuine.bundle, g, tmp_path, "--against-checkpoint", str(anchor)),
    }
    assert verdicts == dict.fromkeys(verdicts, False)


# --- hostile media ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", ["0999", "0001"])
def test_a_capture_time_in_a_far_year_is_ingested_not_a_traceback(
    cli: Cli, archive: Path, tmp_path: Path, year: str
) -> None:
    """strftime writes year 999 as "999" (no ISO parser reads it back); 0001-01-01 minus any slack overflows."""
    photo = exiftool_write(make_picture(tmp_path / "old.jpg"), f"-ExifIFD:DateTimeOriginal={year}:01:01 00:00:00")
    item = cli.ok("ingest", photo, "--json").json()[0]["item_id"]
    metadata = cli.ok("show", item, "--json").json()["record"]["metadata"]
    assert metadata["captured_at"] == f"{year}-01-01T00:00:00"


def test_a_gps_reference_that_only_starts_like_a_hemisphere_states_no_sign(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    """EXIF allows exactly N/S and E/W; "Wrong" is not West, and the record must not sign a western longitude."""
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", (64, 64))
    exif = image.getexif()
    exif[0x8825] = {1: "N", 2: (IFDRational(50), IFDRational(27), IFDRational(0)), 3: "Wrong",
                    4: (IFDRational(30), IFDRational(30), IFDRational(0))}  # fmt: skip
    image.save(tmp_path / "gps.jpg", exif=exif)
    item = cli.ok("ingest", tmp_path / "gps.jpg", "--json").json()[0]["item_id"]
    gps = cli.ok("show", item, "--json").json()["record"]["metadata"]["gps"]
    assert gps["latitude"] == 50.45
    assert gps["longitude"] is None and gps["longitude_hemisphere"] == "unknown"


def test_a_capture_time_stating_an_impossible_offset_is_not_said_to_carry_its_zone(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    """Raw XMP (ExifTool would refuse to write it) states "+99:99": no zone was applied, so none may be claimed."""
    xmp = tmp_path / "date.xmp"
    xmp.write_text(
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        "<rdf:Description rdf:about='' xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'>"
        "<photoshop:DateCreated>2026-02-28T14:03:00+99:99</photoshop:DateCreated></rdf:Description>"
        "</rdf:RDF></x:xmpmeta>"
    )
    photo = exiftool_write(make_picture(tmp_path / "zone.jpg"), f"-xmp<={xmp}")
    item = cli.ok("ingest", photo, "--json").json()[0]["item_id"]
    metadata = cli.ok("show", item, "--json").json()["record"]["metadata"]
    assert metadata["captured_at"] == "2026-02-28T14:03:00"
    assert "unknown" in metadata["capture_time"]["zone"]


def test_a_signed_record_whose_sha256_is_not_its_files_fails_both_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's doctored ingest signs a record with a false SHA-256 (BLAKE3 true); custody checked only the BLAKE3."""
    out, g = _doctored_record_bundle(cli, evidence, tmp_path, monkeypatch, {"sha256": "ab" * 32})
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_an_event_0_whose_prev_is_not_zeros_fails_every_verifier(
    cli: Cli, tmp_path: Path, evidence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive made by a doctored init: its genesis claims a predecessor. FORMATS.md: prev of event 0 is 64 zeros."""
    with monkeypatch.context() as doctored:
        doctored.setattr(events, "GENESIS_PREV", "11" * 32)
        make_archive(cli, tmp_path / "archive", monkeypatch)
    cli.ok("ingest", evidence / "transcript.txt")
    assert cli("verify", "--all").code == 1
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure")
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_zip_naming_one_entry_twice_is_refused_by_every_verifier(cli: Cli, genuine: Genuine, tmp_path: Path) -> None:
    """Zip tools disagree on which of two same-named entries is "the" file: the court may open the forged one."""
    entries = members(genuine.bundle)
    payload = next(n for n in entries if "/data/" in n and entries[n])
    forged = tmp_path / "twice.zip"
    with zipfile.ZipFile(forged, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the attack
        zf.writestr(payload, b"What the forger wants the court to open first.\n")
        for name, data in entries.items():
            zf.writestr(name, data)
    assert custody_verdict(cli, forged, genuine, tmp_path) is False
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([sys.executable, "-I", str(script), str(forged)], capture_output=True, text=True)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert guide_verdict(forged, genuine, tmp_path) is False


def test_verifying_one_item_fails_when_its_ingest_was_not_allowed(
    cli: Cli, team: Path, evidence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """carol (analyst) ingests with a doctored client; "verify EV-000001" must not vouch for the item."""
    with monkeypatch.context() as doctored:
        doctored.setattr("custody.roles.allows", lambda role, permission: True)
        cli.ok("ingest", evidence / "transcript.txt", actor="carol")
    result = cli("verify", "EV-000001", "--json", actor="dave")
    assert result.code == 1


def test_a_bundle_carrying_an_item_its_export_event_does_not_name_fails_all_three_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's doctored export logs one item but ships two: the second disclosure is missing from that item's history."""
    from custody.archive import Acting

    cli.ok("ingest", evidence / "transcript.txt", evidence / "strike.bin", actor="bob")
    genuine_append = Acting.append

    def hiding(acting: Any, session: Any, action: str, payload: dict[str, Any], item: str | None = None) -> Any:
        if action == "export":
            payload = {**payload, "items": payload["items"][:1]}
        return genuine_append(acting, session, action, payload, item)

    out = tmp_path / "bundle.zip"
    with monkeypatch.context() as doctored:
        doctored.setattr(Acting, "append", hiding)
        cli.ok("export", "EV-000001", "EV-000002", "--out", out, "--purpose", "disclosure", actor="bob")
    assert "export" not in {e["action"] for e in cli.ok("log", "EV-000002", "--json").json()}
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_mov_whose_keys_creationdate_has_no_offset_is_not_given_one(cli: Cli, archive: Path, tmp_path: Path) -> None:
    """The container's UTC time must not lend the device-local Keys time a zone it never stated."""
    clip = make_iphone_mov(tmp_path / "clip.mov", creationdate="2026:02:28 14:03:00+00:00",
                           container_utc="2026-02-28T12:03:01Z")  # fmt: skip
    # ExifTool always writes an offset; the device wrote none (same length, so no atom size changes).
    data = clip.read_bytes()
    assert data.count(b"2026-02-28T14:03:00+0000") == 1
    clip.write_bytes(data.replace(b"2026-02-28T14:03:00+0000", b"2026-02-28T14:03:00.000 "))
    item = cli.ok("ingest", clip, "--json").json()[0]["item_id"]
    metadata = cli.ok("show", item, "--json").json()["record"]["metadata"]
    assert metadata["captured_at"] == "2026-02-28T14:03:00.000"
    assert metadata["capture_time"]["tag"] == "Keys:CreationDate"
    assert "unknown" in metadata["captured_at_zone"]


def test_a_jpeg_offset_time_of_the_modify_date_is_not_applied_to_date_time_original(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    """OffsetTime belongs to ModifyDate (EXIF DateTime); only OffsetTimeOriginal may place DateTimeOriginal."""
    photo = exiftool_write(make_picture(tmp_path / "p.jpg"), "-ExifIFD:DateTimeOriginal=2026:02:28 14:03:00",
                           "-ExifIFD:OffsetTime=+05:00", "-IFD0:ModifyDate=2026:03:01 09:00:00")  # fmt: skip
    item = cli.ok("ingest", photo, "--json").json()[0]["item_id"]
    metadata = cli.ok("show", item, "--json").json()["record"]["metadata"]
    assert metadata["captured_at"] == "2026-02-28T14:03:00"
    assert "unknown" in metadata["captured_at_zone"]


@pytest.mark.parametrize("where", ["seq", "payload"])
def test_an_event_with_an_integer_json_cannot_carry_exactly_is_a_report_not_a_traceback(
    cli: Cli, genuine: Genuine, tmp_path: Path, where: str
) -> None:
    """RFC 8785 numbers are IEEE doubles: 2**60 has no canonical form, whoever wrote it."""

    def big(entries: dict[str, bytes]) -> dict[str, bytes]:
        key = f"{root(entries)}/custody/events.jsonl"
        lines = [json.loads(line) for line in entries[key].decode().split("\n")[:-1]]
        if where == "seq":
            lines[-1]["seq"] = 2**60
        else:
            lines[-1]["payload"]["count"] = 2**60
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return reseal({**entries, key: text.encode()}, genuine.bob)

    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", big)
    verdicts = _both(cli, forged, genuine, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def _doctored_record_bundle(
    cli: Cli, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> tuple[Path, Genuine]:
    """bob's doctored ingest signs a record with ``change`` applied, then bob exports it as usual."""
    from custody import records

    genuine_sign = records.sign_many
    doctored_records: list[records.ItemRecord] = []

    def doctored_sign(items: list[records.ItemRecord], signer: Any) -> Any:
        doctored_records.extend(records.ItemRecord.from_json({**r.to_json(), **change}) for r in items)
        return genuine_sign(doctored_records, signer)

    with monkeypatch.context() as doctored:
        doctored.setattr(records, "sign_many", doctored_sign)
        cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    assert len(doctored_records) == 1  # the doctored signing really made the record
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                genuine_key())  # fmt: skip
    return out, g


def test_a_record_naming_another_ingester_than_its_signer_fails_verify_and_every_bundle_verifier(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The court report prints "Ingested by" from the record: bob must not be able to write alice's name there."""
    alice = next(a["key_id"] for a in cli.ok("actor", "list", "--json").json() if a["name"] == "alice")
    out, g = _doctored_record_bundle(cli, evidence, tmp_path, monkeypatch, {"ingested_by": alice})
    assert cli("verify", "--all").code == 1
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_record_dated_long_before_its_ingest_event_fails_verify_and_every_bundle_verifier(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The court report prints "Ingested at" from the record: it must be the logged ingest's time."""
    backdated = {"ingested_at": "2024-01-01T00:00:00.000000Z"}
    out, g = _doctored_record_bundle(cli, evidence, tmp_path, monkeypatch, backdated)
    assert cli("verify", "--all").code == 1
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)
