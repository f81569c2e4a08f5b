"""An item's history is complete: every event naming it, in ``item`` or in its payload, is shown
by ``log ITEM`` and ``show``, travels in every later bundle of it, and the link table is verified."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from tests.support.archives import PASSPHRASES, Cli
from tests.support.tamper import sql


@pytest.fixture
def disclosed(cli: Cli, team: Path, evidence: Path, tmp_path: Path) -> Path:
    """Three items; two exported together, verified together, refused to an analyst, and read."""
    cli.ok("ingest", "-r", evidence, actor="bob")
    cli.ok("export", "EV-000001", "EV-000002", "--out", tmp_path / "first.zip", "--purpose", "to the OTP", actor="bob")
    cli.ok("verify", "EV-000001", "EV-000002", actor="dave")
    assert cli("export", "EV-000001", "--out", tmp_path / "no.zip", "--purpose", "leak", actor="carol").code == 3
    cli.ok("get", "EV-000001", "--out", tmp_path / "copy", "--purpose", "review", actor="dave")
    return team


def _actions(events: list[dict[str, object]]) -> list[object]:
    return [e["action"] for e in events]


def test_log_of_an_item_lists_exports_and_verifications_that_name_it_in_their_payload(
    cli: Cli, disclosed: Path
) -> None:
    history = cli.ok("log", "EV-000001", "--json").json()
    assert _actions(history) == ["ingest", "export", "verify", "refuse", "access"]
    export = history[1]
    assert export["item"] is None and export["payload"]["items"] == ["EV-000001", "EV-000002"]
    assert history[2]["payload"]["scope"] == ["EV-000001", "EV-000002"]


def test_log_of_an_item_leaves_out_events_naming_only_other_items(cli: Cli, disclosed: Path) -> None:
    assert _actions(cli.ok("log", "EV-000003", "--json").json()) == ["ingest"]


def test_show_lists_the_earlier_disclosure(cli: Cli, disclosed: Path) -> None:
    events = cli.ok("show", "EV-000002", "--json").json()["events"]
    assert _actions(events) == ["ingest", "export", "verify", "view"]


def test_a_later_bundle_tells_the_court_about_the_earlier_disclosure(cli: Cli, disclosed: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.zip"
    cli.ok("export", "EV-000002", "--out", second, "--purpose", "to the defence", actor="bob")
    with zipfile.ZipFile(second) as zf:
        name = next(n for n in zf.namelist() if n.endswith("custody/events.jsonl"))
        events = [json.loads(line) for line in zf.read(name).decode().split("\n") if line]
    purposes = [e["payload"]["purpose"] for e in events if e["action"] == "export"]
    assert purposes == ["to the OTP", "to the defence"]
    assert any(e["action"] == "verify" and e["payload"]["scope"] == ["EV-000001", "EV-000002"] for e in events)
    result = cli("verify-bundle", second, "--json")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]


def test_an_import_is_in_the_history_of_the_items_it_brought_in(cli: Cli, disclosed: Path, tmp_path: Path) -> None:
    receiver = tmp_path / "receiver"
    cli.ok("init", receiver, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    mapping = cli.ok("--archive", receiver, "import", tmp_path / "first.zip", "--json", actor="carol").json()["items"]
    for ours in mapping.values():
        history = cli.ok("--archive", receiver, "log", ours, "--json", actor="carol").json()
        assert _actions(history) == ["ingest", "import"]


def test_verify_all_checks_the_item_links(cli: Cli, disclosed: Path) -> None:
    checks = cli.ok("verify", "--all", "--json").json()["checks"]
    assert any(c["check"] == "event-items" and c["ok"] for c in checks)


def _event_items_failures(cli: Cli) -> set[tuple[str, str]]:
    result = cli("verify", "--all", "--json")
    assert result.code == 1, result.out
    return {(c["check"], c["subject"]) for c in result.json()["checks"] if not c["ok"]}


def _export_seq(archive: Path) -> int:
    with sqlite3.connect(archive / "custody.db") as conn:
        (seq,) = conn.execute("select seq from events where action = 'export'").fetchone()
    return int(seq)


def test_a_deleted_link_is_a_named_failure(cli: Cli, disclosed: Path) -> None:
    seq = _export_seq(disclosed)
    sql(disclosed, f"delete from event_items where seq = {seq} and item_id = 'EV-000001'")
    assert ("event-items", f"event_items seq {seq} item EV-000001") in _event_items_failures(cli)
    assert _actions(cli.ok("log", "EV-000001", "--json").json()) == ["ingest", "verify", "refuse", "access"]


def test_an_inserted_link_is_a_named_failure(cli: Cli, disclosed: Path) -> None:
    seq = _export_seq(disclosed)
    sql(disclosed, f"insert into event_items (seq, item_id) values ({seq}, 'EV-000003')")
    assert ("event-items", f"event_items seq {seq} item EV-000003") in _event_items_failures(cli)


def test_an_edited_link_is_a_named_failure(cli: Cli, disclosed: Path) -> None:
    seq = _export_seq(disclosed)
    sql(disclosed, f"update event_items set item_id = 'EV-000003' where seq = {seq} and item_id = 'EV-000002'")
    failures = _event_items_failures(cli)
    assert {
        ("event-items", f"event_items seq {seq} item EV-000002"),
        ("event-items", f"event_items seq {seq} item EV-000003"),
    } <= failures


def test_a_link_to_a_missing_event_is_a_named_failure(cli: Cli, disclosed: Path) -> None:
    sql(disclosed, "insert into event_items (seq, item_id) values (99999, 'EV-000001')")
    assert ("event-items", "event_items seq 99999 item EV-000001") in _event_items_failures(cli)


def test_the_link_table_is_append_only(disclosed: Path) -> None:
    with sqlite3.connect(disclosed / "custody.db") as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("delete from event_items")


def test_upgrading_an_older_archive_fills_the_links_from_its_log(cli: Cli, disclosed: Path) -> None:
    with sqlite3.connect(disclosed / "custody.db") as conn:
        before = conn.execute("select seq, item_id from event_items order by seq, item_id").fetchall()
    # The archive as the previous version left it: no link table, at migration 0004.
    sql(
        disclosed,
        "drop table event_items",
        "drop index ix_events_action_seq",  # and without the later indexes (0006)
        "drop index ix_item_cases_case_id",
        "update alembic_version set version_num = '0004_timestamps'",
    )
    assert cli("log", "EV-000001").code == 2
    cli.ok("upgrade")
    with sqlite3.connect(disclosed / "custody.db") as conn:
        after = conn.execute("select seq, item_id from event_items order by seq, item_id").fetchall()
    assert after[: len(before)] == before and len(before) == 9
    assert _actions(cli.ok("log", "EV-000001", "--json").json())[:5] == [
        "ingest",
        "export",
        "verify",
        "refuse",
        "access",
    ]
    cli.ok("verify", "--all")


def test_show_in_human_form_lists_the_disclosures(cli: Cli, disclosed: Path) -> None:
    shown = cli.ok("show", "EV-000002").out
    assert "Custody history" in shown and "export" in shown and "to the OTP" in shown and "verify" in shown


def test_item_history_on_each_database(cli: Cli, any_db_archive: Path, evidence: Path, tmp_path: Path) -> None:
    cli.ok("ingest", "-r", evidence)
    cli.ok("export", "EV-000001", "EV-000003", "--out", tmp_path / "b.zip", "--purpose", "court")
    cli.ok("verify", "EV-000003")
    assert _actions(cli.ok("log", "EV-000003", "--json").json()) == ["ingest", "export", "verify"]
    checks = cli.ok("verify", "--all", "--json").json()["checks"]
    assert [c["ok"] for c in checks if c["check"] == "event-items"] == [True]


def test_a_link_deleted_on_postgresql_with_the_triggers_bypassed_is_a_named_failure(
    cli: Cli, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evidence: Path
) -> None:
    from sqlalchemy import create_engine, text

    from tests.support.archives import make_archive

    make_archive(cli, tmp_path / "archive", monkeypatch, pg_url)
    cli.ok("ingest", "-r", evidence)
    cli.ok("export", "EV-000001", "EV-000002", "--out", tmp_path / "b.zip", "--purpose", "court")
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))
            seq = conn.execute(text("select seq from events where action = 'export'")).scalar_one()
            conn.execute(text("delete from event_items where seq = :s and item_id = 'EV-000002'"), {"s": seq})
    finally:
        engine.dispose()
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    failed = {(c["check"], c["subject"]) for c in result.json()["checks"] if not c["ok"]}
    assert ("event-items", f"event_items seq {seq} item EV-000002") in failed
