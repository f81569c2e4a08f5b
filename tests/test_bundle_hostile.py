"""Hostile bundles: refused by verify-bundle and import with a clear error, nothing written."""

from __future__ import annotations

import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members

Build = Callable[[Path, Path], Path]


@pytest.fixture
def good(cli: Cli, archive: Path, evidence: Path, tmp_path: Path) -> Path:
    cli.ok("ingest", evidence / "transcript.txt")
    out = tmp_path / "good.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "test")
    return out


@pytest.fixture
def receiver(cli: Cli, tmp_path: Path) -> Path:
    folder = tmp_path / "receiver"
    cli.ok("init", folder, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    return folder


def _with_entry(src: Path, dst: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for name, content in members(src).items():
            zf.writestr(name, content)
        zf.writestr(info, data)
    return dst


def _top(src: Path) -> str:
    return next(iter(members(src))).split("/", 1)[0]


def traversal(src: Path, dst: Path) -> Path:
    return _with_entry(src, dst, zipfile.ZipInfo(f"{_top(src)}/../../evil.txt"), b"owned")


def absolute(src: Path, dst: Path) -> Path:
    return _with_entry(src, dst, zipfile.ZipInfo("/tmp/evil.txt"), b"owned")


def symlink(src: Path, dst: Path) -> Path:
    info = zipfile.ZipInfo(f"{_top(src)}/data/EV-000001/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _with_entry(src, dst, info, b"/etc/passwd")


def special(src: Path, dst: Path) -> Path:
    info = zipfile.ZipInfo(f"{_top(src)}/data/EV-000001/fifo")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return _with_entry(src, dst, info, b"")


def duplicate(src: Path, dst: Path) -> Path:
    name = next(n for n in members(src) if n.endswith("bagit.txt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _with_entry(src, dst, zipfile.ZipInfo(name), b"BagIt-Version: 1.0\n")


def unlisted(src: Path, dst: Path) -> Path:
    return _with_entry(src, dst, zipfile.ZipInfo(f"{_top(src)}/custody/extra.txt"), b"not in any manifest")


def bomb(src: Path, dst: Path) -> Path:
    info = zipfile.ZipInfo(f"{_top(src)}/data/EV-000001/zeros.bin")
    info.compress_type = zipfile.ZIP_DEFLATED
    return _with_entry(src, dst, info, bytes(64 * 1024 * 1024))


def not_a_zip(src: Path, dst: Path) -> Path:
    dst.write_bytes(b"This is a Word document, honestly.\n" * 100)
    return dst


def truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


CASES: dict[str, tuple[Build, str]] = {
    "path traversal": (traversal, "path traversal"),
    "absolute path": (absolute, "absolute"),
    "symlink": (symlink, "symbolic link"),
    "special file": (special, "special file"),
    "duplicate entry": (duplicate, "appears twice"),
    "decompression bomb": (bomb, "decompression bomb"),
    "not a zip": (not_a_zip, "not a zip"),
    "truncated zip": (truncated, "not a zip file, or truncated"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_bundle_refuses(cli: Cli, good: Path, tmp_path: Path, case: str) -> None:
    build, message = CASES[case]
    bad = build(good, tmp_path / "bad.zip")
    result = cli("verify-bundle", bad)
    assert result.code == 1  # as the README's exit-code table and verify-bundle --help say
    assert message in result.err and "bad.zip" in result.err
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_refuses_and_writes_nothing(cli: Cli, good: Path, receiver: Path, tmp_path: Path, case: str) -> None:
    build, message = CASES[case]
    bad = build(good, tmp_path / "bad.zip")
    before = cli.ok("--archive", receiver, "log", "--json", actor="carol").json()
    result = cli("--archive", receiver, "import", bad, actor="carol")
    assert result.code != 0 and message in result.err
    # Named as the user gave it, never as the private copy import reads (tmp/custody-import-.../bundle.zip).
    assert str(bad) in result.err and "custody-import-" not in result.err, result.err
    assert cli.ok("--archive", receiver, "log", "--json", actor="carol").json() == before
    assert [p for p in (receiver / "store" / "sha256").rglob("*") if p.is_file()] == []


def test_an_altered_copy_of_an_imported_bundle_is_refused_not_taken_for_the_same_bundle(
    cli: Cli, good: Path, receiver: Path, tmp_path: Path
) -> None:
    """Same bundle id, one payload byte changed: a second import verifies before it says 'already imported'."""
    cli.ok("--archive", receiver, "import", good, actor="carol")
    entries = members(good)
    name = next(n for n in entries if "/data/" in n)
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(altered, "w") as zf:
        for entry, content in entries.items():
            zf.writestr(entry, content[:-1] + bytes([content[-1] ^ 1]) if entry == name else content)
    before = cli.ok("--archive", receiver, "log", "--json", actor="carol").json()
    result = cli("--archive", receiver, "import", altered, actor="carol")
    assert result.code == 1 and "fails verification" in result.err and "already imported" not in result.out
    assert cli.ok("--archive", receiver, "log", "--json", actor="carol").json() == before
    again = cli.ok("--archive", receiver, "import", good, actor="carol")  # the genuine one: still a no-op
    assert "already imported" in again.out


def test_entry_in_no_manifest_fails_verification_by_name(cli: Cli, good: Path, tmp_path: Path) -> None:
    result = cli("verify-bundle", unlisted(good, tmp_path / "bad.zip"), "--json")
    assert result.code == 1
    assert any(c["subject"] == "custody/extra.txt" and not c["ok"] for c in result.json()["checks"])


def test_entry_in_no_manifest_is_not_imported(cli: Cli, good: Path, receiver: Path, tmp_path: Path) -> None:
    result = cli("--archive", receiver, "import", unlisted(good, tmp_path / "bad.zip"), actor="carol")
    assert result.code != 0 and "custody/extra.txt" in result.err
    assert cli.ok("--archive", receiver, "list", "--json", actor="carol").json() == []


def test_wrong_age_identity_is_not_imported(
    cli: Cli, archive: Path, evidence: Path, receiver: Path, tmp_path: Path
) -> None:
    import pyrage

    right, wrong = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    cli.ok("ingest", evidence / "strike.bin")
    out = tmp_path / "b.zip.age"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "p", "--recipient", str(right.to_public()))
    (tmp_path / "wrong.txt").write_text(str(wrong))
    result = cli("--archive", receiver, "import", out, "--identity", tmp_path / "wrong.txt", actor="carol")
    assert result.code != 0 and "cannot decrypt" in result.err
    assert cli.ok("--archive", receiver, "list", "--json", actor="carol").json() == []


def test_a_truncated_encrypted_bundle_is_a_one_line_error_and_is_not_imported(
    cli: Cli, archive: Path, evidence: Path, receiver: Path, tmp_path: Path
) -> None:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "key.txt").write_text(str(identity))
    cli.ok("ingest", evidence / "strike.bin")
    whole = tmp_path / "b.zip.age"
    cli.ok("export", "EV-000001", "--out", whole, "--purpose", "p", "--recipient", str(identity.to_public()))
    cut = tmp_path / "cut.zip.age"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    checked = cli("verify-bundle", cut, "--identity", tmp_path / "key.txt")
    assert checked.code == 1 and checked.err.startswith(f"error: {cut}: ") and checked.err.count("\n") == 1
    assert "truncated" in checked.err
    result = cli("--archive", receiver, "import", cut, "--identity", tmp_path / "key.txt", actor="carol")
    assert result.code == 1 and f"{cut}: " in result.err and "truncated" in result.err
    assert cli.ok("--archive", receiver, "list", "--json", actor="carol").json() == []

