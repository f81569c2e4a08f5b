"""custody init: a complete archive from nothing, never over an existing one."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from tests.support.archives import PASSPHRASES, Cli


def test_init_creates_config_database_store_and_keys(cli: Cli, archive: Path) -> None:
    assert (archive / "custody.toml").is_file()
    assert (archive / "custody.db").is_file()
    assert (archive / "store" / "sha256").is_dir()
    assert (archive / "keys" / "archive.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = archive / "keys" / "alice.signing.pem"
    assert json.loads(key.read_text())["format"] == "custody-key/1"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_init_builds_schema_with_alembic_migrations(archive: Path) -> None:
    with sqlite3.connect(archive / "custody.db") as conn:
        (revision,) = conn.execute("select version_num from alembic_version").fetchone()
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert revision == "0006_scale_indexes"
    assert {"actors", "items", "item_cases", "events", "event_items", "tree_nodes", "checkpoints"} <= tables


def test_init_registers_first_admin_and_logs_it(cli: Cli, archive: Path) -> None:
    actors = cli.ok("actor", "list", "--json").json()
    assert [(a["name"], a["role"]) for a in actors] == [("alice", "admin")]
    events = cli.ok("log", "--json").json()
    assert [e["action"] for e in events[:2]] == ["archive.init", "actor.add"]


def test_init_admin_defaults_to_os_user(cli: Cli, tmp_path: Path) -> None:
    import getpass

    cli.ok("init", tmp_path / "a", new_passphrase="pw")
    actors = cli.ok("--archive", tmp_path / "a", "actor", "list", "--json").json()
    assert actors[0]["name"] == getpass.getuser()


def test_init_refuses_a_folder_that_already_holds_an_archive(cli: Cli, archive: Path) -> None:
    before = (archive / "custody.toml").read_bytes()
    result = cli("init", archive, "--admin", "mallory", new_passphrase="pw")
    assert result.code != 0
    assert "already holds an archive" in result.err
    assert str(archive) in result.err.replace("\n", "")
    assert (archive / "custody.toml").read_bytes() == before


def test_init_refuses_invalid_admin_name_and_leaves_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("init", tmp_path / "new", "--admin", "../evil", new_passphrase="pw")
    assert result.code != 0 and "not a valid actor name" in result.err
    assert not (tmp_path / "new").exists()


def test_commands_outside_an_archive_say_how_to_find_one(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("list")
    assert result.code != 0
    assert "--archive" in result.err


def test_archive_found_from_current_folder(cli: Cli, archive: Path, monkeypatch) -> None:
    monkeypatch.delenv("CUSTODY_ARCHIVE")
    monkeypatch.chdir(archive)
    assert cli.ok("actor", "list", "--json").json()[0]["name"] == "alice"


def test_passphrase_default_matches_fixture() -> None:
    assert PASSPHRASES["alice"]


def test_a_catalog_file_that_is_not_a_database_is_a_one_line_error_naming_it(cli: Cli, archive: Path) -> None:
    (archive / "custody.db").write_bytes(b"this is not an SQLite database" * 10)
    result = cli("list")
    assert result.code != 0
    assert "cannot open the database" in result.err and "custody.db" in result.err
    assert "Traceback" not in result.err


def test_samples_into_a_path_that_is_a_file_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("not a folder\n")
    result = cli("samples", taken)
    assert result.code == 2 and result.err.startswith(f"error: {taken}: ") and result.err.count("\n") == 1
    assert taken.read_text() == "not a folder\n"
