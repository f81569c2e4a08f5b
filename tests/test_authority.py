"""Authority: every logged action was allowed for its signer, at that point of the log, by keys an admin registered.

The attacker here holds one low-privilege key and a doctored copy of the CLI (``custody.roles.allows``
always says yes); the verifiers (``verify``, ``verify-bundle``, ``import``) must name each event.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custody import roles
from custody.archive import Archive
from custody.log import events
from custody.roles import ACTION_PERMISSION, Action
from custody.timeutil import utc_now
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, retag, rewrite, root


@contextmanager
def doctored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A CLI whose role check was removed: every action is allowed to whoever runs it."""
    with monkeypatch.context() as patch:
        patch.setattr(roles, "allows", lambda _role, _permission: True)
        yield


def _log(cli: Cli) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = cli.ok("log", "--json").json()
    return entries


def _failures(result: Any) -> list[dict[str, Any]]:
    return [c for c in json.loads(result.out)["checks"] if not c["ok"]]


def _named(failures: list[dict[str, Any]], check: str) -> dict[str, str]:
    """subject -> detail of the failures of one check."""
    return {f["subject"]: f["detail"] for f in failures if f["check"] == check}


ROLE_OF = {"bob": "archivist", "carol": "analyst", "dave": "reviewer"}


def _attempts(tmp: Path, evidence: Path) -> dict[Action, Callable[[], list[str | Path]]]:
    """For each action, the command a doctored client runs to log it."""
    return {
        Action.INGEST: lambda: ["ingest", evidence / "strike.bin"],
        Action.ANNOTATE: lambda: ["annotate", "EV-000001", "a note the role may not write"],
        Action.CASE_ADD: lambda: ["case", "add", "EV-000001", "--case", "SMUGGLED-IN"],
        Action.CORRECT: lambda: ["correct", "EV-000001", "--field", "method", "--value", "doctored", "--reason", "r"],
        Action.EXPORT: lambda: ["export", "EV-000001", "--out", tmp / "doctored.zip", "--purpose", "leak"],
        Action.IMPORT: lambda: ["import", tmp / "clean.zip"],
        Action.VERIFY: lambda: ["verify", "EV-000001"],
        Action.ACTOR_ADD: lambda: ["actor", "add", "mallory", "--role", "admin"],
        Action.CONFIGURE: lambda: ["config", "set", "organization", "Doctored"],
    }


def _key_of(cli: Cli, name: str) -> str:
    return str(next(a["key_id"] for a in cli.ok("actor", "list", "--json").json() if a["name"] == name))


@pytest.mark.parametrize("actor", sorted(ROLE_OF))
def test_role_matrix_every_forbidden_action_is_a_named_failure(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, actor: str
) -> None:
    role = ROLE_OF[actor]
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("export", "EV-000001", "--out", tmp_path / "clean.zip", "--purpose", "court")
    attempts = _attempts(tmp_path, evidence)
    forbidden = [a for a in attempts if (p := ACTION_PERMISSION[a]) is not None and not roles.allows(role, p)]
    assert forbidden, f"{role} may do everything: the matrix would test nothing"
    logged: dict[Action, int] = {}
    for action in forbidden:
        before = len(_log(cli))
        with doctored(monkeypatch):
            # A doctored verify may itself report the earlier forbidden events (exit 1); it still logs.
            assert cli(*attempts[action](), actor=actor, new_passphrase="x").code in (0, 1)
        new = [e for e in _log(cli)[before:] if e["action"] == action.value]
        assert new, f"the doctored client did not log {action}"
        logged[action] = new[0]["seq"]

    result = cli("verify", "--all", "--json")
    assert result.code == 1
    denied = _named(_failures(result), "authority")
    for action, seq in logged.items():
        assert f"{action.value} by {actor} (role {role}) not permitted" in denied.get(f"event {seq}", ""), denied

    # Every event of this actor that a bundle of EV-000001 carries must be named, and the bundle refused.
    key = _key_of(cli, actor)
    carried = [e["seq"] for e in _log(cli) if e["item"] == "EV-000001" and e["actor"] == key and e["action"] != "view"]
    bundles: dict[Path, list[int]] = {}
    if carried:
        cli.ok("export", "EV-000001", "--out", tmp_path / "honest.zip", "--purpose", "court")
        bundles[tmp_path / "honest.zip"] = carried
    if Action.EXPORT in logged:
        bundles[tmp_path / "doctored.zip"] = [logged[Action.EXPORT]]
    if role != "archivist":
        assert bundles, "an analyst's or reviewer's forbidden item actions must reach a bundle"
    receiver = tmp_path / "receiver"
    cli.ok("init", receiver, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    for bundle, seqs in bundles.items():
        checked = cli("verify-bundle", bundle, "--json")
        assert checked.code == 1, bundle
        failures = _failures(checked)
        bundle_denied = _named(failures, "authority")
        for seq in seqs:
            assert f"event {seq}" in bundle_denied, (bundle.name, seq, bundle_denied)
        if bundle.name == "doctored.zip":
            assert "may not export" in _named(failures, "seal")["custody/seal.pub.pem"]
        before = len(cli.ok("--archive", receiver, "log", "--json").json())
        refused = cli("--archive", receiver, "import", bundle)
        assert refused.code != 0 and "nothing was imported" in refused.err + refused.out
        assert len(cli.ok("--archive", receiver, "log", "--json").json()) == before


def test_bundle_with_a_key_no_admin_registered_fails_and_is_refused(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("checkpoint", "--export", tmp_path / "published.txt")
    with doctored(monkeypatch):
        # The analyst registers a key of their own; the actors table then calls it an archivist.
        cli.ok("actor", "add", "eve", "--role", "archivist", actor="carol", new_passphrase="x")
    cli.ok("ingest", evidence / "transcript.txt", actor="eve")
    cli.ok("export", "EV-000001", "--out", tmp_path / "eve.zip", "--purpose", "exfiltrate", actor="eve")
    eve = _key_of(cli, "eve")
    carried = [json.loads(line) for line in _bundle_file(tmp_path / "eve.zip", "custody/events.jsonl").splitlines()]
    assert any(e["action"] == "actor.add" and e["payload"]["key_id"] == eve for e in carried)

    checked = cli("verify-bundle", tmp_path / "eve.zip", "--against-checkpoint", tmp_path / "published.txt", "--json")
    assert checked.code == 1
    failures = _failures(checked)
    denied = _named(failures, "authority")
    eve_events = [e["seq"] for e in carried if e["actor"] == eve]
    assert eve_events and all("no admin registered" in denied[f"event {seq}"] for seq in eve_events)
    assert "seal" in {f["check"] for f in failures}
    assert "record-signature" in {f["check"] for f in failures}

    partner = tmp_path / "partner"
    cli.ok("init", partner, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    refused = cli("--archive", partner, "import", tmp_path / "eve.zip")
    assert refused.code != 0 and "nothing was imported" in refused.err + refused.out
    assert [e["action"] for e in cli.ok("--archive", partner, "log", "--json").json()] == ["archive.init", "actor.add"]


def _bundle_file(bundle: Path, name: str) -> str:
    entries = members(bundle)
    return entries[f"{root(entries)}/{name}"].decode()


def test_bundle_carries_the_registration_closure_and_trusts_no_key_file(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court", actor="bob")
    carried = [json.loads(line) for line in _bundle_file(tmp_path / "b.zip", "custody/events.jsonl").splitlines()]
    bob = _key_of(cli, "bob")
    registration = next(e for e in carried if e["action"] == "actor.add" and e["payload"]["key_id"] == bob)
    assert [e["seq"] for e in carried][:2] == [0, 1]
    assert cli.ok("verify-bundle", tmp_path / "b.zip").code == 0

    def drop_registration(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/events.jsonl"
        kept = [e for e in carried if e["seq"] != registration["seq"]]
        return retag({**entries, name: "".join(json.dumps(e) + "\n" for e in kept).encode()})

    # bob's key file is still in custody/keys/: it must not stand in for his registration.
    checked = cli("verify-bundle", rewrite(tmp_path / "b.zip", tmp_path / "t.zip", drop_registration), "--json")
    assert checked.code == 1
    denied = _named(_failures(checked), "authority")
    assert all("no admin registered" in denied[f"event {e['seq']}"] for e in carried if e["actor"] == bob), denied


def test_event_dated_years_before_its_predecessor_fails_verify(cli: Cli, archive: Path) -> None:
    acting = Archive.open(archive).act("alice", lambda _name: PASSPHRASES["alice"])
    acting.unlock()
    with acting.writing() as session:
        event = acting.append(session, "annotate", {"text": "now", "tags": [], "supersedes": None})
        back = events.append(
            session,
            acting.signer,
            "annotate",
            {"text": "backdated", "tags": [], "supersedes": None},
            now=utc_now() - timedelta(days=3 * 365),
        )
        acting.appended = True
    acting.archive.close()
    assert back.seq == event.seq + 1
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    assert "time went backwards" in _named(_failures(result), "authority")[f"event {back.seq}"]


def test_clock_skew_within_the_tolerance_passes(cli: Cli, archive: Path) -> None:
    acting = Archive.open(archive).act("alice", lambda _name: PASSPHRASES["alice"])
    acting.unlock()
    with acting.writing() as session:
        acting.append(session, "annotate", {"text": "now", "tags": [], "supersedes": None})
        events.append(
            session,
            acting.signer,
            "annotate",
            {"text": "from a host 2 minutes slow", "tags": [], "supersedes": None},
            now=utc_now() - timedelta(minutes=2),
        )
        acting.appended = True
    acting.archive.close()
    cli.ok("verify", "--all")


def test_vkey_is_event_0s_whatever_archive_pub_pem_holds(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stated = _log(cli)[0]["payload"]["vkey"]
    other = tmp_path / "other"
    cli.ok("init", other, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    shutil.copy(other / "keys" / "archive.pub.pem", archive / "keys" / "archive.pub.pem")
    assert cli.ok("checkpoint", "--vkey").out.strip() == stated
    cli.ok("verify", "--all")


def test_another_archives_key_is_refused_before_it_signs(cli: Cli, team: Path, evidence: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    cli.ok("init", other, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    shutil.copy(other / "keys" / "alice.archive.pem", team / "keys" / "alice.archive.pem")
    before = _log(cli)
    for command in (["annotate", "EV-000001", "x"], ["ingest", evidence / "transcript.txt"], ["checkpoint"]):
        result = cli(*command)
        assert result.code == 2, command
        assert "is not this archive's key" in result.err and len(result.err.strip().splitlines()) == 1
    assert _log(cli) == before
    # Another actor's copy is intact: the log and its checkpoints still verify.
    cli.ok("verify", "--all", actor="dave")


def test_verify_bundle_pins_the_archive_key(cli: Cli, archive: Path, evidence: Path, tmp_path: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court")
    (tmp_path / "ours.vkey").write_text(cli.ok("checkpoint", "--vkey").out)
    other = tmp_path / "other"
    cli.ok("init", other, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    (tmp_path / "theirs.vkey").write_text(cli.ok("--archive", other, "checkpoint", "--vkey").out)

    pinned = cli("verify-bundle", tmp_path / "b.zip", "--vkey", tmp_path / "ours.vkey")
    assert pinned.code == 0 and "NOT checked" not in pinned.err + pinned.out
    wrong = cli("verify-bundle", tmp_path / "b.zip", "--vkey", tmp_path / "theirs.vkey", "--json")
    assert wrong.code == 1 and "--vkey" in _named(_failures(wrong), "archive-identity")
    unpinned = cli("verify-bundle", tmp_path / "b.zip")
    assert unpinned.code == 0
    assert "warning: the archive's identity was NOT checked" in " ".join(unpinned.err.split())
    assert "ALL CHECKS PASSED (the archive's identity was NOT checked)" in " ".join(unpinned.out.split())
    refused = cli("--archive", other, "import", tmp_path / "b.zip", "--vkey", tmp_path / "theirs.vkey")
    assert refused.code != 0 and "nothing was imported" in refused.err + refused.out


def test_offline_bundle_check_imports_no_database_stack() -> None:
    code = "import custody.bundle.check, sys; assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_actions_no_command_offers_are_named_too(cli: Cli, team: Path) -> None:
    acting = Archive.open(team).act("bob", lambda _name: PASSPHRASES["bob"])
    acting.unlock()
    with acting.writing() as session:
        # Straight through the library, as a client with no role checks at all would.
        upgrade = acting.append(session, "archive.upgrade", {"from": "x", "to": "y"})
        init = acting.append(session, "archive.init", {"origin": "custody.archive/forged"})
        unknown = acting.append(session, "wipe", {})
    acting.archive.close()
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    denied = _named(_failures(result), "authority")
    assert "archive.upgrade by bob (role archivist) not permitted" in denied[f"event {upgrade.seq}"]
    assert "archive.init is valid only as event 0" in denied[f"event {init.seq}"]
    assert "unknown action 'wipe'" in denied[f"event {unknown.seq}"]


def test_record_signed_by_another_key_than_its_ingest_event_is_named(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    from custody import keys, records

    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court", actor="bob")
    alice = keys.Signer("alice", keys.load_private(team / "keys" / "alice.signing.pem", PASSPHRASES["alice"], "alice"))

    def resign(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/items.json"
        signed = json.loads(entries[name])
        again = records.sign(signed[0]["record"], alice)
        signed[0] |= {"signature": again.signature, "signer": again.signer_key_id}
        return retag({**entries, name: json.dumps(signed).encode()})

    checked = cli("verify-bundle", rewrite(tmp_path / "b.zip", tmp_path / "t.zip", resign), "--json")
    assert checked.code == 1
    failures = _failures(checked)
    assert "record-signature" not in {f["check"] for f in failures}  # alice's signature itself is good
    assert "signed by alice (role admin), but its ingest event by bob" in _named(failures, "item-chain")["EV-000001"]
