"""Output for people: no Python reprs, actor names, escapes neutralised, verify says what it checked."""

from __future__ import annotations

from pathlib import Path

from tests.support.archives import Cli

HOSTILE = "\x1b[31mred\x1b[0m [blink]x \u202egpj.exe"


def _busy(cli: Cli, evidence: Path, tmp_path: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "A", "--tag", "witness", actor="bob")
    cli.ok("annotate", "EV-000001", "Two explosions", "--tag", "blast", actor="carol")
    cli.ok("case", "add", "EV-000001", "--case", "B", actor="bob")
    cli.ok("correct", "EV-000001", "--field", "method", "--value", "USB", "--reason", "typo", actor="bob")
    cli.ok("config", "set", "organization", "Example Centre")
    cli.ok("get", "EV-000001", "--out", tmp_path / "copy.txt", "--purpose", "exhibit", actor="dave")
    cli.ok("export", "EV-000001", "--out", tmp_path / "b.zip", "--purpose", "court", actor="bob")
    cli.ok("list", "--tag", "blast", actor="carol")
    cli.ok("verify", "--all", actor="dave")


def test_log_and_show_print_no_python_reprs_and_name_the_actors(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    _busy(cli, evidence, tmp_path)
    log = cli.ok("log", actor="dave").out
    shown = cli.ok("show", "EV-000001", actor="dave").out
    for text in (log, shown):
        assert "{'" not in text and "['" not in text
        assert "bob" in text and "carol" in text
    assert "Search by" in log  # the filtered list was logged with its query


def test_annotation_table_has_author_and_tags(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("annotate", "EV-000001", "Two explosions", "--tag", "blast", actor="carol")
    shown = cli.ok("show", "EV-000001", actor="dave").out
    table = shown[shown.index("Annotations") :]
    assert "author" in table and "carol" in table and "blast" in table


def test_control_characters_and_markup_in_names_are_shown_escaped(cli: Cli, team: Path, tmp_path: Path) -> None:
    hostile = tmp_path / HOSTILE
    hostile.write_text("x")
    cli.ok("ingest", hostile, actor="bob")
    for args in (["list"], ["show", "EV-000001"], ["log"]):
        out = cli.ok(*args, actor="dave").out
        assert "\x1b" not in out and "\u202e" not in out, args
    listed = cli.ok("list", actor="dave").out
    assert "\\x1b" in listed and "[blink]x" in listed and "\\u202e" in listed


def test_verify_says_which_archive_log_root_who_and_when_and_what_each_check_covered(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    _busy(cli, evidence, tmp_path)
    archive_id = cli.ok("status", "--json").json()["archive"]["id"]
    out = " ".join(cli.ok("verify", "--all", actor="dave").out.split())
    assert archive_id in out and "tree size" in out and "root" in out
    assert "Verified by dave" in out
    assert "event signatures verify" in out


def test_status_gives_sizes_in_words(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "strike.bin", actor="bob")
    assert "200.0 kB" in cli.ok("status").out


def test_a_plain_list_is_not_logged_and_a_filtered_one_is(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", "--case", "A", actor="bob")
    before = len(cli.ok("log", "--json").json())
    cli.ok("list", actor="carol")
    assert len(cli.ok("log", "--json").json()) == before
    cli.ok("list", "--case", "A", actor="carol")
    event = cli.ok("log", "--json").json()[-1]
    assert event["action"] == "view" and event["payload"] == {"kind": "search", "query": {"cases": ["A"]}, "found": 1}


def test_key_ids_are_shown_beside_names_on_request(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    bob = next(a["key_id"] for a in cli.ok("actor", "list", "--json").json() if a["name"] == "bob")
    assert bob[:12] not in cli.ok("log", "ev-000001", actor="dave").out
    for args in (["log", "EV-000001"], ["show", "EV-000001"]):
        assert bob[:12] in cli.ok(*args, "--key-ids", actor="dave").out, args


def test_help_says_where_the_archive_is_looked_for_and_how_long_unlock_may_last(cli: Cli) -> None:
    """As the README's global options and unlock agent sections say."""
    text = " ".join(cli.ok("--help").out.replace("│", " ").split())
    assert "Archive folder (default: the current folder, if it holds custody.toml)" in text
    unlock = " ".join(cli.ok("unlock", "--help").out.replace("│", " ").split())
    assert "at most 7 days" in unlock
