"""A court checks a bundle without custody: VERIFY.md run as printed, the standalone verifier, N-version agreement.

Three independent verifiers judge every bundle of a corpus of genuine and forged bundles and must agree:
custody's ``verify-bundle``, the stdlib-only ``custody/verify_bundle.py`` run with ``python3 -I`` outside
any environment that has custody, and the ``sh`` blocks of the bundle's own VERIFY.md run exactly as
printed in a C locale with only /usr/bin and /bin on PATH, after the zip was renamed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody import keys
from custody.bundle import standalone
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, retag, rewrite, root
from tests.support.court import (
    NAMES,
    SYSTEM_PYTHON,
    Genuine,
    clean_env,
    custody_verdict,
    genuine,
    guide_script,
    guide_verdict,
    reseal,
    run_guide,
    standalone_verdict,
    three_verdicts,
)
from tests.support.schemas import validate

__all__ = ["genuine"]  # the fixture (tests/support/court.py)

# --- the three verifiers ---------------------------------------------------------------------------------














# --- forgeries -----------------------------------------------------------------------------------------------




def _events(entries: dict[str, bytes]) -> list[bytes]:
    return entries[f"{root(entries)}/custody/events.jsonl"].split(b"\n")[:-1]


def _with_events(entries: dict[str, bytes], lines: list[bytes]) -> dict[str, bytes]:
    return {**entries, f"{root(entries)}/custody/events.jsonl": b"".join(line + b"\n" for line in lines)}


def payload_byte(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    name = next(n for n in entries if "/data/" in n and entries[n])
    return {**entries, name: bytes([entries[name][0] ^ 1]) + entries[name][1:]}


def dropped_event(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    lines = _events(entries)
    annotate = next(i for i, line in enumerate(lines) if b'"action": "annotate"' in line)
    return retag(_with_events(entries, lines[:annotate] + lines[annotate + 1 :]))


def resealed_fresh_key(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    """The issue's attack: two events taken out, tag manifest recomputed, sealed with a fresh key."""
    carol = json.loads(next(line for line in _events(entries) if b'"name": "carol"' in line))
    lines = [
        line
        for line in _events(entries)
        if b'"action": "annotate"' not in line and json.loads(line)["seq"] != carol["seq"]
    ]
    assert len(lines) == len(_events(entries)) - 2
    fresh = Ed25519PrivateKey.generate()
    top = root(entries)
    entries = {**_with_events(entries, lines)}
    entries[f"{top}/custody/keys/{keys.key_id(fresh.public_key())}.pem"] = keys.public_pem(fresh.public_key()).encode()
    return reseal(entries, fresh)


def resealed_by_exporter(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    """The exporter edits a signed record after the fact and re-seals with their own, genuine key."""
    top = root(entries)
    signed = json.loads(entries[f"{top}/custody/items.json"])
    signed[0]["record"]["collected_by"] = "someone else"
    return reseal({**entries, f"{top}/custody/items.json": json.dumps(signed).encode()}, g.bob)


def swapped_checkpoint(entries: dict[str, bytes], g: Genuine, other: tuple[str, str]) -> dict[str, bytes]:
    top = root(entries)
    note, vkey = other
    return reseal({**entries, f"{top}/custody/checkpoint.txt": note.encode(),
                   f"{top}/custody/vkey.txt": (vkey + "\n").encode()}, g.bob)  # fmt: skip


def truncated_proof(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    top = root(entries)
    proofs = json.loads(entries[f"{top}/custody/proofs.json"])
    seq = next(s for s, path in proofs["inclusion"].items() if path)
    proofs["inclusion"][seq] = proofs["inclusion"][seq][:-1]
    return reseal({**entries, f"{top}/custody/proofs.json": json.dumps(proofs).encode()}, g.bob)


def reordered_events(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    lines = _events(entries)
    lines[2], lines[3] = lines[3], lines[2]
    return retag(_with_events(entries, lines))


def sha512_line_dropped(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    """The exporter leaves a payload file out of manifest-sha512.txt (the export event binds only the SHA-256 one)."""
    name = f"{root(entries)}/manifest-sha512.txt"
    lines = entries[name].split(b"\n")
    return reseal({**entries, name: b"\n".join(lines[1:])}, g.bob)


def unsigned_huge_integer(entries: dict[str, bytes], g: Genuine) -> dict[str, bytes]:
    """An items.json entry gains a field beside its signed record holding an integer with no canonical form."""
    top = root(entries)
    signed = json.loads(entries[f"{top}/custody/items.json"])
    signed[0]["note"] = 2**60
    return reseal({**entries, f"{top}/custody/items.json": json.dumps(signed).encode()}, g.bob)


FORGERIES: dict[str, Callable[[dict[str, bytes], Genuine], dict[str, bytes]]] = {
    "payload byte changed": payload_byte,
    "event dropped": dropped_event,
    "two events dropped, re-sealed with a fresh key": resealed_fresh_key,
    "record edited, re-sealed by the exporter": resealed_by_exporter,
    "proof truncated, re-sealed by the exporter": truncated_proof,
    "events reordered": reordered_events,
    "SHA-512 line dropped, re-sealed by the exporter": sha512_line_dropped,
    "integer beyond 2**53 in items.json, re-sealed by the exporter": unsigned_huge_integer,
}




# --- the corpus -----------------------------------------------------------------------------------------------


def test_a_genuine_bundle_passes_all_three_verifiers(cli: Cli, genuine: Genuine, tmp_path: Path) -> None:
    verdicts = three_verdicts(cli, genuine.bundle, genuine, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, True)


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_bundle_fails_all_three_verifiers(cli: Cli, genuine: Genuine, tmp_path: Path, forgery: str) -> None:
    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", lambda e: FORGERIES[forgery](e, genuine))
    verdicts = three_verdicts(cli, forged, genuine, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_checkpoint_of_another_archive_fails_all_three_verifiers(
    cli: Cli, genuine: Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_root = tmp_path / "other"
    cli.ok("init", other_root, "--admin", "alice", new_passphrase=PASSPHRASES["alice"])
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(other_root))
    other = (cli.ok("checkpoint", "--json").json()["note"], cli.ok("checkpoint", "--vkey").out.strip())
    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", lambda e: swapped_checkpoint(e, genuine, other))
    verdicts = three_verdicts(cli, forged, genuine, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


def test_a_registration_signed_by_a_non_admin_fails_all_three_verifiers(
    cli: Cli, team: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """carol (analyst) runs a client without the role check and registers mallory, who ingests an item."""
    with monkeypatch.context() as patched:
        patched.setattr("custody.roles.allows", lambda role, permission: True)
        cli.ok("actor", "add", "mallory", "--role", "archivist", actor="carol", new_passphrase="mallory-secret")
    planted = tmp_path / "planted.txt"
    planted.write_text("A document mallory wants in evidence.\n")
    cli.ok("ingest", planted, actor="mallory", passphrase="mallory-secret")
    out = tmp_path / "bundle.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                Ed25519PrivateKey.generate())  # fmt: skip
    verdicts = three_verdicts(cli, out, g, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, False)


class FalseBlake3:
    """BLAKE3 as a broken or lying client computes it: the true digest with its last bit flipped."""

    real = blake3.blake3

    def __init__(self, data: bytes = b"", **options: Any) -> None:
        self._hash = self.real(data, **options)

    def update(self, data: bytes) -> FalseBlake3:
        self._hash.update(data)
        return self

    def digest(self) -> bytes:
        true = self._hash.digest()
        return true[:-1] + bytes([true[-1] ^ 1])

    def hexdigest(self) -> str:
        return self.digest().hex()


def test_a_record_with_a_false_blake3_fails_all_three_verifiers_by_name(
    cli: Cli, team: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's client signs the true SHA-256 and a false BLAKE3 of the payload; the archive logs and exports it.

    Every signature, the ingest event binding the record, the log and its checkpoint are genuine: only the
    record's BLAKE3 claim is false, and only a verifier that computes BLAKE3 can see it.
    """
    data = "Протокол допроса, 100%.\n".encode() * 700  # over one BLAKE3 chunk (1024 bytes)
    (tmp_path / "statement.txt").write_bytes(data)
    out = tmp_path / "bundle.zip"
    with monkeypatch.context() as patched:
        patched.setattr(blake3, "blake3", FalseBlake3)
        cli.ok("ingest", tmp_path / "statement.txt", actor="bob")
        cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure", actor="bob")
    entries = members(out)
    (entry,) = json.loads(entries[f"{root(entries)}/custody/items.json"])
    assert entry["record"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["record"]["blake3"] != blake3.blake3(data).hexdigest()
    g = Genuine(out, cli.ok("checkpoint", "--vkey").out.strip(), cli.ok("checkpoint", "--json").json()["note"],
                Ed25519PrivateKey.generate())  # fmt: skip
    (tmp_path / "verdicts").mkdir()
    verdicts = three_verdicts(cli, out, g, tmp_path / "verdicts")
    assert verdicts == dict.fromkeys(verdicts, False)
    named = [(c["check"], c["subject"]) for c in cli("verify-bundle", out, "--json").json()["checks"] if not c["ok"]]
    assert named == [("payload-blake3", "EV-000001")]
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), str(out), "--json"], env=clean_env(tmp_path),
                          capture_output=True, text=True)  # fmt: skip
    named = [(c["check"], c["subject"]) for c in json.loads(proc.stdout)["checks"] if not c["ok"]]
    assert named == [("payload-blake3", "EV-000001")]
    guide = run_guide(out, g.vkey, tmp_path / "guide")
    assert guide.returncode != 0 and "FAILED: EV-000001: the BLAKE3 of data/EV-000001/" in guide.stderr


@pytest.mark.skipif(shutil.which("age") is None, reason="the age command is not installed")
def test_an_age_encrypted_bundle_passes_all_three_verifiers(
    cli: Cli, genuine: Genuine, team: Path, tmp_path: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "court.key"
    key_file.write_text(f"{identity}\n")
    out = tmp_path / "sealed.zip.age"
    recipient = str(identity.to_public())
    cli.ok("export", "--case", "UA-7", "--out", out, "--purpose", "disclosure", "--recipient", recipient, actor="bob")
    g = Genuine(out, genuine.vkey, cli.ok("checkpoint", "--json").json()["note"], genuine.bob)
    note = Path(f"{out}.txt").read_text()
    bundle_id = re.search(r"BND-\d{8}-[0-9a-f]{8}", note)
    assert bundle_id and keys.key_id(genuine.bob.public_key()) in note
    # VERIFY.md step 1, as printed in the plaintext note: the court decrypts with stock age.
    clear = tmp_path / f"{bundle_id[0]}.zip"
    subprocess.run(["age", "-d", "-i", str(key_file), "-o", str(clear), str(out)], check=True)
    verdicts = {
        "custody verify-bundle": custody_verdict(cli, out, g, tmp_path, "--identity", key_file),
        "standalone verifier": standalone_verdict(out, g, tmp_path, "--identity", str(key_file)),
        "VERIFY.md commands": guide_verdict(clear, g, tmp_path),
    }
    assert verdicts == dict.fromkeys(verdicts, True)


# --- the standalone verifier and VERIFY.md themselves ----------------------------------------------------------


def test_the_standalone_verifier_imports_only_the_standard_library() -> None:
    tree = ast.parse(standalone.read(standalone.VERIFIER))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_the_standalone_verifier_runs_isolated_from_the_bundle_alone(genuine: Genuine, tmp_path: Path) -> None:
    """Exactly as VERIFY.md step 10 says: its own copy, python3 -I, no custody, no site packages at all."""
    with __import__("zipfile").ZipFile(genuine.bundle) as zf:
        zf.extractall(tmp_path / "x")
    (folder,) = (tmp_path / "x").iterdir()
    (tmp_path / "archive.vkey").write_text(genuine.vkey)
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "custody/verify_bundle.py", ".", "--vkey", "../../archive.vkey"],
                          cwd=folder, env=clean_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Bundle {folder.name}" in proc.stdout and "Sealed by bob (key " in proc.stdout
    assert "ALL CHECKS PASSED" in proc.stdout


def test_following_verify_md_leaves_the_bag_as_unpacked_so_step_10_then_passes(
    genuine: Genuine, tmp_path: Path
) -> None:
    """A court runs every block, then step 10 in the same folder, on a machine that writes Python bytecode.

    clean_env sets no PYTHONDONTWRITEBYTECODE: loading verify_bundle.py for the BLAKE3 step must not leave a
    custody/__pycache__ in the bag, which the one-program check would then rightly find in no manifest.
    """
    proc = run_guide(genuine.bundle, genuine.vkey, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    top = root(members(genuine.bundle))
    bag = tmp_path / "court" / top
    unpacked = {f"{top}/{p.relative_to(bag).as_posix()}" for p in bag.rglob("*") if p.is_file()}
    assert unpacked == set(members(genuine.bundle))
    step10 = subprocess.run([SYSTEM_PYTHON, "-I", "custody/verify_bundle.py", ".", "--vkey", "../archive.vkey"],
                            cwd=bag, env=clean_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert step10.returncode == 0 and "ALL CHECKS PASSED" in step10.stdout, step10.stdout + step10.stderr


def test_the_standalone_verifier_says_when_the_archive_identity_was_not_checked(
    genuine: Genuine, tmp_path: Path
) -> None:
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), str(genuine.bundle), "--json"], env=clean_env(tmp_path),
                          capture_output=True, text=True)  # fmt: skip
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"]
    (warning,) = [c for c in report["checks"] if c["check"] == "archive-identity" and c["warning"]]
    assert "NOT checked" in warning["detail"]


@pytest.mark.parametrize("option", ["--vkey", "--against-checkpoint", "--tsa-ca"])
def test_the_standalone_verifier_names_a_missing_trust_anchor_file_not_the_bundle(
    genuine: Genuine, tmp_path: Path, option: str
) -> None:
    """The court mistyped its own file's name: asking the sender for the bundle again would not help."""
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), str(genuine.bundle), option, "missing.txt"],
                          cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: missing.txt: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "check the path" in proc.stderr and "sender" not in proc.stderr


def test_the_standalone_verifiers_help_describes_every_argument(tmp_path: Path) -> None:
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), "--help"], env={**clean_env(tmp_path), "COLUMNS": "300"},
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0
    lines = [*proc.stdout.split("\n"), ""]
    for arg in ("bundle", "--vkey", "--against-checkpoint", "--tsa-ca", "--identity", "--json"):
        (at,) = [n for n, line in enumerate(lines) if line.split()[:1] == [arg]]
        words = lines[at].split()[1:]
        if lines[at + 1].startswith(" " * 10):  # argparse puts the help of a long option on the next line
            words += lines[at + 1].split()
        assert [w for w in words if not w.isupper()], f"{arg} has no help text: {lines[at]!r}"  # beyond METAVAR


def test_the_standalone_verifier_refuses_a_key_pinned_from_another_archive(
    cli: Cli, genuine: Genuine, tmp_path: Path
) -> None:
    other = Genuine(genuine.bundle, genuine.vkey.replace("+", "x+", 1), genuine.note, genuine.bob)
    assert not standalone_verdict(genuine.bundle, other, tmp_path)


def test_the_bundle_carries_the_verifier_and_the_formats_under_its_seal(genuine: Genuine) -> None:
    entries = members(genuine.bundle)
    top = root(entries)
    assert entries[f"{top}/custody/verify_bundle.py"] == standalone.read(standalone.VERIFIER)
    assert entries[f"{top}/custody/FORMATS.md"] == standalone.read(standalone.FORMATS)
    tags = entries[f"{top}/tagmanifest-sha256.txt"].decode()
    for name in ("custody/verify_bundle.py", "custody/FORMATS.md", "custody/VERIFY.md"):
        assert f"{hashlib.sha256(entries[f'{top}/{name}']).hexdigest()}  {name}\n" in tags


def test_verify_md_starts_from_the_independently_obtained_key_and_prints_one_command_per_line(
    genuine: Genuine,
) -> None:
    entries = members(genuine.bundle)
    guide = entries[f"{root(entries)}/custody/VERIFY.md"].decode()
    first_block = guide.index("```sh")
    assert guide.index("obtain the archive's **verifier key**") < first_block
    script = guide_script(guide)
    assert "cat ../archive.vkey" in script and "openssl pkeyutl -verify" in script
    assert "bundle for the court" not in guide  # nothing depends on the file name the exporter chose
    assert not any(line.endswith("\\") for line in script.split("\n"))  # no continuation lines to mistype


def test_verify_bundle_says_what_it_checked_who_sealed_it_and_which_anchors_it_used(
    cli: Cli, genuine: Genuine, tmp_path: Path
) -> None:
    anchor = tmp_path / "published.txt"
    anchor.write_text(genuine.note)
    text = " ".join(cli.ok("verify-bundle", genuine.bundle, "--against-checkpoint", anchor).out.split())
    top = root(members(genuine.bundle))
    bob = keys.key_id(genuine.bob.public_key())
    assert f"Bundle {top} ({genuine.bundle})" in text and f"Sealed by bob (key {bob}) at 20" in text
    assert f"{len(NAMES)} items, " in text and "checkpoint tree size " in text
    assert f"Trust anchors used: your checkpoint {anchor}" in text and "TSA root: not given" in text
    report = cli.ok("verify-bundle", genuine.bundle, "--json").json()
    validate("verify-report", report)
    summary = report["summary"]
    assert summary["sealed_by"] == {"name": "bob", "key_id": bob} and summary["items"] == len(NAMES)
    assert summary["trust_anchors"] == {"vkey": None, "checkpoints": [], "tsa_root": None}
    assert "NOT checked" in " ".join(cli.ok("verify-bundle", genuine.bundle).out.split())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("custody/vkey.txt", None),
        ("custody/events.jsonl", b'[1, 2]\n'),
        ("custody/proofs.json", b"[]"),
        ("custody/items.json", b'[{"record": {"item_id": 7}}]'),
        ("custody/checkpoint.txt", b"not a note"),
    ],
)
def test_the_standalone_verifier_reports_malformed_custody_files_as_failures(
    genuine: Genuine, tmp_path: Path, name: str, content: bytes | None
) -> None:
    def change(entries: dict[str, bytes]) -> dict[str, bytes]:
        key = f"{root(entries)}/{name}"
        if content is None:  # removed (the tag manifest then names a missing file)
            return {k: v for k, v in entries.items() if k != key}
        return reseal({**entries, key: content}, genuine.bob)

    forged = rewrite(genuine.bundle, tmp_path / "forged.zip", change)
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), str(forged)], capture_output=True, text=True,
                          env=clean_env(tmp_path))  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "CHECK(S) FAILED" in proc.stdout


@pytest.mark.parametrize("correct", [True, False])
def test_the_court_tools_follow_the_items_path_field_when_a_bundle_has_it(
    genuine: Genuine, tmp_path: Path, correct: bool
) -> None:
    """Bundles from this wave on name each item's payload in items.json "path"; older ones use the legacy rule."""

    def add_paths(entries: dict[str, bytes]) -> dict[str, bytes]:
        top = root(entries)
        signed = json.loads(entries[f"{top}/custody/items.json"])
        files = sorted(n.split("/", 1)[1] for n in entries if "/data/" in n)
        for entry in signed:
            mine = next(f for f in files if f.startswith(f"data/{entry['record']['item_id']}/"))
            entry["path"] = mine if correct else next(f for f in files if f != mine)
        return reseal({**entries, f"{top}/custody/items.json": json.dumps(signed).encode()}, genuine.bob)

    bundle = rewrite(genuine.bundle, tmp_path / "paths.zip", add_paths)
    assert standalone_verdict(bundle, genuine, tmp_path) is correct
    assert guide_verdict(bundle, genuine, tmp_path) is correct


def test_the_standalone_canonical_json_is_rfc_8785() -> None:
    """Its own JCS (and VERIFY.md's copy) against the rfc8785 library custody signs with, on awkward values."""
    import random

    from custody.bundle.guide import _JCS
    from custody.bundle.standalone import verify_bundle
    from custody.canonical import canonical

    guide: dict[str, object] = {}
    exec(_JCS.replace("@WORK@", "unused"), guide)
    rng = random.Random(13)
    floats = [0.0, -0.0, 1.0, -1.5, 0.1, 1e21, 1e-7, 1e-6, 123456789012345680000.0, 5e-324, 1.7976931348623157e308]
    floats += [rng.uniform(-1e6, 1e6) for _ in range(300)]
    floats += [rng.random() * 10 ** rng.randint(-30, 30) for _ in range(300)]
    values: list[object] = [
        {"b": 1, "a": [True, False, None], "\U0001f600": "astral key", "\ufb33": "BMP key after astral in UTF-16"},
        {"text": "quote \" backslash \\ controls \x00\x01\x1f\t\n\r\x08\x0c del \x7f"},
        {"separators": "\u2028\u2029\u0085 é ж"},
        {"ints": [0, -1, 2**53 - 1, -(2**53 - 1)]},
        *floats,
    ]
    for value in values:
        assert verify_bundle.jcs_bytes(value) == canonical(value), value
        assert guide["jcs"](value) == canonical(value), value  # type: ignore[operator]
