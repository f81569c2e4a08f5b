"""Finding and selecting items: filters (each, combined), cases, case add, bulk get/export with counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.archives import Cli
from tests.support.bundles import members, root


@pytest.fixture
def stocked(cli: Cli, team: Path, evidence: Path) -> Path:
    """EV-000001 transcript (case A, Field team 3, Telegram, tag munition), EV-000002 strike.bin (case B, Lab),
    EV-000003 empty.dat (case B, flag empty_file)."""
    cli.ok("ingest", evidence / "transcript.txt", "--case", "A", "--collected-by", "Field team 3",
           "--platform", "Telegram", actor="bob")  # fmt: skip
    cli.ok("ingest", evidence / "strike.bin", "--case", "B", "--collected-by", "Lab", actor="bob")
    cli.ok("ingest", evidence / "empty.dat", "--case", "B", actor="bob")
    cli.ok("annotate", "EV-000001", "Remnant of a cluster sub-munition", "--tag", "munition", actor="carol")
    return team


def _ids(cli: Cli, *args: str) -> list[str]:
    return [r["item_id"] for r in cli.ok("list", *args, "--json", actor="carol").json()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--case", "B"], ["EV-000002", "EV-000003"]),
        (["--tag", "munition"], ["EV-000001"]),
        (["--type", "text"], ["EV-000001"]),
        (["--flag", "empty_file"], ["EV-000003"]),
        (["--collected-by", "field team"], ["EV-000001"]),
        (["--platform", "telegram"], ["EV-000001"]),
        (["--text", "SUB-MUNITION"], ["EV-000001"]),
        (["--ingested-from", "2000-01-01", "--ingested-to", "2999-12-31"], ["EV-000001", "EV-000002", "EV-000003"]),
        (["--ingested-to", "2000-01-01"], []),
        (["--captured-from", "2000-01-01"], []),
        (["--exclude", "EV-000002", "--case", "B"], ["EV-000003"]),
        (["ev-000002"], ["EV-000002"]),
    ],
)
def test_each_filter_selects_what_it_says(cli: Cli, stocked: Path, args: list[str], expected: list[str]) -> None:
    assert _ids(cli, *args) == expected


def test_filters_combine_with_and_and_repeats_with_or(cli: Cli, stocked: Path) -> None:
    assert _ids(cli, "--case", "B", "--flag", "empty_file") == ["EV-000003"]
    assert _ids(cli, "--case", "A", "--flag", "empty_file") == []
    assert _ids(cli, "--case", "A", "--case", "B", "--type", "text") == ["EV-000001"]
    assert _ids(cli, "--collected-by", "lab", "--case", "B") == ["EV-000002"]
    assert _ids(cli, "--collected-by", "lab", "--case", "A") == []


def test_search_is_an_alias_of_list(cli: Cli, stocked: Path) -> None:
    listed = cli.ok("list", "--tag", "munition", "--json", actor="carol").json()
    assert cli.ok("search", "--tag", "munition", "--json", actor="carol").json() == listed


def test_an_unknown_case_is_an_error_not_an_empty_table(cli: Cli, stocked: Path) -> None:
    result = cli("list", "--case", "NOPE", actor="carol")
    assert result.code == 2 and "no case 'NOPE'" in result.err


@pytest.mark.parametrize("command", ["list", "get", "export"])
def test_a_mistyped_flag_is_an_error_not_an_empty_selection(
    cli: Cli, stocked: Path, command: str, tmp_path: Path
) -> None:
    # An empty table would read as "no item carries this warning"; nothing is written or logged.
    out = tmp_path / "out"
    out.mkdir()
    extra = {"list": ["--json"], "get": ["--out", str(out / "x")],
             "export": ["--out", str(out / "x.zip"), "--purpose", "p", "--yes"]}[command]  # fmt: skip
    before = cli.ok("log", "--json").json()
    result = cli(command, *extra, "--flag", "empty-file", actor="bob")
    assert result.code == 2 and "--flag empty-file: no such flag" in result.err and "empty_file" in result.err
    assert "Traceback" not in result.err and not list(out.iterdir())
    assert cli.ok("log", "--json").json() == before


@pytest.mark.parametrize("command", ["export", "report"])
def test_exporting_or_reporting_an_unknown_case_points_to_the_command_that_lists_cases(
    cli: Cli, stocked: Path, tmp_path: Path, command: str
) -> None:
    out = tmp_path / ("b.zip" if command == "export" else "r.html")
    result = cli(command, "--case", "NOPE", "--out", out, "--purpose", "court", actor="bob")
    assert result.code == 2 and "no case 'NOPE'" in result.err and "'custody cases' lists them" in result.err
    assert not out.exists()


def test_cases_lists_every_case_with_counts(cli: Cli, stocked: Path) -> None:
    cases = cli.ok("cases", "--json", actor="carol").json()
    assert [(c["case"], c["items"]) for c in cases] == [("A", 1), ("B", 2)]
    assert cases[1]["bytes"] == 200_000


def test_case_add_is_a_signed_event_that_verify_accounts_for(cli: Cli, stocked: Path) -> None:
    cli.ok("case", "add", "EV-000002", "ev-000003", "--case", "A", actor="bob")
    assert _ids(cli, "--case", "A") == ["EV-000001", "EV-000002", "EV-000003"]
    added = [e for e in cli.ok("log", "--json").json() if e["action"] == "case.add"]
    assert [(e["item"], e["payload"]) for e in added] == [("EV-000002", {"case": "A"}), ("EV-000003", {"case": "A"})]
    again = cli.ok("case", "add", "EV-000002", "--case", "A", actor="bob")
    assert "already a member" in again.out
    assert cli.ok("verify", "--all", actor="dave").code == 0
    assert cli.ok("show", "EV-000002", "--json", actor="carol").json()["cases"] == ["A", "B"]


def test_case_add_by_an_analyst_is_refused(cli: Cli, stocked: Path) -> None:
    assert cli("case", "add", "EV-000002", "--case", "A", actor="carol").code == 3
    assert _ids(cli, "--case", "A") == ["EV-000001"]


def test_a_case_add_in_a_bundle_verifies_with_custody_and_the_standalone_verifier(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:
    from tests.test_disclosure import _guide, _standalone

    cli.ok("case", "add", "EV-000002", "--case", "A", actor="bob")
    bundle = tmp_path / "a.zip"
    cli.ok("export", "--case", "A", "--out", bundle, "--purpose", "court", actor="bob")
    entries = members(bundle)
    items = json.loads(entries[f"{root(entries)}/custody/items.json"])
    assert sorted(i["record"]["item_id"] for i in items) == ["EV-000001", "EV-000002"]
    assert cli.ok("verify-bundle", bundle).code == 0
    assert _standalone(bundle, tmp_path).returncode == 0
    guide = _guide(cli, bundle, tmp_path)  # VERIFY.md's commands, as printed
    assert guide.returncode == 0, guide.stdout + guide.stderr


def test_bulk_export_by_filters_needs_yes_without_a_terminal_and_exports_the_count(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b.zip"
    refused = cli("export", "--case", "B", "--exclude", "EV-000003", "--out", out, "--purpose", "p", actor="bob")
    assert refused.code == 2 and "select 1 item(s)" in refused.err and "--yes" in refused.err and not out.exists()
    done = cli.ok("export", "--case", "B", "--exclude", "EV-000003", "--out", out, "--purpose", "p", "--yes",
                  "--json", actor="bob").json()  # fmt: skip
    assert done["items"] == ["EV-000002"]


def test_named_items_with_a_case_export_and_report_those_items_not_the_whole_case(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:
    """As list and get select them: every filter given holds. A disclosure never widens to the rest of the case."""
    assert _ids(cli, "EV-000002", "--case", "B") == ["EV-000002"]
    done = cli.ok("export", "EV-000002", "--case", "B", "--out", tmp_path / "b.zip", "--purpose", "p", "--json",
                  actor="bob").json()  # fmt: skip
    assert done["items"] == ["EV-000002"]
    report = cli.ok("report", "EV-000002", "--case", "B", "--out", tmp_path / "r.html", "--purpose", "p", "--json",
                    actor="bob").json()  # fmt: skip
    assert report["items"] == ["EV-000002"]
    outside = cli("export", "EV-000001", "--case", "B", "--out", tmp_path / "c.zip", "--purpose", "p", actor="bob")
    assert outside.code == 2 and "EV-000001" in outside.err and "not in case 'B'" in outside.err
    assert not (tmp_path / "c.zip").exists()


def test_a_mistyped_exclude_is_an_error_not_a_disclosure_of_the_item_meant(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:
    """--exclude EV-00003 (a digit short) must not quietly export EV-000003, the item it meant to hold back."""
    out = tmp_path / "b.zip"
    result = cli("export", "--case", "B", "--exclude", "EV-00003", "--out", out, "--purpose", "p", "--yes", actor="bob")
    assert result.code == 2 and "EV-00003" in result.err and "--exclude" in result.err and not out.exists()
    assert cli("list", "--case", "B", "--exclude", "EV-000099", actor="carol").code == 2
    assert _ids(cli, "--case", "B", "--exclude", "ev-000003") == ["EV-000002"]


def test_bulk_get_writes_each_selected_item_and_logs_each(cli: Cli, stocked: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    cli.ok("get", "--case", "B", "--out", folder, "--purpose", "exhibits", "--yes", actor="dave")
    assert sorted(p.name for p in folder.iterdir()) == ["EV-000002_strike.bin", "EV-000003_empty.dat"]
    access = [e for e in cli.ok("log", "--json").json() if e["action"] == "access"]
    assert sorted(e["item"] for e in access) == ["EV-000002", "EV-000003"]


def test_tags_given_at_ingest_and_in_a_manifest_are_signed_and_found(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--tag", "witness", "--tag", "kharkiv", actor="bob")
    manifest = tmp_path / "batch.csv"
    manifest.write_text(f"path,case,tags\n{evidence / 'strike.bin'},B,munition;kharkiv\n{evidence / 'empty.dat'},B,\n")
    cli.ok("ingest", "--manifest", manifest, "--tag", "batch-1", actor="bob")
    records = {r["item_id"]: r for r in cli.ok("list", "--json").json()}
    assert records["EV-000001"]["tags"] == ["kharkiv", "witness"]
    assert records["EV-000002"]["tags"] == ["batch-1", "kharkiv", "munition"]
    assert records["EV-000003"]["tags"] == ["batch-1"]
    assert _ids(cli, "--tag", "kharkiv") == ["EV-000001", "EV-000002"]
    assert _ids(cli, "--tag", "munition", "--case", "B") == ["EV-000002"]
    assert cli.ok("verify", "--all", actor="dave").code == 0


@pytest.mark.parametrize("command", [["case", "add", "EV-000001", "--case", "B"],
                                     ["correct", "EV-000001", "--field", "method", "--value", "v", "--reason", "r"]])
def test_a_case_add_or_correct_by_an_analyst_fails_all_three_verifiers(
    cli: Cli, stocked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from tests.test_authority import doctored
    from tests.test_disclosure import _guide, _standalone

    with doctored(monkeypatch):
        cli.ok(*command, actor="carol")  # a client whose role check was removed
    seq = cli.ok("log", "--json").json()[-1]["seq"]
    assert cli("verify", "--all", actor="dave").code == 1
    bundle = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", bundle, "--purpose", "court", actor="bob")
    checked = cli("verify-bundle", bundle, "--json")
    assert checked.code == 1
    assert any(c["subject"] == f"event {seq}" and not c["ok"] for c in checked.json()["checks"])
    standalone = _standalone(bundle, tmp_path)
    assert standalone.returncode == 1 and f"event {seq}" in standalone.stdout
    assert _guide(cli, bundle, tmp_path).returncode != 0


def test_a_case_row_the_signed_data_does_not_hold_stops_every_disclosure_of_the_case(
    cli: Cli, stocked: Path, tmp_path: Path
) -> None:
    """One row added to table item_cases (database access, no key) puts EV-000001 'into' case B: export refused it,
    but a report or CASE/UCO file 'of case B' and a get of the case carried it out under the case's name."""
    import sqlite3

    with sqlite3.connect(stocked / "custody.db") as conn:
        conn.execute("insert into item_cases values ('EV-000001', 'B')")
    before = cli.ok("log", "--json").json()
    commands: list[list[str | Path]] = [
        ["report", "--case", "B", "--out", tmp_path / "r.html", "--purpose", "p"],
        ["case-uco", "--case", "B", "--out", tmp_path / "c.jsonld", "--purpose", "p"],
        ["report", "EV-000001", "--case", "B", "--out", tmp_path / "one.html", "--purpose", "p"],
        ["get", "--case", "B", "--out", tmp_path, "--yes"],
        ["export", "--case", "B", "--out", tmp_path / "b.zip", "--purpose", "p"],
    ]
    for args in commands:
        result = cli(*args, actor="bob")
        assert result.code == 1 and "not signed into the case: EV-000001" in result.err, (args, result.out, result.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["archive", "evidence"])
    assert cli.ok("log", "--json").json() == before


def test_a_case_add_by_a_role_that_may_not_log_it_does_not_carry_an_item_out_with_the_case(
    cli: Cli, stocked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An analyst's modified client logs 'case add EV-000001 --case B' (signed with her own key, table item_cases
    updated): the membership check found the event and the row agreeing, and bob's export of case B disclosed
    EV-000001. The events relied on must be admitted by the log's authority and verify, as verify judges them."""
    from tests.test_authority import doctored

    with doctored(monkeypatch):
        cli.ok("case", "add", "EV-000001", "--case", "B", actor="carol")
    before = cli.ok("log", "--json").json()
    commands: list[list[str | Path]] = [
        ["export", "--case", "B", "--out", tmp_path / "b.zip", "--purpose", "p"],
        ["export", "--case", "B", "--tag", "munition", "--out", tmp_path / "t.zip", "--purpose", "p", "--yes"],
        ["report", "--case", "B", "--out", tmp_path / "r.html", "--purpose", "p"],
        ["get", "--case", "B", "--out", tmp_path, "--yes"],
    ]
    for args in commands:
        result = cli(*args, actor="bob")
        assert result.code == 1 and "not signed into the case: EV-000001" in result.err, (args, result.out, result.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["archive", "evidence"])
    assert cli.ok("log", "--json").json() == before
    # A genuine case add (bob, an archivist) is relied on as before.
    cli.ok("case", "add", "EV-000003", "--case", "A", actor="bob")
    done = cli.ok("export", "--case", "A", "--out", tmp_path / "ok.zip", "--purpose", "p", "--json", actor="bob")
    assert done.json()["items"] == ["EV-000001", "EV-000003"]
