"""Rolling fixity: verify --fixity-budget re-hashes the least recently checked blobs and records each check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.archives import Cli
from tests.support.schemas import validate


@pytest.fixture
def filled(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-1", actor="bob")
    return team


def _fixity(cli: Cli, budget: str, code: int = 0, actor: str = "dave") -> dict[str, Any]:
    result = cli("verify", "--fixity-budget", budget, "--json", actor=actor)
    assert result.code == code, result.out + result.err
    report: dict[str, Any] = result.json()
    return report


def _last_fixity_event(cli: Cli) -> dict[str, Any]:
    events = [e for e in cli.ok("log", "--json").json() if e["action"] == "verify" and "fixity" in e["payload"]]
    return events[-1]


def _items(cli: Cli) -> dict[str, dict[str, Any]]:
    return {i["item_id"]: i for i in cli.ok("list", "--json").json()}


def test_each_run_rehashes_the_least_recently_checked_blob_first(cli: Cli, filled: Path) -> None:
    checked = []
    for _ in range(4):
        report = _fixity(cli, "1B")  # a byte budget smaller than any blob: one blob per run
        checked.append([c["subject"] for c in report["checks"] if c["check"] == "fixity"])
    assert checked == [["EV-000001"], ["EV-000002"], ["EV-000003"], ["EV-000001"]]


def test_each_check_is_a_signed_verify_event_naming_the_item_and_the_digests_read(cli: Cli, filled: Path) -> None:
    validate("verify-report", _fixity(cli, "1h"))
    event = _last_fixity_event(cli)
    validate("event", event)
    items = _items(cli)
    assert sorted(event["payload"]["scope"]) == sorted(items)
    for result in event["payload"]["fixity"]:
        item = items[result["item"]]
        assert (result["sha256"], result["blake3"], result["size"], result["ok"]) == (
            item["sha256"],
            item["blake3"],
            item["size"],
            True,
        )
    history = [e["seq"] for e in cli.ok("log", "EV-000002", "--json").json()]
    assert event["seq"] in history
    cli.ok("verify", "--all", actor="dave")  # the fixity events keep the log and its item links sound


def test_the_fixity_event_is_signed_by_the_verifier(cli: Cli, filled: Path) -> None:
    _fixity(cli, "1h")
    dave = next(a for a in cli.ok("actor", "list", "--json").json() if a["name"] == "dave")
    assert _last_fixity_event(cli)["actor"] == dave["key_id"]


def test_status_reports_coverage(cli: Cli, filled: Path) -> None:
    before = cli.ok("status", "--json").json()["fixity"]
    assert before["never_checked"] == 3 and before["within_days"] is None
    _fixity(cli, "1h")
    after = cli.ok("status", "--json").json()["fixity"]
    assert after["never_checked"] == 0 and after["within_days"] == 0 and after["blobs"] == 3
    assert "every blob re-hashed within the last 0 days" in cli.ok("status").out


def test_partial_coverage_is_reported_as_a_warning(cli: Cli, filled: Path) -> None:
    report = _fixity(cli, "1B")
    coverage = next(c for c in report["checks"] if c["check"] == "fixity-coverage")
    assert coverage["ok"] and coverage["warning"] and "2 of 3 blobs not yet re-hashed" in coverage["detail"]


def test_an_altered_blob_fails_and_is_recorded_as_failed(cli: Cli, filled: Path) -> None:
    sha = _items(cli)["EV-000002"]["sha256"]
    blob = filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[10] ^= 1
    blob.write_bytes(bytes(data))
    blob.chmod(0o444)
    report = _fixity(cli, "1h", code=1)
    assert [(c["check"], c["subject"]) for c in report["checks"] if not c["ok"]] == [
        ("fixity", "EV-000002"),
        ("fixity-coverage", "store"),
    ]
    result = next(r for r in _last_fixity_event(cli)["payload"]["fixity"] if r["item"] == "EV-000002")
    assert result["ok"] is False and result["sha256"] != sha and result["expected_sha256"] == sha
    assert cli.ok("status", "--json").json()["fixity"]["never_checked"] == 1  # a failed check covers nothing


def test_a_missing_blob_fails_with_its_name(cli: Cli, filled: Path) -> None:
    sha = _items(cli)["EV-000001"]["sha256"]
    os.remove(filled / "store" / "sha256" / sha[:2] / sha[2:4] / sha)
    report = _fixity(cli, "1h", code=1)
    failed = next(c for c in report["checks"] if c["check"] == "fixity" and not c["ok"])
    assert failed["subject"] == "EV-000001" and "cannot be read" in failed["detail"]


def test_fixity_with_since_checks_both(cli: Cli, filled: Path, tmp_path: Path) -> None:
    cp = tmp_path / "cp.txt"
    cli.ok("verify", "--all", "--save-checkpoint", cp, actor="dave")
    result = cli("verify", "--since", cp, "--fixity-budget", "1h", "--json", actor="dave")
    assert result.code == 0, result.out
    checks = {c["check"] for c in result.json()["checks"]}
    assert {"consistency", "fixity", "fixity-coverage"} <= checks


@pytest.mark.parametrize("budget", ["soon", "0m", "-5m", "10 parsecs"])
def test_a_bad_budget_is_a_usage_error(cli: Cli, filled: Path, budget: str) -> None:
    result = cli("verify", "--fixity-budget", budget, actor="dave")
    assert result.code == 2 and "--fixity-budget" in result.err


def test_an_analyst_may_not_run_fixity_checks(cli: Cli, filled: Path) -> None:
    assert cli("verify", "--fixity-budget", "1h", actor="carol").code == 3
