"""Sealed bundles: export, verify with stock tools and with custody, import, tampering."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import bagit
import pyrage
import pytest

from custody.deliveries import PRIVATE_DIR
from tests.support.archives import PASSPHRASES, Cli, make_archive
from tests.support.bundles import members, retag, rewrite, root
from tests.support.peak_memory import run_cli_measured

AGE = shutil.which("age")


@pytest.fixture
def source(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-7", "--collected-by", "Field team 3", actor="bob")
    cli.ok("annotate", "EV-000002", "Footage of the strike at 14:03", "--tag", "strike", actor="carol")
    cli.ok("get", "EV-000002", "--out", team.parent / "copy.bin", "--purpose", "expert review", actor="dave")
    return team


@pytest.fixture
def bundle(cli: Cli, source: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundle.zip"
    cli.ok("export", "--case", "UA-7", "--out", out, "--purpose", "disclosure to the ICC OTP", actor="bob")
    return out


def _unzip(bundle: Path, dest: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(dest)
    (folder,) = list(dest.iterdir())
    return folder


def _verify(cli: Cli, path: Path, *extra: str | Path) -> tuple[int, list[dict[str, str]]]:
    result = cli("verify-bundle", path, *extra, "--json")
    assert result.code in (0, 1), result.err
    return result.code, [c for c in result.json()["checks"] if not c["ok"]]


def test_bundle_unpacks_to_one_folder_named_after_the_bundle_id(bundle: Path, tmp_path: Path) -> None:
    folder = _unzip(bundle, tmp_path / "x")
    assert folder.name.startswith("BND-")
    info = (folder / "bag-info.txt").read_text()
    assert f"External-Identifier: {folder.name}" in info
    for field in ("Source-Organization:", "Bagging-Date:", "Payload-Oxum:", "Bag-Size:", "Custody-Exported-By: bob"):
        assert field in info


def test_payload_is_byte_identical_to_the_evidence(bundle: Path, evidence: Path, tmp_path: Path) -> None:
    folder = _unzip(bundle, tmp_path / "x")
    for name in ("transcript.txt", "strike.bin", "empty.dat"):
        (found,) = list((folder / "data").glob(f"EV-*/{name}"))
        assert found.read_bytes() == (evidence / name).read_bytes()


def test_bagit_python_validates_the_unzipped_bag(bundle: Path, tmp_path: Path) -> None:
    bag = bagit.Bag(str(_unzip(bundle, tmp_path / "x")))
    bag.validate()
    assert set(bag.algorithms) == {"sha256", "sha512"}


def test_openssl_verifies_the_seal(bundle: Path, tmp_path: Path) -> None:
    folder = _unzip(bundle, tmp_path / "x")
    proc = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "custody/seal.pub.pem",
            "-rawin",
            "-in",
            "tagmanifest-sha256.txt",
            "-sigfile",
            "custody/seal.sig",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Signature Verified Successfully" in proc.stdout


def test_sha256sum_checks_the_manifests(bundle: Path, tmp_path: Path) -> None:
    folder = _unzip(bundle, tmp_path / "x")
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        proc = subprocess.run(["sha256sum", "-c", manifest], cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_custody_files_describe_items_events_and_proofs(bundle: Path, tmp_path: Path) -> None:
    folder = _unzip(bundle, tmp_path / "x") / "custody"
    items = json.loads((folder / "items.json").read_text())
    assert {i["record"]["item_id"] for i in items} == {"EV-000001", "EV-000002", "EV-000003"}
    assert all("blake3" in i["record"] and i["signature"] for i in items)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    actions = [e["action"] for e in events]
    assert {"ingest", "annotate", "access", "export"} <= set(actions)
    proofs = json.loads((folder / "proofs.json").read_text())
    assert set(proofs["inclusion"]) == {str(e["seq"]) for e in events}
    assert (folder / "vkey.txt").read_text().startswith("custody.archive/")
    assert "Footage of the strike" in (folder / "report.html").read_text()
    assert "openssl pkeyutl -verify" in (folder / "VERIFY.md").read_text()


def test_export_is_logged_with_purpose(cli: Cli, bundle: Path) -> None:
    last = [e for e in cli.ok("log", "--json").json() if e["action"] == "export"][-1]
    assert last["payload"]["purpose"] == "disclosure to the ICC OTP"
    assert last["payload"]["items"] == ["EV-000001", "EV-000002", "EV-000003"]


def test_verify_bundle_passes_with_no_archive(
    cli: Cli, bundle: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CUSTODY_ARCHIVE")
    monkeypatch.chdir(tmp_path)
    code, failures = _verify(cli, bundle)
    assert (code, failures) == (0, [])


def test_verify_bundle_against_an_earlier_independent_checkpoint(cli: Cli, source: Path, tmp_path: Path) -> None:
    cli.ok("checkpoint", "--export", tmp_path / "published.txt")
    cli.ok("annotate", "EV-000001", "later", actor="carol")
    out = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "court", actor="bob")
    code, failures = _verify(cli, out, "--against-checkpoint", tmp_path / "published.txt")
    assert (code, failures) == (0, [])


def test_verify_bundle_against_another_archives_checkpoint_fails(
    cli: Cli, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_archive(cli, tmp_path / "other", monkeypatch)
    cli.ok("--archive", other, "checkpoint", "--export", tmp_path / "foreign.txt")
    code, failures = _verify(cli, bundle, "--against-checkpoint", tmp_path / "foreign.txt")
    assert code == 1 and [f["check"] for f in failures] == ["against-checkpoint"]


def test_encrypted_bundle_decrypts_with_stock_age(cli: Cli, source: Path, tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "key.txt").write_text(str(identity) + "\n")
    out = tmp_path / "sealed.zip.age"
    cli.ok(
        "export", "EV-000002", "--out", out, "--purpose", "court", "--recipient", str(identity.to_public()), actor="bob"
    )
    assert out.read_bytes().startswith(b"age-encryption.org/v1")
    assert not list(tmp_path.glob("*.zip"))
    assert AGE, "the age tool is required (apt-get install age)"
    subprocess.run([AGE, "-d", "-i", tmp_path / "key.txt", "-o", tmp_path / "plain.zip", out], check=True)
    assert zipfile.ZipFile(tmp_path / "plain.zip").testzip() is None
    code, failures = _verify(cli, out, "--identity", tmp_path / "key.txt")
    assert (code, failures) == (0, [])


def test_encrypted_bundle_with_wrong_identity_is_refused(cli: Cli, source: Path, tmp_path: Path) -> None:
    right, wrong = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    (tmp_path / "wrong.txt").write_text(str(wrong) + "\n")
    out = tmp_path / "sealed.zip.age"
    cli.ok(
        "export", "EV-000002", "--out", out, "--purpose", "court", "--recipient", str(right.to_public()), actor="bob"
    )
    result = cli("verify-bundle", out, "--identity", tmp_path / "wrong.txt")
    assert result.code != 0 and "cannot decrypt" in result.err


def test_bad_recipient_is_refused_before_anything_is_logged(cli: Cli, source: Path, tmp_path: Path) -> None:
    before = len(cli.ok("log", "--json").json())
    result = cli(
        "export", "EV-000001", "--out", tmp_path / "x.zip", "--purpose", "p", "--recipient", "age1nope", actor="bob"
    )
    assert result.code != 0 and "age1nope" in result.err
    assert len(cli.ok("log", "--json").json()) == before and not (tmp_path / "x.zip").exists()


def test_an_age_name_without_a_recipient_is_refused_not_written_in_the_clear(
    cli: Cli, source: Path, tmp_path: Path
) -> None:
    """A .age name promises encryption: a plain zip under it could be sent on as if it were encrypted."""
    before = len(cli.ok("log", "--json").json())
    result = cli("export", "EV-000001", "--out", tmp_path / "x.zip.age", "--purpose", "p", actor="bob")
    assert result.code == 2 and "x.zip.age" in result.err and "--recipient" in result.err
    assert len(cli.ok("log", "--json").json()) == before and list(tmp_path.glob("x.zip.age*")) == []


def test_export_refuses_to_overwrite(cli: Cli, bundle: Path) -> None:
    result = cli("export", "EV-000001", "--out", bundle, "--purpose", "again", actor="bob")
    assert result.code != 0 and "already exists" in result.err


def test_analyst_may_not_export(cli: Cli, source: Path, tmp_path: Path) -> None:
    result = cli("export", "EV-000001", "--out", tmp_path / "x.zip", "--purpose", "p", actor="carol")
    assert result.code == 3 and not (tmp_path / "x.zip").exists()


# Tampering: each is caught by verify-bundle, and the culprit is named.


def _payload_name(entries: dict[str, bytes], item: str) -> str:
    return next(n for n in entries if f"/data/{item}/" in n)


def test_changed_payload_byte_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    def flip(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = _payload_name(entries, "EV-000002")
        data = bytearray(entries[name])
        data[10] ^= 0xFF
        return {**entries, name: bytes(data)}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", flip))
    assert code == 1
    assert ("payload", "data/EV-000002/strike.bin") in {(f["check"], f["subject"]) for f in failures}


def test_removed_payload_file_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    def drop(entries: dict[str, bytes]) -> dict[str, bytes]:
        return {k: v for k, v in entries.items() if k != _payload_name(entries, "EV-000003")}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", drop))
    assert code == 1 and any(f["subject"] == "data/EV-000003/transcript.txt" for f in failures)


def test_added_file_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    def add(entries: dict[str, bytes]) -> dict[str, bytes]:
        return {**entries, f"{root(entries)}/data/EV-000001/planted.jpg": b"\xff\xd8\xff planted"}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", add))
    assert code == 1 and any(f["subject"] == "data/EV-000001/planted.jpg" for f in failures)


def test_edited_items_json_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/items.json"
        return {**entries, name: entries[name].replace(b'"case": "UA-7"', b'"case": "UA-8"')}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", edit))
    assert code == 1 and ("tag-file", "custody/items.json") in {(f["check"], f["subject"]) for f in failures}


def test_edited_items_json_with_recomputed_manifest_breaks_the_seal_and_signature(
    cli: Cli, bundle: Path, tmp_path: Path
) -> None:
    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/items.json"
        return retag({**entries, name: entries[name].replace(b'"case": "UA-7"', b'"case": "UA-8"')})

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", edit))
    checks = {f["check"] for f in failures}
    assert code == 1 and {"seal", "record-signature"} <= checks


def test_removed_event_line_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    def drop_line(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/events.jsonl"
        lines = [ln for ln in entries[name].decode().splitlines(keepends=True) if '"annotate"' not in ln]
        return {**entries, name: "".join(lines).encode()}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", drop_line))
    assert code == 1 and ("tag-file", "custody/events.jsonl") in {(f["check"], f["subject"]) for f in failures}


def test_swapped_public_key_is_named(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    from custody import keys

    def swap(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = next(n for n in entries if "/custody/keys/" in n)
        return {**entries, name: keys.public_pem(keys.generate().public_key()).encode()}

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", swap))
    assert code == 1 and any(f["subject"].startswith("custody/keys/") for f in failures)


def test_checkpoint_from_another_archive_is_named(
    cli: Cli, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_archive(cli, tmp_path / "other", monkeypatch)
    cli.ok("--archive", other, "checkpoint", "--export", tmp_path / "foreign.txt")
    vkey = cli.ok("--archive", other, "checkpoint", "--vkey").out

    def replace(entries: dict[str, bytes]) -> dict[str, bytes]:
        top = root(entries)
        return retag(
            {
                **entries,
                f"{top}/custody/checkpoint.txt": (tmp_path / "foreign.txt").read_bytes(),
                f"{top}/custody/vkey.txt": vkey.encode(),
            }
        )

    code, failures = _verify(cli, rewrite(bundle, tmp_path / "t.zip", replace))
    subjects = {f["check"] for f in failures}
    # vkey.txt is not the key event 0 states, and the checkpoint is not signed by that key.
    assert code == 1 and {"seal", "archive-identity", "checkpoint"} <= subjects


# Import


@pytest.fixture
def receiver(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root_dir = tmp_path / "receiver"
    cli.ok("init", root_dir, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    return root_dir


def test_import_keeps_original_records_and_appends_a_receipt(cli: Cli, bundle: Path, receiver: Path) -> None:
    result = cli.ok("--archive", receiver, "import", bundle, "--json", actor="carol").json()
    assert result["already_imported"] is False and set(result["items"]) == {"EV-000001", "EV-000002", "EV-000003"}
    log = cli.ok("--archive", receiver, "log", "--json", actor="carol").json()
    receipt = next(e for e in log if e["action"] == "import")
    assert receipt["payload"]["bundle_id"] == result["bundle_id"] and receipt["payload"]["seal"]
    view = cli.ok("--archive", receiver, "show", result["items"]["EV-000002"], "--json", actor="carol").json()
    assert view["record"]["imported"]["original_item_id"] == "EV-000002"
    assert view["acquisitions"][0]["provenance"]["collected_by"] == "Field team 3"
    assert cli.ok("--archive", receiver, "verify", "--all", actor="carol")


def test_importing_the_same_bundle_twice_is_a_no_op(cli: Cli, bundle: Path, receiver: Path) -> None:
    cli.ok("--archive", receiver, "import", bundle, actor="carol")
    before = len(cli.ok("--archive", receiver, "log", "--json", actor="carol").json())
    second = cli.ok("--archive", receiver, "import", bundle, actor="carol")
    assert "already imported" in second.out
    assert len(cli.ok("--archive", receiver, "log", "--json", actor="carol").json()) == before


def test_tampered_bundle_is_not_imported(cli: Cli, bundle: Path, receiver: Path, tmp_path: Path) -> None:
    def flip(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = _payload_name(entries, "EV-000002")
        # The payload is random bytes: flip the last one (setting it to b"!" left it unchanged 1 time in 256).
        return {**entries, name: entries[name][:-1] + bytes([entries[name][-1] ^ 0xFF])}

    bad = rewrite(bundle, tmp_path / "bad.zip", flip)
    before = cli.ok("--archive", receiver, "log", "--json", actor="carol").json()
    result = cli("--archive", receiver, "import", bad, actor="carol")
    assert result.code != 0 and "fails verification" in result.err and "nothing was imported" in result.err
    assert cli.ok("--archive", receiver, "log", "--json", actor="carol").json() == before
    assert cli.ok("--archive", receiver, "list", "--json", actor="carol").json() == []


def _forged_item(entries: dict[str, bytes], item: str, data: bytes) -> dict[str, bytes]:
    """Replace an item's payload and rewrite its record's digests to match (the signature no longer does)."""
    import blake3

    name = _payload_name(entries, item)
    items_name = f"{root(entries)}/custody/items.json"
    signed = json.loads(entries[items_name])
    for entry in signed:
        if entry["record"]["item_id"] == item:
            entry["record"].update(
                sha256=hashlib.sha256(data).hexdigest(), blake3=blake3.blake3(data).hexdigest(), size=len(data)
            )
    manifest = f"{root(entries)}/manifest-sha256.txt"
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {ln.split('  ', 1)[1]}" if ln.endswith(name.split("/", 1)[1]) else ln
        for ln in entries[manifest].decode().split("\n")
    ]
    changed = {name: data, items_name: json.dumps(signed).encode(), manifest: "\n".join(lines).encode()}
    return retag({**entries, **changed})


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "age"])
def test_a_bundle_swapped_on_disk_during_import_imports_only_what_was_verified(
    cli: Cli, source: Path, receiver: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool
) -> None:
    from custody.bundle.check import check_bundle

    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "id.txt").write_text(str(identity) + "\n")
    out = tmp_path / ("bundle.zip.age" if encrypted else "bundle.zip")
    extra = ["--recipient", str(identity.to_public())] if encrypted else []
    cli.ok("export", "--case", "UA-7", "--out", out, "--purpose", "court", *extra, actor="bob")
    genuine = tmp_path / "genuine.zip"
    if encrypted:
        genuine.write_bytes(pyrage.decrypt(out.read_bytes(), [identity]))
    else:
        shutil.copyfile(out, genuine)
    forged = rewrite(genuine, tmp_path / "forged.zip", lambda e: _forged_item(e, "EV-000002", b"planted footage"))
    real_check = check_bundle
    swapped: list[bool] = []

    def check_then_swap(*args: object, **kw: object) -> object:
        report = real_check(*args, **kw)  # type: ignore[arg-type]
        # Between the verification and the import, the file on disk becomes a forgery.
        forged_bytes = forged.read_bytes()
        if encrypted:
            forged_bytes = pyrage.encrypt(forged_bytes, [identity.to_public()])
        (tmp_path / "swap").write_bytes(forged_bytes)
        (tmp_path / "swap").replace(out)
        swapped.append(True)
        return report

    monkeypatch.setattr("custody.bundle.receive.check_bundle", check_then_swap)
    args: list[str | Path] = ["--identity", tmp_path / "id.txt"] if encrypted else []
    result = cli.ok("--archive", receiver, "import", out, *args, "--json", actor="carol").json()
    monkeypatch.undo()
    on_disk = pyrage.decrypt(out.read_bytes(), [identity]) if encrypted else out.read_bytes()
    assert swapped and on_disk == forged.read_bytes()
    entries = members(genuine)
    sent = {e["record"]["item_id"]: e["record"] for e in json.loads(entries[f"{root(entries)}/custody/items.json"])}
    for theirs, ours in result["items"].items():
        record = cli.ok("--archive", receiver, "show", ours, "--json", actor="carol").json()["record"]
        assert (record["sha256"], record["blake3"]) == (sent[theirs]["sha256"], sent[theirs]["blake3"])
    got = tmp_path / "got.bin"
    item = result["items"]["EV-000002"]
    cli.ok("--archive", receiver, "get", item, "--out", got, "--purpose", "check", actor="carol")
    assert got.read_bytes() == (source.parent / "copy.bin").read_bytes()
    cli.ok("--archive", receiver, "verify", "--all", actor="carol")
    assert not any((receiver / PRIVATE_DIR).iterdir()), "the private copy was left behind"


def test_the_forged_bundle_of_the_swap_test_is_refused_on_its_own(
    cli: Cli, bundle: Path, receiver: Path, tmp_path: Path
) -> None:
    forged = rewrite(bundle, tmp_path / "forged.zip", lambda e: _forged_item(e, "EV-000002", b"planted footage"))
    result = cli("--archive", receiver, "import", forged, actor="carol")
    assert result.code == 1 and "nothing was imported" in result.err
    assert cli.ok("--archive", receiver, "list", "--json", actor="carol").json() == []


def test_members_helper_reads_the_bundle(bundle: Path) -> None:
    assert any(name.endswith("bagit.txt") for name in members(bundle))


def test_a_two_gib_item_exports_in_bounded_memory(cli: Cli, archive: Path, tmp_path: Path) -> None:
    big = tmp_path / "footage.mp4"
    with big.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    cli.ok("ingest", big)
    big.unlink()
    out = tmp_path / "big-bundle.zip"
    env = {"CUSTODY_ARCHIVE": str(archive), "CUSTODY_PASSPHRASE": PASSPHRASES["alice"]}
    code, peak_mb, err = run_cli_measured(
        "--as", "alice", "export", "EV-000001", "--out", out, "--purpose", "court", env=env
    )
    assert code == 0, err
    assert 0 < peak_mb < 150, f"peak RSS {peak_mb:.0f} MB"
    assert out.stat().st_size > 2 * 1024**3
