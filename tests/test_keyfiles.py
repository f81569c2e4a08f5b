"""Key files: scrypt at the production cost, upgrade of old files, passphrase policy, damaged files, modes, prompts."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from custody import keys
from custody.errors import KeyFileError, WrongPassphraseError
from tests.support.archives import PASSPHRASES, TEST_KDF, Cli

STRONG = "violet tractor anchors quietly"


def _kdf(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text())["kdf"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.production_keys
def test_keys_made_by_init_and_actor_add_use_the_production_scrypt_cost(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    cli.ok("init", root, "--admin", "alice", new_passphrase=STRONG)
    cli.ok("--archive", root, "actor", "add", "bob", "--role", "archivist", passphrase=STRONG,
           new_passphrase="marble kettle orbit 1987")  # fmt: skip
    production = keys.PRODUCTION_KDF
    for name in ("alice.signing.pem", "alice.archive.pem", "bob.signing.pem", "bob.archive.pem"):
        kdf = _kdf(root / "keys" / name)
        assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", production.n, production.r, production.p)
    assert production.n * production.r * 128 >= 64 * 2**20  # at least 64 MiB per guess
    assert production.n * production.r * production.p >= 2**20  # and 2^20 block mixes of work


@pytest.mark.production_keys
def test_a_weak_passphrase_is_refused_and_the_admin_sets_the_minimum(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    short = cli("init", root, "--admin", "alice", new_passphrase="secret1")
    assert short.code == 2 and "at least 12 are required" in short.err
    guessable = cli("init", root, "--admin", "alice", new_passphrase="password1234")
    assert guessable.code == 2 and "too easy to guess" in guessable.err
    assert not (root / "custody.toml").exists()
    cli.ok("init", root, "--admin", "alice", new_passphrase=STRONG)
    cli.ok("--archive", root, "config", "set", "keys.min_length", "32", passphrase=STRONG)
    refused = cli("--archive", root, "actor", "add", "bob", "--role", "analyst", passphrase=STRONG,
                  new_passphrase="marble kettle orbit 1987")  # fmt: skip
    assert refused.code == 2 and "at least 32 are required" in refused.err
    assert not (root / "keys" / "bob.signing.pem").exists()


def test_a_legacy_pbkdf2_key_file_is_upgraded_when_next_opened(cli: Cli, archive: Path, evidence: Path) -> None:
    path = archive / "keys" / "alice.signing.pem"
    key = keys.load_private(path, PASSPHRASES["alice"], "alice")
    legacy = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASES["alice"].encode()),
    )
    path.write_bytes(legacy)
    cli.ok("ingest", evidence / "transcript.txt")
    assert _kdf(path)["name"] == "scrypt"
    assert keys.key_id(keys.load_private(path, PASSPHRASES["alice"], "alice").public_key()) == keys.key_id(
        key.public_key()
    )


def test_a_key_file_weaker_than_the_current_cost_is_re_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys" / "k.pem"
    key = keys.generate()
    keys.save_private(path, key, "pass", cost=keys.KdfCost(n=2**2, r=8, p=1))
    keys.load_private(path, "pass", "k")
    assert _kdf(path)["n"] == TEST_KDF.n


def test_a_damaged_key_file_is_named_as_such_not_as_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    keys.save_private(path, keys.generate(), "pass")
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        keys.load_private(path, "other", "k")
    text = path.read_text()
    for damaged in (text[: len(text) // 2], "not a key at all\n", text.replace('"scrypt"', '"md5"')):
        path.write_text(damaged)
        with pytest.raises(KeyFileError, match="damaged or not a custody key file") as caught:
            keys.load_private(path, "pass", "k")
        assert not isinstance(caught.value, WrongPassphraseError)


def test_a_key_file_asking_for_gigabytes_of_scrypt_memory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    keys.save_private(path, keys.generate(), "pass")
    doc = json.loads(path.read_text())
    doc["kdf"]["n"] = 2**30
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="damaged"):
        keys.load_private(path, "pass", "k")


def test_a_wrong_passphrase_from_the_environment_says_so(cli: Cli, archive: Path, evidence: Path) -> None:
    result = cli("ingest", evidence / "transcript.txt", passphrase="not alice's")
    assert result.code == 2
    assert "wrong passphrase for alice's key" in result.err and "taken from CUSTODY_PASSPHRASE" in result.err


def test_file_modes_keys_catalog_and_blobs_are_nobody_elses(cli: Cli, archive: Path, evidence: Path) -> None:
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase="x")
    row = cli.ok("ingest", evidence / "strike.bin", "--json").json()[0]
    assert _mode(archive / "keys") == 0o700
    for path in (archive / "keys").glob("*.pem"):
        if path.name != "archive.pub.pem":
            assert _mode(path) == 0o600, path
    assert _mode(archive) == 0o700
    assert _mode(archive / "custody.db") == 0o600
    assert _mode(archive / "custody.toml") == 0o600
    blob = archive / "store" / "sha256" / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]
    assert _mode(blob) == 0o400
    assert _mode(archive / "store") == 0o700
    assert cli.ok("status", "--json").json()["store"]["lock"] == "files read-only (mode 0400)"  # what status says


def test_a_team_group_may_read_blobs_when_configured(cli: Cli, archive: Path, evidence: Path) -> None:
    config = archive / "custody.toml"
    config.write_text(config.read_text().replace("[store]\n", "[store]\ngroup_read = true\n"))
    row = cli.ok("ingest", evidence / "strike.bin", "--json").json()[0]
    blob = archive / "store" / "sha256" / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]
    assert _mode(blob) == 0o440 and _mode(archive / "store") == 0o750
    assert cli.ok("status", "--json").json()["store"]["lock"] == "files read-only (mode 0440)"


def test_no_terminal_means_a_plain_error_not_a_python_warning(archive: Path, evidence: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CUSTODY_ARCHIVE": str(archive), "CUSTODY_ACTOR": "alice"}
    proc = subprocess.run(
        ["setsid", sys.executable, "-m", "custody_cli.main", "ingest", str(evidence / "transcript.txt")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    assert "no terminal to ask on; set CUSTODY_PASSPHRASE" in proc.stderr


# --- backup and restore ------------------------------------------------------------------------------------


def _age_identity(tmp: Path) -> tuple[str, Path]:
    import pyrage

    holder = pyrage.x25519.Identity.generate()
    path = tmp / "recovery.key"
    path.write_text(str(holder) + "\n")
    return str(holder.to_public()), path


def test_backup_and_restore_bring_back_a_lost_key_file(cli: Cli, archive: Path, evidence: Path, tmp_path: Path) -> None:
    recipient, identity = _age_identity(tmp_path)
    out = tmp_path / "alice.backup.age"
    cli.ok("actor", "backup", "alice", "--recipient", recipient, "--out", out)
    assert _mode(out) == 0o600 and b"age-encryption.org" in out.read_bytes()[:40]
    assert b"ciphertext" not in out.read_bytes()  # nothing of the key file is readable without the identity
    (archive / "keys" / "alice.signing.pem").unlink()
    (archive / "keys" / "alice.archive.pem").unlink()
    assert cli("ingest", evidence / "transcript.txt").code == 2
    cli.ok("actor", "restore", out, "--identity", identity)
    assert _mode(archive / "keys" / "alice.signing.pem") == 0o600
    cli.ok("ingest", evidence / "transcript.txt")
    assert cli("verify", "--all").code == 0


def test_restore_refuses_a_rotated_key_a_foreign_identity_and_never_overwrites_a_backup(
    cli: Cli, archive: Path, tmp_path: Path
) -> None:
    recipient, identity = _age_identity(tmp_path)
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase="bob-secret")
    out = tmp_path / "bob.age"
    cli.ok("actor", "backup", "bob", "--recipient", recipient, "--out", out)
    again = cli("actor", "backup", "bob", "--recipient", recipient, "--out", out)
    assert again.code == 2 and "already exists" in again.err
    (tmp_path / "stranger").mkdir()
    _other, stranger = _age_identity(tmp_path / "stranger")
    foreign = cli("actor", "restore", out, "--identity", stranger)
    assert foreign.code == 2 and "cannot decrypt" in foreign.err
    cli.ok("actor", "rotate", "bob", new_passphrase="bob-new")
    stale = cli("actor", "restore", out, "--identity", identity)
    assert stale.code == 2 and "since rotated" in stale.err
    bad = cli("actor", "backup", "bob", "--recipient", "not-a-key", "--out", tmp_path / "b2")
    assert bad.code == 2 and "age X25519 public key" in bad.err


class _Typed:
    """Passphrases as a person types them at the prompt, one per try."""

    interactive = True
    source = " (typed at the prompt)"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, owner: str) -> str:
        self.asked += 1
        return self.answers.pop(0)


def test_a_typed_passphrase_gets_three_tries(archive: Path) -> None:
    from custody.archive import Archive

    typed = _Typed("typo", "another typo", PASSPHRASES["alice"])
    opened = Archive.open(archive)
    try:
        opened.act("alice", typed).unlock()
        assert typed.asked == 3
        three_wrong = _Typed("a", "b", "c", PASSPHRASES["alice"])
        with pytest.raises(WrongPassphraseError, match="typed at the prompt"):
            opened.act("alice", three_wrong).unlock()
        assert three_wrong.asked == 3
    finally:
        opened.close()


def test_a_passphrase_from_the_environment_is_tried_once(archive: Path) -> None:
    from custody.archive import Archive

    env = _Typed("wrong", PASSPHRASES["alice"])
    env.interactive = False
    opened = Archive.open(archive)
    try:
        with pytest.raises(WrongPassphraseError):
            opened.act("alice", env).unlock()
        assert env.asked == 1
    finally:
        opened.close()


def _nonce(path: Path) -> str:
    return str(json.loads(path.read_text())["cipher"]["nonce"])


def test_an_actors_two_key_files_share_one_salt_so_one_derivation_opens_both(cli: Cli, archive: Path) -> None:
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase=PASSPHRASES["bob"])
    folder = archive / "keys"
    for name in ("alice", "bob"):
        signing, copy = folder / f"{name}.signing.pem", folder / f"{name}.archive.pem"
        assert _kdf(signing) == _kdf(copy)
        assert _nonce(signing) != _nonce(copy)  # one key-encryption key, never one nonce twice
    assert _kdf(folder / "alice.signing.pem")["salt"] != _kdf(folder / "bob.signing.pem")["salt"]


def test_a_new_passphrase_gives_the_pair_a_new_shared_salt(
    cli: Cli, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = archive / "keys"
    before = _kdf(folder / "alice.signing.pem")["salt"]
    monkeypatch.setenv("CUSTODY_OLD_PASSPHRASE", PASSPHRASES["alice"])
    cli.ok("actor", "passphrase", "alice", new_passphrase="a new passphrase for alice")
    after = _kdf(folder / "alice.signing.pem")
    assert after["salt"] != before and after == _kdf(folder / "alice.archive.pem")
