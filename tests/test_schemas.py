"""Every record that leaves the archive matches its published JSON Schema."""

from __future__ import annotations

import json
import zipfile
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from custody.checks import CheckKind
from custody.metadata.flags import FlagCode
from custody.roles import Action
from tests.support.archives import Cli
from tests.support.media import exiftool_tag, make_picture
from tests.support.schemas import SCHEMAS, validate


@pytest.fixture
def busy(cli: Cli, team: Path, evidence: Path, tmp_path: Path) -> Path:
    photo = exiftool_tag(
        make_picture(tmp_path / "p.jpg"), DateTimeOriginal="2026:02:28 14:03:11", OffsetTimeOriginal="+02:00"
    )
    cli.ok("ingest", "-r", evidence, photo, "--case", "C1", actor="bob")
    cli.ok("annotate", "EV-000001", "note", actor="carol")
    cli.ok("verify", "--all", actor="dave")
    return team


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_schemas_are_valid_draft_2020_12(path: Path) -> None:
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_item_records_match_the_schema(cli: Cli, busy: Path) -> None:
    for record in cli.ok("list", "--json").json():
        validate("item-record", record)


def test_log_events_match_the_schema(cli: Cli, busy: Path) -> None:
    for event in cli.ok("log", "--json").json():
        validate("event", event)


def test_ingest_output_matches_the_schema(cli: Cli, busy: Path, tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("new")
    validate("ingest-result", cli.ok("ingest", tmp_path / "n.txt", "--json", actor="bob").json())


def test_proofs_match_the_schema(cli: Cli, busy: Path) -> None:
    validate("proof", cli.ok("proof", "--event", "3", "--json").json())
    validate("proof", cli.ok("proof", "--consistency", "2", "--json").json())


def test_checkpoint_json_matches_the_schema(cli: Cli, busy: Path) -> None:
    validate("checkpoint", cli.ok("checkpoint", "--json").json())


def test_verify_reports_match_the_schema(cli: Cli, busy: Path, tmp_path: Path) -> None:
    validate("verify-report", cli.ok("verify", "--all", "--json", actor="dave").json())
    cli.ok("export", "--case", "C1", "--out", tmp_path / "b.zip", "--purpose", "p", actor="bob")
    validate("verify-report", cli.ok("verify-bundle", tmp_path / "b.zip", "--json").json())


def test_bundle_files_match_the_schemas(cli: Cli, busy: Path, tmp_path: Path) -> None:
    cli.ok("export", "--case", "C1", "--out", tmp_path / "b.zip", "--purpose", "p", actor="bob")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        top = zf.namelist()[0].split("/")[0]
        validate("bundle-items", json.loads(zf.read(f"{top}/custody/items.json")))
        validate("bundle-proofs", json.loads(zf.read(f"{top}/custody/proofs.json")))
        for line in zf.read(f"{top}/custody/events.jsonl").decode().splitlines():
            validate("event", json.loads(line))


def test_a_record_missing_its_digest_is_rejected(cli: Cli, busy: Path) -> None:
    record = cli.ok("list", "--json").json()[0]
    del record["sha256"]
    with pytest.raises(jsonschema.ValidationError):
        validate("item-record", record)


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return schema


@pytest.mark.parametrize(
    ("schema", "path", "enum"),
    [
        ("event", ("properties", "action"), Action),
        ("item-record", ("properties", "flags", "items", "properties", "code"), FlagCode),
        ("verify-report", ("properties", "checks", "items", "properties", "check"), CheckKind),
    ],
    ids=["Action", "FlagCode", "CheckKind"],
)
def test_the_code_enums_are_the_schemas_enums(schema: str, path: tuple[str, ...], enum: type[StrEnum]) -> None:
    node = _schema(schema)
    for key in path:
        node = node[key]
    listed = node["enum"]
    assert len(listed) == len(set(listed)), f"{schema}: duplicate values in the enum"
    assert set(listed) == {member.value for member in enum}
