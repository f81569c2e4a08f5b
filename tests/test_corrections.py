"""Provenance corrections: signed ``correct`` events; the record never changes; withheld values never leak."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.archives import Cli
from tests.support.bundles import members, root
from tests.test_disclosure import HANDED_OVER_BY, _guide, _leaks, _standalone

CORRECTED_FROM = "Brother of W-22, Kharkiv"  # the corrected (withholdable) value: must never leave in clear


def _pdf_text(bundle: Path, tmp: Path) -> str:
    entries = members(bundle)
    pdf = tmp / "r.pdf"
    pdf.write_bytes(entries[f"{root(entries)}/custody/report.pdf"])
    return subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_show_gives_the_corrected_value_and_its_history_and_the_record_is_unchanged(
    cli: Cli, team: Path, evidence: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--collected-at", "2026-03-01T09:30:00+02:00", actor="bob")
    before = cli.ok("show", "EV-000001", "--json").json()
    cli.ok("correct", "ev-000001", "--field", "collected_at", "--value", "2026-02-28T09:30:00+02:00",
           "--reason", "typed the wrong day", actor="bob")  # fmt: skip
    after = cli.ok("show", "EV-000001", "--json").json()
    assert after["record"] == before["record"] and after["signature"] == before["signature"]
    assert after["acquisitions"][0]["provenance"]["collected_at"] == "2026-02-28T09:30:00+02:00"
    (fix,) = after["corrections"]
    assert (fix["field"], fix["previous"], fix["value"]) == (
        "collected_at", "2026-03-01T09:30:00+02:00", "2026-02-28T09:30:00+02:00"
    )  # fmt: skip
    shown = cli.ok("show", "EV-000001", actor="bob").out
    assert "wrong" in shown and "corrections" in shown and "2026-02-28" in shown
    assert cli.ok("verify", "--all", actor="dave").code == 0


def test_the_correct_event_signs_only_a_digest_of_the_value(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--collected-from", HANDED_OVER_BY, actor="bob")
    cli.ok("correct", "EV-000001", "--field", "collected_from", "--value", CORRECTED_FROM, "--reason", "misheard",
           actor="bob")  # fmt: skip
    event = next(e for e in cli.ok("log", "--json").json() if e["action"] == "correct")
    assert CORRECTED_FROM not in json.dumps(event, ensure_ascii=False)
    assert set(event["payload"]["withholdable"]["digests"]) == {"collected_from"}
    assert CORRECTED_FROM not in cli.ok("log", "EV-000001").out


def test_a_withheld_corrected_field_leaves_in_no_bundle_file_report_or_case_file(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "UA-7", "--collected-from", HANDED_OVER_BY, actor="bob")
    cli.ok("correct", "EV-000001", "--field", "collected_from", "--value", CORRECTED_FROM, "--reason", "misheard",
           actor="bob")  # fmt: skip
    bundle = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", bundle, "--purpose", "defence", "--withhold", "collected_from",
           "--case-uco", actor="bob")  # fmt: skip
    assert _leaks(bundle, CORRECTED_FROM, HANDED_OVER_BY) == []
    assert cli.ok("verify-bundle", bundle).code == 0
    assert _standalone(bundle, tmp_path).returncode == 0
    text = _pdf_text(bundle, tmp_path)
    assert "corrected" in text and "misheard" in text
    # The same from the archive: counsel's report and the CASE/UCO file made by `report`/`case-uco` show the value
    # (they stay in the archive's hands); a bundle is what leaves.
    cli.ok("case-uco", "EV-000001", "--out", tmp_path / "c.jsonld", "--purpose", "lab", actor="dave")
    assert CORRECTED_FROM in (tmp_path / "c.jsonld").read_text()


def test_a_disclosed_correction_is_in_the_bundle_checked_by_all_three_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--collected-from", HANDED_OVER_BY, actor="bob")
    cli.ok("correct", "EV-000001", "--field", "collected_from", "--value", CORRECTED_FROM, "--reason", "misheard",
           actor="bob")  # fmt: skip
    bundle = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", bundle, "--purpose", "court", actor="bob")
    entries = members(bundle)
    carried = json.loads(entries[f"{root(entries)}/custody/disclosures.json"])
    assert CORRECTED_FROM in {json.loads(t)[2] for t in carried.values()}
    assert CORRECTED_FROM in entries[f"{root(entries)}/custody/report.html"].decode()
    assert cli.ok("verify-bundle", bundle, "--json").json()["ok"]
    assert _standalone(bundle, tmp_path).returncode == 0
    guide = _guide(cli, bundle, tmp_path)
    assert guide.returncode == 0, guide.stdout + guide.stderr
    text = _pdf_text(bundle, tmp_path)
    assert CORRECTED_FROM in " ".join(text.split())


def test_bad_corrections_are_refused_with_one_line_and_nothing_logged(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    count = len(cli.ok("log", "--json").json())
    for args, said in (
        (["--field", "case", "--value", "X", "--reason", "r"], "cannot be corrected"),
        (["--field", "collected_at", "--value", "yesterday", "--reason", "r"], "not an ISO 8601 time"),
        (["--field", "method", "--value", "v", "--reason", " "], "--reason"),
    ):
        result = cli("correct", "EV-000001", *args, actor="bob")
        assert result.code == 2 and said in result.err and "Traceback" not in result.err
    assert cli("correct", "EV-000009", "--field", "method", "--value", "v", "--reason", "r", actor="bob").code == 2
    assert len(cli.ok("log", "--json").json()) == count


def test_an_analyst_may_not_correct_and_the_refusal_is_logged(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    result = cli("correct", "EV-000001", "--field", "method", "--value", "v", "--reason", "r", actor="carol")
    assert result.code == 3
    assert cli.ok("log", "--json").json()[-1]["action"] == "refuse"


def test_verify_fails_a_correction_whose_stored_value_is_gone(cli: Cli, team: Path, evidence: Path) -> None:
    from custody.archive import Archive
    from custody.store.local import LocalBlobStore

    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("correct", "EV-000001", "--field", "method", "--value", "USB", "--reason", "typo", actor="bob")
    event = next(e for e in cli.ok("log", "--json").json() if e["action"] == "correct")
    store = Archive.open(team).store
    assert isinstance(store, LocalBlobStore)
    blob = store.path_for(event["payload"]["withholdable"]["values_sha256"])
    blob.parent.chmod(0o700)
    blob.unlink()
    result = cli("verify", "--all", "--json", actor="dave")
    assert result.code == 1
    failed = {(c["check"], c["subject"]) for c in result.json()["checks"] if not c["ok"]}
    assert ("withheld-values", f"event {event['seq']}") in failed


def test_the_report_made_in_the_archive_shows_the_current_value_and_the_correction(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--method", "USB stick", actor="bob")
    cli.ok("correct", "EV-000001", "--field", "method", "--value", "SD card", "--reason", "sheet says SD",
           actor="bob")  # fmt: skip
    cli.ok("report", "EV-000001", "--out", tmp_path / "r.html", "--purpose", "counsel", actor="dave")
    html = (tmp_path / "r.html").read_text()
    assert "SD card" in html and "USB stick" in html and "sheet says SD" in html and "corrected (event" in html


def test_verify_fails_a_correction_whose_stored_value_is_no_longer_protected(
    cli: Cli, team: Path, evidence: Path
) -> None:
    """As for a record's and an acquisition's withheld values: the bytes still match, but nothing keeps them."""
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("correct", "EV-000001", "--field", "method", "--value", "USB", "--reason", "typo", actor="bob")
    event = next(e for e in cli.ok("log", "--json").json() if e["action"] == "correct")
    sha = event["payload"]["withholdable"]["values_sha256"]
    (team / "store" / "sha256" / sha[:2] / sha[2:4] / sha).chmod(0o644)
    result = cli("verify", "--all", "--json", actor="dave")
    assert result.code == 1, result.out
    failed = [(c["check"], c["subject"]) for c in result.json()["checks"] if not c["ok"]]
    assert failed == [("lock", f"event {event['seq']}")]
