"""The unlock agent: commands sign through it without a passphrase; 0600 socket in a 0700 folder; lock ends it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from custody import agent
from tests.support.archives import Cli


def test_commands_sign_through_the_agent_and_verify(cli: Cli, archive: Path, evidence: Path, runtime: Path) -> None:
    cli.ok("unlock", "--for", "5m")
    path = agent.socket_path(archive, "alice")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # Nothing else, no key on disk: the agent's socket and its command server's.
        assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.name[:-5] + ".run.sock"])
        # A wrong passphrase in the environment does not matter: the agent signs.
        cli.ok("ingest", evidence / "transcript.txt", passphrase="wrong")
        cli.ok("annotate", "EV-000001", "signed by the agent", passphrase="wrong")
        assert cli("verify", "--all", "--json").code == 0
    finally:
        cli.ok("lock")
    assert not path.exists()
    refused = cli("annotate", "EV-000001", "after lock", passphrase="wrong")
    assert refused.code == 2 and "wrong passphrase" in refused.err


def test_unlock_needs_the_right_passphrase_and_lock_without_agent_says_so(
    cli: Cli, archive: Path, runtime: Path
) -> None:
    assert cli("unlock", passphrase="wrong").code == 2
    assert not agent.socket_path(archive, "alice").exists()
    assert "No agent was running" in cli.ok("lock").out


def test_an_agent_of_another_actor_is_not_used(cli: Cli, archive: Path, evidence: Path, runtime: Path) -> None:
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase="bob-secret")
    cli.ok("unlock", actor="bob")
    try:
        assert cli("annotate", "EV-000001", "x", passphrase="wrong").code == 2  # alice still needs hers
    finally:
        cli.ok("lock", actor="bob")


def test_a_revoked_actor_cannot_unlock(cli: Cli, archive: Path, runtime: Path) -> None:
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase="bob-secret")
    cli.ok("actor", "revoke", "bob", "--reason", "left")
    assert cli("unlock", actor="bob").code == 3


@pytest.mark.parametrize("text", ["0", "-5m", "8 weeks", "8d"])
def test_unlock_refuses_a_duration_it_cannot_read_or_over_a_week(cli: Cli, archive: Path, text: str) -> None:
    result = cli("unlock", "--for", text)
    assert result.code == 2 and "--for" in result.err
