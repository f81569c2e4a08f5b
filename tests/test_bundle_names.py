"""Payload names that survive every tool: any original file name gives a bundle that custody,
``sha256sum -c`` and bagit-python all verify, and text with Unicode separators stays one line."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import bagit
import pytest

from custody.bundle import layout
from tests.support.archives import PASSPHRASES, Cli

# Each of these broke at least one reader: line-oriented tools end lines at the separators,
# strip whitespace, decode '%', or (Windows) cannot create the name at all.
HOSTILE_NAMES = [
    " leading space.txt",
    "trailing space.txt ",
    "no-break space\u00a0",
    "\u00a0leading no-break space",
    "line\u2028separator.txt",
    "paragraph\u2029separator.txt",
    "next line\u0085.txt",
    "file\x1cgroup\x1drecord\x1eunit.txt",
    "vertical\x0btab\x0cform feed",
    "bell\x07and escape\x1b[31m.txt",
    "line\nfeed.txt",
    "carriage\rreturn.txt",
    "tab\there.txt",
    "100% sure.txt",
    "%0A%25.txt",
    'win<dows>:"forbidden"|?*.txt',
    "back\\slash.txt",
    "trailing dot.",
    "trailing dots and space. .",
    "CON",
    "con.txt",
    "NUL.tar.gz",
    "COM1",
    "LPT9.log",
    "right-to-left \u202egpj.exe",
    "zero\u200bwidth\ufeff.txt",
    "x" * 250 + ".mp4",
    "Ж" * 120 + ".txt",
    ".....",
    "   ",
    "Свидетельские показания 28.02.txt",
]


@pytest.fixture
def named(cli: Cli, archive: Path, tmp_path: Path) -> dict[str, str]:
    """An archive holding one file under each hostile name; original name -> item id."""
    folder = tmp_path / "names"
    folder.mkdir()
    for number, name in enumerate(HOSTILE_NAMES):
        (folder / name).write_bytes(f"evidence file {number}\n".encode())
    cli.ok("ingest", "-r", folder, "--case", "NAMES")
    return {r["original_name"]: r["item_id"] for r in cli.ok("list", "--json").json()}


@pytest.fixture
def bundle(cli: Cli, named: dict[str, str], tmp_path: Path) -> Path:
    out = tmp_path / "names.zip"
    cli.ok("export", "--case", "NAMES", "--out", out, "--purpose", "names")
    return out


def _extract(bundle: Path, dest: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(dest)
    (folder,) = list(dest.iterdir())
    return folder


def test_every_hostile_name_was_ingested_under_its_original_name(named: dict[str, str]) -> None:
    assert set(named) == set(HOSTILE_NAMES)


def test_a_bundle_of_hostile_names_verifies_with_custody(cli: Cli, bundle: Path) -> None:
    result = cli("verify-bundle", bundle, "--json")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]


def test_sha256sum_checks_the_payload_manifest_of_hostile_names(bundle: Path, tmp_path: Path) -> None:
    folder = _extract(bundle, tmp_path / "x")
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        proc = subprocess.run(["sha256sum", "--strict", "-c", manifest], cwd=folder, capture_output=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        checked = proc.stdout.decode().count(": OK\n")
        assert checked == len(layout.lines((folder / manifest).read_text())), proc.stdout


def test_bagit_python_validates_a_bag_of_hostile_names(bundle: Path, tmp_path: Path) -> None:
    bagit.Bag(str(_extract(bundle, tmp_path / "x"))).validate()


def test_each_payload_path_is_listed_in_items_json_and_keeps_the_original_name_in_the_record(
    bundle: Path, named: dict[str, str], tmp_path: Path
) -> None:
    folder = _extract(bundle, tmp_path / "x")
    entries = json.loads((folder / "custody" / "items.json").read_text())
    assert {e["record"]["original_name"] for e in entries} == set(HOSTILE_NAMES)
    for entry in entries:
        path = entry["path"]
        assert path.startswith(f"data/{entry['record']['item_id']}/") and (folder / path).is_file()
        assert path == layout.payload_path(entry["record"]["item_id"], entry["record"]["original_name"])


def test_readable_names_are_kept(bundle: Path, named: dict[str, str], tmp_path: Path) -> None:
    folder = _extract(bundle, tmp_path / "x")
    item = named["Свидетельские показания 28.02.txt"]
    assert (folder / "data" / item / "Свидетельские показания 28.02.txt").is_file()


def test_a_bundle_of_hostile_names_is_imported_and_the_receiver_verifies(
    cli: Cli, bundle: Path, named: dict[str, str], tmp_path: Path
) -> None:
    receiver = tmp_path / "receiver"
    cli.ok("init", receiver, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    result = cli.ok("--archive", receiver, "import", bundle, "--json", actor="carol").json()
    assert set(result["items"]) == set(named.values())
    records = cli.ok("--archive", receiver, "list", "--json", actor="carol").json()
    assert {r["original_name"] for r in records} == set(HOSTILE_NAMES)
    cli.ok("--archive", receiver, "verify", "--all", actor="carol")


@pytest.mark.parametrize(
    ("original", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("Свидетель.mp4", "Свидетель.mp4"),
        ("trailing ", "trailing"),
        ("no-break\u00a0", "no-break_"),
        ("a\u2028b", "a_b"),
        ("100%", "100_"),
        ("CON", "_CON"),
        ("aux.txt", "_aux.txt"),
        ("COM\u00b9", "_COM\u00b9"),
        ("name.", "name"),
        ("\u200cname.\u200d", "name"),
        ("\u06a9\u200c\u0647\u0627", "\u06a9\u200c\u0647\u0627"),  # Persian needs its zero-width non-joiner
        (".hidden", "_hidden"),
        ("..", ""),
        ("\x00\x01", "__"),
        ("y" * 200 + ".jpeg", "y" * (layout.MAX_NAME_BYTES - 5) + ".jpeg"),
    ],
)
def test_safe_name(original: str, safe: str) -> None:
    assert layout.safe_name(original) == safe


def test_a_name_with_nothing_usable_falls_back_to_the_item_id() -> None:
    assert layout.payload_path("EV-000007", "..") == "data/EV-000007/EV-000007"


# Text with Unicode separators inside events and manifests


SEPARATORS = "\u2028 \u2029 \u0085 \x1c \x1d \x1e \x0b \x0c \r"


def test_annotations_and_purposes_with_unicode_separators_verify_in_a_bundle(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a jpeg")
    cli.ok("ingest", photo)
    cli.ok("annotate", "EV-000001", f"seen at{SEPARATORS}the checkpoint")
    out = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", f"court{SEPARATORS}disclosure")
    result = cli("verify-bundle", out, "--json")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]
    receiver = tmp_path / "receiver"
    cli.ok("init", receiver, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    cli.ok("--archive", receiver, "import", out, actor="carol")
    bagit.Bag(str(_extract(out, tmp_path / "x"))).validate()


def test_jsonl_lines_end_only_at_line_feed() -> None:
    text = '{"a": "x\u2028y"}\n{"b": "\u0085"}\n'
    assert layout.parse_jsonl(text, "events.jsonl") == [{"a": "x\u2028y"}, {"b": "\u0085"}]


def test_manifest_paths_are_not_stripped_or_split_at_unicode_separators() -> None:
    text = f"{'ab' * 32}  data/EV-1/name\u00a0\n{'cd' * 32}  data/EV-2/a\u2028b %25\n"
    assert layout.parse_manifest(text, "manifest") == {
        "data/EV-1/name\u00a0": "ab" * 32,
        "data/EV-2/a\u2028b %": "cd" * 32,
    }


def test_a_legacy_bundle_without_paths_verifies_by_the_legacy_rule(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bundles made before items.json carried ``path`` named payloads by the legacy rule."""
    from custody.bundle import writer

    odd = tmp_path / "statement.txt\u00a0"
    odd.write_bytes(b"witness statement")
    cli.ok("ingest", odd)
    monkeypatch.setattr(layout, "payload_path", layout.legacy_payload_name)
    add_tag = writer.Bag.add_tag

    def without_paths(bag: writer.Bag, name: str, data: bytes, listed: bool = True) -> None:
        if name == layout.ITEMS:
            data = json.dumps([{k: v for k, v in e.items() if k != "path"} for e in json.loads(data)]).encode()
        add_tag(bag, name, data, listed)

    monkeypatch.setattr(writer.Bag, "add_tag", without_paths)
    out = tmp_path / "legacy.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "legacy")
    monkeypatch.undo()
    with zipfile.ZipFile(out) as zf:
        assert any(n.endswith("/data/EV-000001/statement.txt\u00a0") for n in zf.namelist())
    result = cli("verify-bundle", out, "--json")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]


def test_a_path_outside_the_items_own_folder_is_a_named_failure() -> None:
    entry = {"record": {"item_id": "EV-000001"}, "path": "data/EV-000002/x"}
    assert layout.path_problem(entry) == "path 'data/EV-000002/x' is not one file directly in data/EV-000001/"
