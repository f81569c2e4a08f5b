"""Derived items: a still of a video and a redacted photo stay tied to the evidentiary copy, in both directions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from custody import keys
from custody.bundle import standalone
from tests.support import tamper
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, rewrite, root
from tests.support.court import reseal, run_guide
from tests.support.media import make_mp4, make_picture

STILL_ARGS = "-ss 1 -frames:v 1 -f image2 -c:v png"


@pytest.fixture
def derived(cli: Cli, team: Path, tmp_path: Path) -> Path:
    """A video with a still taken from it (reproducible with ffmpeg), a photo with a redacted copy of it."""
    video = make_mp4(tmp_path / "strike.mp4", creation_time="2026-02-28T12:03:00Z")
    still = tmp_path / "still.png"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), *STILL_ARGS.split(), "-y", str(still)], check=True)
    photo = make_picture(tmp_path / "crowd.jpg", seed=3)
    redacted = make_picture(tmp_path / "crowd-redacted.jpg", seed=4)
    cli.ok("ingest", video, photo, "--case", "UA-7", actor="bob")
    cli.ok("derive", "EV-000001", still, "--relation", "still", "--method", "frame at 1 s",
           "--tool", f"ffmpeg {STILL_ARGS}", "--ffmpeg-args", STILL_ARGS, actor="bob")  # fmt: skip
    cli.ok("derive", "ev-000002", redacted, "--relation", "redaction", "--method", "faces blurred",
           "--tool", "GIMP 2.10 gaussian blur 40 px", actor="bob")  # fmt: skip
    return team


def _standalone(bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    return subprocess.run([sys.executable, "-I", str(script), str(bundle), "--json"], capture_output=True, text=True)


def _ids(cli: Cli) -> dict[str, str]:
    return {r["original_name"]: r["item_id"] for r in cli.ok("list", "--json").json()}


def test_show_names_the_source_of_a_copy_and_the_copies_of_a_source(cli: Cli, derived: Path) -> None:
    ids = _ids(cli)
    video, still, photo, redacted = ids["strike.mp4"], ids["still.png"], ids["crowd.jpg"], ids["crowd-redacted.jpg"]
    copy = cli.ok("show", still, "--json").json()
    assert copy["record"]["derived_from"]["item_id"] == video
    assert copy["record"]["derived_from"]["relation"] == "still"
    assert copy["record"]["derived_from"]["tool"] == f"ffmpeg {STILL_ARGS}"
    assert cli.ok("show", video, "--json").json()["derivation"]["derived_items"][0]["item_id"] == still
    assert cli.ok("show", redacted, "--json").json()["derivation"]["derived_from"]["item_id"] == photo
    assert [d["item_id"] for d in cli.ok("show", photo, "--json").json()["derivation"]["derived_items"]] == [redacted]
    text = cli.ok("show", video).out
    assert "working copy" in text and still in text


def test_the_log_of_either_item_shows_the_derivation(cli: Cli, derived: Path) -> None:
    ids = _ids(cli)
    for item in (ids["strike.mp4"], ids["still.png"]):
        derive = [e for e in cli.ok("log", item, "--json").json() if e["action"] == "derive"]
        assert len(derive) == 1 and derive[0]["payload"]["derived_item"] == ids["still.png"]


def test_a_copy_exported_without_its_source_carries_the_source_digests_and_derivation(
    cli: Cli, derived: Path, tmp_path: Path
) -> None:
    ids = _ids(cli)
    bundle = tmp_path / "still.zip"
    cli.ok("export", ids["still.png"], "--out", bundle, "--purpose", "exhibit", actor="bob")
    entries = members(bundle)
    top = root(entries)
    events = [json.loads(line) for line in entries[f"{top}/custody/events.jsonl"].splitlines()]
    source_ingest = next(e for e in events if e["action"] == "ingest" and e["item"] == ids["strike.mp4"])
    assert any(e["action"] == "derive" and e["payload"]["derived_item"] == ids["still.png"] for e in events)
    assert not any(n.startswith(f"{top}/data/{ids['strike.mp4']}/") for n in entries)
    proofs = json.loads(entries[f"{top}/custody/proofs.json"])
    assert str(source_ingest["seq"]) in proofs["inclusion"]
    report = cli.ok("verify-bundle", bundle, "--json").json()
    assert any(c["check"] == "derivation" and c["ok"] for c in report["checks"])
    assert _standalone(bundle, tmp_path).returncode == 0
    guide = run_guide(bundle, cli.ok("checkpoint", "--vkey").out.strip(), tmp_path / "guide")
    assert guide.returncode == 0, guide.stdout + guide.stderr
    html = entries[f"{top}/custody/report.html"].decode()
    assert f"Derived from</th><td>{ids['strike.mp4']}" in html and source_ingest["payload"]["sha256"] in html


def test_a_source_bundle_names_its_working_copies(cli: Cli, derived: Path, tmp_path: Path) -> None:
    ids = _ids(cli)
    bundle = tmp_path / "photo.zip"
    cli.ok("export", ids["crowd.jpg"], ids["crowd-redacted.jpg"], "--out", bundle, "--purpose", "x", actor="bob")
    entries = members(bundle)
    html = entries[f"{root(entries)}/custody/report.html"].decode()
    assert f"Working copy</th><td>{ids['crowd-redacted.jpg']} (redaction)" in html
    assert cli("verify-bundle", bundle).code == 0 and _standalone(bundle, tmp_path).returncode == 0


def test_a_copy_whose_source_record_was_altered_fails_verification(cli: Cli, derived: Path) -> None:
    ids = _ids(cli)
    assert cli("verify", ids["still.png"]).code == 0
    tamper.sql(derived, f"UPDATE items SET record = replace(record, '\"size\":', '\"size\": ') "
                        f"WHERE item_id = '{ids['strike.mp4']}'")  # fmt: skip
    result = cli("verify", ids["still.png"], "--json")
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    assert result.code == 1
    assert [c["subject"] for c in failed if c["check"] == "derivation"] == [ids["still.png"]]


def test_a_bundle_whose_derive_event_was_removed_fails_both_verifiers(cli: Cli, derived: Path, tmp_path: Path) -> None:
    ids = _ids(cli)
    bundle = tmp_path / "still.zip"
    cli.ok("export", ids["still.png"], "--out", bundle, "--purpose", "exhibit", actor="bob")
    bob = keys.load_private(derived / "keys" / "bob.signing.pem", PASSPHRASES["bob"], "bob")

    def drop(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/events.jsonl"
        lines = [line for line in entries[name].split(b"\n")[:-1] if b'"action": "derive"' not in line]
        return reseal({**entries, name: b"".join(line + b"\n" for line in lines)}, bob)

    forged = rewrite(bundle, tmp_path / "forged.zip", drop)
    report = cli("verify-bundle", forged, "--json").json()
    assert any(c["check"] == "derivation" and not c["ok"] for c in report["checks"])
    proc = _standalone(forged, tmp_path)
    assert proc.returncode == 1 and any(
        c["check"] == "derivation" and not c["ok"] for c in json.loads(proc.stdout)["checks"]
    )


def test_rederive_remakes_a_reproducible_still_and_skips_a_manual_redaction(cli: Cli, derived: Path) -> None:
    ids = _ids(cli)
    report = cli("verify", "--all", "--rederive", "--json").json()
    rederived = {c["subject"]: c for c in report["checks"] if c["check"] == "rederive"}
    assert rederived[ids["still.png"]]["ok"] and not rederived[ids["still.png"]]["warning"]
    assert rederived[ids["crowd-redacted.jpg"]]["warning"]


def test_rederive_fails_when_the_recorded_arguments_do_not_make_the_copy(cli: Cli, team: Path, tmp_path: Path) -> None:
    video = make_mp4(tmp_path / "strike.mp4", creation_time="2026-02-28T12:03:00Z")
    still = tmp_path / "still.png"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-ss", "0", "-frames:v", "1", "-f", "image2", "-c:v",
                    "png", "-y", str(still)], check=True)  # fmt: skip
    cli.ok("ingest", video, actor="bob")
    cli.ok("derive", "EV-000001", still, "--relation", "still", "--method", "frame at 1 s", "--ffmpeg-args",
           STILL_ARGS, actor="bob")  # fmt: skip
    result = cli("verify", "EV-000002", "--rederive", "--json")
    assert result.code == 1
    assert any(c["check"] == "rederive" and not c["ok"] for c in result.json()["checks"])


def test_derive_refuses_bad_input_and_writes_nothing(cli: Cli, derived: Path, tmp_path: Path) -> None:
    before = len(cli.ok("log", "--json").json())
    photo_id = _ids(cli)["crowd.jpg"]
    photo = tmp_path / "crowd.jpg"
    other = make_picture(tmp_path / "other.jpg", seed=9)
    assert cli("derive", photo_id, other, "--relation", "blur", "--method", "x", actor="bob").code == 2
    assert cli("derive", photo_id, other, "--relation", "crop", "--method", " ", actor="bob").code == 2
    missing = cli("derive", "EV-000099", other, "--relation", "crop", "--method", "x", actor="bob")
    assert missing.code != 0 and "EV-000099" in missing.err
    same = cli("derive", photo_id, photo, "--relation", "crop", "--method", "x", actor="bob")
    assert same.code == 2 and "same bytes" in same.err
    assert cli("derive", photo_id, other, "--relation", "crop", "--method", "x", actor="carol").code == 3
    assert len([e for e in cli.ok("log", "--json").json() if e["action"] != "refuse"]) == before
