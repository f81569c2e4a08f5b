"""Two-person export: with export.approvals = 1 no one exports alone, and a bundle shows the rule was kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from custody import keys
from custody.archive import Archive
from custody.bundle import standalone
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, rewrite, root
from tests.support.court import reseal, run_guide
from tests.support.schemas import validate


@pytest.fixture
def policy(cli: Cli, team: Path, evidence: Path) -> Path:
    """Bob and erin are archivists; every export needs one approval by someone other than the requester."""
    cli.ok("actor", "add", "erin", "--role", "archivist", new_passphrase=PASSPHRASES.get("erin", "x"))
    cli.ok("ingest", evidence / "transcript.txt", "--case", "UA-7", actor="bob")
    cli.ok("config", "set", "export.approvals", "1")
    return team


def _log(cli: Cli) -> list[dict]:
    return cli.ok("log", "--json").json()


def _request(cli: Cli) -> int:
    return int(cli.ok("export-request", "EV-000001", "--purpose", "to the OTP", "--json", actor="bob").json()["seq"])


def _standalone(bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    return subprocess.run([sys.executable, "-I", str(script), str(bundle), "--json"], capture_output=True, text=True)


def test_an_export_without_approval_is_refused_and_logged(cli: Cli, policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    result = cli("export", "EV-000001", "--out", out, "--purpose", "to the OTP", actor="bob")
    assert result.code == 3 and "approval" in result.err and not out.exists()
    assert _log(cli)[-1]["action"] == "refuse"
    seq = _request(cli)
    early = cli("export", "--request", seq, "--out", out, actor="bob")
    assert early.code == 3 and "0 of the 1" in early.err and not out.exists()
    assert _log(cli)[-1]["action"] == "refuse" and not any(e["action"] == "export" for e in _log(cli))


def test_the_requester_and_a_role_without_export_cannot_approve(cli: Cli, policy: Path) -> None:
    seq = _request(cli)
    own = cli("approve", seq, actor="bob")
    assert own.code == 3 and "requested" in own.err
    assert cli("approve", seq, actor="carol").code == 3  # analyst: may not export, so may not approve
    refusals = [e for e in _log(cli) if e["action"] == "refuse"]
    assert len(refusals) == 2
    assert not any(e["action"] == "export.approve" for e in _log(cli))


def test_with_an_approval_the_export_succeeds_and_all_three_verifiers_pass(
    cli: Cli, policy: Path, tmp_path: Path
) -> None:
    seq = _request(cli)
    cli.ok("approve", seq, actor="erin")
    out = tmp_path / "b.zip"
    cli.ok("export", "--request", seq, "--out", out, actor="bob")
    entries = members(out)
    events = [json.loads(line) for line in entries[f"{root(entries)}/custody/events.jsonl"].splitlines()]
    for event in events:
        validate("event", event)
    actions = [e["action"] for e in events]
    assert {"configure", "export.request", "export.approve", "export"} <= set(actions)
    export = next(e for e in events if e["action"] == "export")
    assert export["payload"]["request"] == seq and export["payload"]["approvals_required"] == 1
    assert cli("verify-bundle", out).code == 0
    assert _standalone(out, tmp_path).returncode == 0
    guide = run_guide(out, cli.ok("checkpoint", "--vkey").out.strip(), tmp_path / "guide")
    assert guide.returncode == 0, guide.stdout + guide.stderr
    again = cli("export", "--request", seq, "--out", tmp_path / "again.zip", actor="bob")
    assert again.code == 3 and "already exported" in again.err


def test_a_bundle_whose_approval_event_is_removed_fails_verification(cli: Cli, policy: Path, tmp_path: Path) -> None:
    seq = _request(cli)
    cli.ok("approve", seq, actor="erin")
    out = tmp_path / "b.zip"
    cli.ok("export", "--request", seq, "--out", out, actor="bob")
    bob = keys.load_private(policy / "keys" / "bob.signing.pem", PASSPHRASES["bob"], "bob")

    def drop(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/events.jsonl"
        lines = [line for line in entries[name].split(b"\n")[:-1] if b'"action": "export.approve"' not in line]
        return reseal({**entries, name: b"".join(line + b"\n" for line in lines)}, bob)

    forged = rewrite(out, tmp_path / "forged.zip", drop)
    report = cli("verify-bundle", forged, "--json").json()
    assert any(c["check"] == "export-approval" and not c["ok"] for c in report["checks"])
    proc = _standalone(forged, tmp_path)
    assert proc.returncode == 1
    assert any(c["check"] == "export-approval" and not c["ok"] for c in json.loads(proc.stdout)["checks"])


def test_a_refused_request_cannot_be_exported(cli: Cli, policy: Path, tmp_path: Path) -> None:
    seq = _request(cli)
    assert cli("approve", seq, "--refuse", actor="erin").code == 2  # a refusal must give its reason
    cli.ok("approve", seq, "--refuse", "--reason", "names a protected witness", actor="erin")
    cli.ok("approve", seq, actor="alice")
    result = cli("export", "--request", seq, "--out", tmp_path / "b.zip", actor="bob")
    assert result.code == 3 and "refused" in result.err


def test_an_export_logged_around_the_policy_fails_verify(cli: Cli, policy: Path) -> None:
    """Bob's key, with software that skips the rule, logs an export with no approval: verify names it."""
    acting = Archive.open(policy).act("bob", lambda _n: PASSPHRASES["bob"])
    acting.unlock()
    with acting.writing() as session:
        acting.append(session, "export", {"bundle_id": "BND-20260101-00000000", "items": ["EV-000001"]})
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    assert any(c["check"] == "export-approval" for c in failed)


def test_export_approvals_must_be_a_small_number(cli: Cli, policy: Path) -> None:
    assert cli("config", "set", "export.approvals", "two").code == 2
    assert cli("config", "set", "export.approvals", "1", actor="bob").code == 3


def test_filters_given_with_request_are_refused_not_ignored(
    cli: Cli, policy: Path, evidence: Path, tmp_path: Path
) -> None:
    """The request names the items: an --exclude (or any filter) beside --request was dropped without a word, and
    the item it was meant to hold back left in the bundle."""
    cli.ok("ingest", evidence / "strike.bin", "--case", "UA-7", actor="bob")
    seq = cli.ok("export-request", "EV-000001", "EV-000002", "--purpose", "to the OTP", "--json", actor="bob").json()
    cli.ok("approve", seq["seq"], actor="erin")
    before = _log(cli)
    out = tmp_path / "b.zip"
    for extra in (["--exclude", "EV-000002"], ["--type", "text"], ["--case", "UA-7", "--case", "UA-7"]):
        result = cli("export", "--request", seq["seq"], "--out", out, *extra, "--yes", actor="bob")
        assert result.code == 2 and "the request names the items" in result.err, (extra, result.out, result.err)
        assert not out.exists()
    assert _log(cli) == before
