"""Actors, keys and roles: who may do what, and refusals are logged."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support.archives import Cli


def test_admin_adds_actors_with_roles(cli: Cli, team: Path) -> None:
    actors = {a["name"]: a for a in cli.ok("actor", "list", "--json").json()}
    assert {n: a["role"] for n, a in actors.items()} == {
        "alice": "admin",
        "bob": "archivist",
        "carol": "analyst",
        "dave": "reviewer",
    }


def test_export_public_prints_pem_whose_sha256_is_the_key_id(cli: Cli, team: Path) -> None:
    pem = cli.ok("actor", "export-public", "bob").out
    key = serialization.load_pem_public_key(pem.encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    bob = next(a for a in cli.ok("actor", "list", "--json").json() if a["name"] == "bob")
    assert hashlib.sha256(raw).hexdigest() == bob["key_id"]


def test_actor_add_is_logged(cli: Cli, team: Path) -> None:
    events = cli.ok("log", "--json").json()
    added = [e["payload"]["name"] for e in events if e["action"] == "actor.add"]
    assert added == ["alice", "bob", "carol", "dave"]


def test_non_admin_cannot_add_actors_and_the_refusal_is_logged(cli: Cli, team: Path) -> None:
    result = cli("actor", "add", "eve", "--role", "admin", actor="bob", new_passphrase="x")
    assert result.code == 3
    assert "bob (role archivist) may not manage-actors" in result.err
    events = cli.ok("log", "--json").json()
    assert events[-1]["action"] == "refuse"
    assert events[-1]["payload"]["attempted"] == "manage-actors"
    assert "eve" not in {a["name"] for a in cli.ok("actor", "list", "--json").json()}


def test_analyst_cannot_ingest_and_the_refusal_is_logged(cli: Cli, team: Path, evidence: Path) -> None:
    result = cli("ingest", evidence / "transcript.txt", actor="carol")
    assert result.code == 3 and "carol (role analyst) may not ingest" in result.err
    assert cli.ok("list", "--json").json() == []
    assert cli.ok("log", "--json").json()[-1]["action"] == "refuse"


def test_reviewer_cannot_annotate(cli: Cli, team: Path, evidence: Path) -> None:
    item = cli.ok("ingest", evidence / "transcript.txt", "--json", actor="bob").json()[0]["item_id"]
    result = cli("annotate", item, "looks staged", actor="dave")
    assert result.code == 3 and item in result.err


def test_unknown_actor_is_refused_by_name(cli: Cli, archive: Path) -> None:
    result = cli("list", actor="mallory")
    assert result.code != 0 and "unknown actor 'mallory'" in result.err


def test_wrong_passphrase_is_refused_and_nothing_is_logged(cli: Cli, archive: Path, evidence: Path) -> None:
    before = len(cli.ok("log", "--json").json())
    result = cli("ingest", evidence / "transcript.txt", passphrase="not-it")
    assert result.code != 0 and "wrong passphrase for alice" in result.err
    assert len(cli.ok("log", "--json").json()) == before
    assert cli.ok("list", "--json").json() == []


def test_duplicate_actor_name_is_refused(cli: Cli, team: Path) -> None:
    result = cli("actor", "add", "bob", "--role", "analyst", new_passphrase="x")
    assert result.code != 0 and "actor 'bob' already exists" in result.err


def test_unknown_role_is_refused(cli: Cli, archive: Path) -> None:
    result = cli("actor", "add", "eve", "--role", "god", new_passphrase="x")
    assert result.code != 0 and "unknown role 'god'" in result.err
    assert not (archive / "keys" / "eve.signing.pem").exists()
