"""custody.toml is read into typed sections by one loader; a bad setting is named with its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.config import CONFIG_NAME, read_config
from custody.errors import ConfigError
from tests.support.archives import Cli


def _append(archive: Path, text: str) -> Path:
    path = archive / CONFIG_NAME
    path.write_text(path.read_text("utf-8") + text, "utf-8")
    return path


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [("keys", "min_length", '"twelve"'), ("tsa", "timeout", '"soon"'), ("export", "approvals", "true"),
     ("disclosure", "withhold", '"source_path"')],
)  # fmt: skip
def test_a_mistyped_setting_is_refused_naming_the_file_and_key(archive: Path, table: str, key: str, value: str) -> None:
    path = _append(archive, f"\n[{table}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as refused:
        read_config(archive)
    assert str(path) in str(refused.value) and f"{table}.{key}" in str(refused.value)


def test_settings_written_by_config_set_read_back_as_typed_sections(cli: Cli, archive: Path) -> None:
    cli.ok("config", "set", "keys.min_length", "16")
    cli.ok("config", "set", "export.approvals", "1")
    cli.ok("config", "set", "disclosure.withhold", "source_path,note")
    cfg = read_config(archive)
    assert (cfg.keys.min_length, cfg.keys.min_score) == (16, None)
    assert cfg.export.approvals == 1
    assert set(cfg.disclosure.withhold) == {"source_path", "source_path_bytes_b64", "note"}
    assert cfg.tsa.url is None


def test_an_archive_path_that_is_a_file_is_a_one_line_error(cli: Cli, archive: Path, tmp_path: Path) -> None:
    """--archive given a bundle or any other file, as a newcomer might: named, not a traceback."""
    not_a_folder = tmp_path / "bundle.zip"
    not_a_folder.write_bytes(b"PK\x05\x06" + bytes(18))
    result = cli("--archive", not_a_folder, "list")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"error: no archive at {not_a_folder}") and "not a folder" in result.err
