"""Withheld fields: a bundle can leave out a witness's name and folder while every signature still verifies."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from custody import disclosure, keys
from custody.bundle import standalone
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, rewrite, root
from tests.support.court import reseal, run_guide
from tests.support.schemas import validate
from tests.support.tamper import sql

WITNESS = "Олена Петренко"
FOLDER = f"W-22 {WITNESS}"
HANDED_OVER_BY = "Sister of W-22, Kharkiv"


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    folder = tmp_path / "media" / FOLDER
    folder.mkdir(parents=True)
    path = folder / "statement.txt"
    path.write_text("Two explosions at 14:03.\n")
    return path


@pytest.fixture
def ingested(cli: Cli, team: Path, statement: Path, tmp_path: Path) -> Path:
    """EV-000001 from the witness's folder, then the same bytes again from a second folder (an acquire event)."""
    cli.ok("ingest", statement, "--case", "UA-7", "--collected-from", HANDED_OVER_BY, "--uploader", "@w22", actor="bob")
    second = tmp_path / "media" / f"{FOLDER} copy"
    second.mkdir()
    (second / "again.txt").write_bytes(statement.read_bytes())
    cli.ok("ingest", second / "again.txt", "--case", "UA-7", "--collected-from", HANDED_OVER_BY, actor="bob")
    return team


def _point_values_at(archive: Path, values: bytes) -> None:
    """An insider's forgery: ``values`` stored under their true digest, and EV-000001's record row pointed at them."""
    digest = hashlib.sha256(values).hexdigest()
    blob = archive / "store" / "sha256" / digest[:2] / digest[2:4] / digest
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(values)
    blob.chmod(0o400)
    with sqlite3.connect(archive / "custody.db") as conn:
        (text,) = conn.execute("select record from items where item_id = 'EV-000001'").fetchone()
    record = json.loads(text)
    record["withholdable"]["values_sha256"] = digest
    forged = json.dumps(record, ensure_ascii=False).replace("'", "''")
    sql(archive, f"update items set record = '{forged}' where item_id = 'EV-000001'")


def _export(cli: Cli, out: Path, *extra: str) -> Path:
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure to the defence", *extra, actor="bob")
    return out


def _standalone(bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    return subprocess.run([sys.executable, "-I", str(script), str(bundle), "--json"], capture_output=True, text=True)


def _guide(cli: Cli, bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """VERIFY.md's commands run as printed (stock tools), with the archive's key."""
    return run_guide(bundle, cli.ok("checkpoint", "--vkey").out.strip(), tmp / "guide")


def _resealed_by_exporter(entries: dict[str, bytes], archive: Path) -> dict[str, bytes]:
    """The strongest forger of a bundle: its exporter, re-sealing an edited bag with their own key."""
    return reseal(entries, keys.load_private(archive / "keys" / "bob.signing.pem", PASSPHRASES["bob"], "bob"))


def _leaks(bundle: Path, *secrets: str) -> list[str]:
    """Every entry of the unzipped bundle that holds a secret, in UTF-8 or JSON-escaped form (a PDF: in its text)."""
    found = []
    for name, data in members(bundle).items():
        if name.endswith(".pdf"):
            pdf = bundle.with_name("report-for-grep.pdf")
            pdf.write_bytes(data)
            data = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True).stdout
        for secret in secrets:
            forms = {secret.encode(), json.dumps(secret).strip('"').encode()}
            if any(form in data for form in forms):
                found.append(f"{name}: {secret}")
    return found


def test_a_new_record_signs_only_salted_digests_of_its_source_path_and_provenance(
    cli: Cli, ingested: Path, statement: Path
) -> None:
    view = cli.ok("show", "EV-000001", "--json").json()
    record = view["record"]
    validate("item-record", record)
    assert "source_path" not in record and record["provenance"] == {"case": "UA-7"}
    assert set(record["withholdable"]["digests"]) == set(disclosure.FIELDS)
    assert WITNESS not in json.dumps(record, ensure_ascii=False)
    # The archive still knows every value, opened from the stored disclosures.
    assert view["acquisitions"][0]["source_path"] == str(statement)
    assert view["acquisitions"][0]["provenance"]["collected_from"] == HANDED_OVER_BY
    assert view["acquisitions"][1]["provenance"]["collected_from"] == HANDED_OVER_BY
    log = cli.ok("log", "--json").json()
    acquire = next(e for e in log if e["action"] == "acquire")
    assert WITNESS not in json.dumps(acquire, ensure_ascii=False)


def test_a_bundle_withholding_fields_carries_neither_value_anywhere_and_verifies(
    cli: Cli, ingested: Path, tmp_path: Path
) -> None:
    bundle = _export(cli, tmp_path / "b.zip", "--withhold", "source_path,collected_from", "--case-uco")
    assert any(name.endswith("custody/case-uco.jsonld") for name in members(bundle))
    assert _leaks(bundle, WITNESS, FOLDER, HANDED_OVER_BY) == []
    report = cli.ok("verify-bundle", bundle, "--json").json()
    assert any(c["check"] == "disclosure" and c["ok"] for c in report["checks"])
    proc = _standalone(bundle, tmp_path)
    assert proc.returncode == 0, proc.stdout
    guide = _guide(cli, bundle, tmp_path)
    assert guide.returncode == 0 and "OK: every disclosed value matches" in guide.stdout, guide.stdout + guide.stderr
    entries = members(bundle)
    html = entries[f"{root(entries)}/custody/report.html"].decode()
    assert "withheld" in html and "@w22" in html  # a field not withheld is still disclosed
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(entries[f"{root(entries)}/custody/report.pdf"])
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "withheld" in text and "@w22" in text


def test_without_withhold_every_value_is_disclosed_and_checked(cli: Cli, ingested: Path, tmp_path: Path) -> None:
    bundle = _export(cli, tmp_path / "b.zip")
    entries = members(bundle)
    carried = json.loads(entries[f"{root(entries)}/custody/disclosures.json"])
    values = {json.loads(text)[2] for text in carried.values()}
    assert HANDED_OVER_BY in values and any(str(v).endswith("statement.txt") for v in values)
    assert cli("verify-bundle", bundle).code == 0 and _standalone(bundle, tmp_path).returncode == 0


def test_a_later_reveal_checks_against_the_commitment_and_a_wrong_value_fails(
    cli: Cli, ingested: Path, tmp_path: Path
) -> None:
    bundle = _export(cli, tmp_path / "b.zip", "--withhold", "source_path,collected_from")
    reveal = tmp_path / "reveal.json"
    # Item ids are accepted in any case.
    cli.ok("reveal", "ev-000001", "--field", "collected_from", "--out", reveal, "--purpose", "court order 17")
    good = cli("check-reveal", bundle, reveal)
    assert good.code == 0 and HANDED_OVER_BY in good.out
    log = cli.ok("log", "--json").json()
    assert any(e["action"] == "access" and e["payload"].get("kind") == "reveal" for e in log)
    data = json.loads(reveal.read_text())
    salt, field, _value = json.loads(data["disclosure"])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**data, "disclosure": json.dumps([salt, field, "Someone else"], separators=(",", ":"),
                                                                   ensure_ascii=False)}))  # fmt: skip
    assert cli("check-reveal", bundle, wrong).code == 1
    other_field = tmp_path / "other.json"
    other_field.write_text(json.dumps({**data, "field": "uploader"}))
    assert cli("check-reveal", bundle, other_field).code == 1


def test_an_edited_disclosure_fails_both_verifiers(cli: Cli, ingested: Path, tmp_path: Path) -> None:
    bundle = _export(cli, tmp_path / "b.zip", "--withhold", "source_path")

    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/disclosures.json"
        carried = json.loads(entries[name])
        digest = next(d for d, t in carried.items() if json.loads(t)[1] == "collected_from")
        salt, field, _value = json.loads(carried[digest])
        carried[digest] = json.dumps([salt, field, "An invented source"], separators=(",", ":"))
        return _resealed_by_exporter({**entries, name: json.dumps(carried).encode()}, ingested)

    forged = rewrite(bundle, tmp_path / "forged.zip", edit)
    report = cli("verify-bundle", forged, "--json").json()
    assert {c["check"] for c in report["checks"] if not c["ok"]} == {"disclosure"}
    assert _standalone(forged, tmp_path).returncode == 1
    guide = _guide(cli, forged, tmp_path)
    assert guide.returncode != 0 and "is not the value signed" in guide.stderr


def test_a_disclosure_of_a_withheld_field_fails_both_verifiers(cli: Cli, ingested: Path, tmp_path: Path) -> None:
    """A bundle that says it withholds a field must not carry it (a leak the exporter could slip in)."""
    full = members(_export(cli, tmp_path / "full.zip"))
    everything = json.loads(full[f"{root(full)}/custody/disclosures.json"])
    bundle = _export(cli, tmp_path / "b.zip", "--withhold", "collected_from")
    record_digests = json.loads(members(bundle)[f"{root(members(bundle))}/custody/items.json"])[0]["record"][
        "withholdable"
    ]["digests"]

    def add(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = f"{root(entries)}/custody/disclosures.json"
        carried = json.loads(entries[name])
        digest = record_digests["collected_from"]
        carried[digest] = everything[digest]
        return _resealed_by_exporter({**entries, name: json.dumps(carried).encode()}, ingested)

    leaky = rewrite(bundle, tmp_path / "leaky.zip", add)
    report = cli("verify-bundle", leaky, "--json").json()
    assert {c["check"] for c in report["checks"] if not c["ok"]} == {"disclosure"}
    assert _standalone(leaky, tmp_path).returncode == 1
    guide = _guide(cli, leaky, tmp_path)
    assert guide.returncode != 0 and "withholds collected_from" in guide.stderr


def test_the_archive_default_withholds_and_none_overrides_it(cli: Cli, ingested: Path, tmp_path: Path) -> None:
    assert cli("config", "set", "disclosure.withhold", "collected_from,nonsense").code == 2
    cli.ok("config", "set", "disclosure.withhold", "source_path,collected_from")
    bundle = _export(cli, tmp_path / "b.zip")
    assert _leaks(bundle, WITNESS, HANDED_OVER_BY) == []
    export = next(e for e in cli.ok("log", "--json").json() if e["action"] == "export")
    assert export["payload"]["withheld"] == ["source_path", "collected_from", "source_path_bytes_b64"]
    whole = _export(cli, tmp_path / "whole.zip", "--withhold", "none")
    assert _leaks(whole, HANDED_OVER_BY) != []


def test_unknown_field_is_refused_before_anything_is_written(cli: Cli, ingested: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    result = cli("export", "EV-000001", "--out", out, "--purpose", "x", "--withhold", "case", actor="bob")
    assert result.code == 2 and "case" in result.err and not out.exists()


def test_records_made_before_withheld_fields_export_whole_and_refuse_withhold(
    cli: Cli, team: Path, statement: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An item recorded by the code before this change: the acquisition signed as it is, in the clear.
    with monkeypatch.context() as m:
        m.setattr(disclosure, "commit", lambda _store, acquisition: dict(acquisition))
        cli.ok("ingest", statement, "--collected-from", HANDED_OVER_BY, actor="bob")
    assert "source_path" in cli.ok("show", "EV-000001", "--json").json()["record"]
    out = tmp_path / "b.zip"
    refused = cli("export", "EV-000001", "--out", out, "--purpose", "x", "--withhold", "collected_from", actor="bob")
    assert refused.code == 2 and "EV-000001" in refused.err and not out.exists()
    assert not any(e["action"] == "export" for e in cli.ok("log", "--json").json())
    whole = _export(cli, out)
    assert cli("verify-bundle", whole).code == 0 and _standalone(whole, tmp_path).returncode == 0
    with zipfile.ZipFile(whole) as zf:
        assert any(HANDED_OVER_BY.encode() in zf.read(n) for n in zf.namelist() if n.endswith("items.json"))


def test_verify_all_still_passes_with_committed_records(cli: Cli, ingested: Path) -> None:
    assert cli("verify", "--all").code == 0


@pytest.mark.parametrize("scope", ["EV-000001", "--all"])
def test_verify_fails_when_the_stored_values_no_longer_open_the_digests(cli: Cli, ingested: Path, scope: str) -> None:
    """An insider who replaces the salted values (to change what a later reveal would show) is caught."""
    record = cli.ok("show", "EV-000001", "--json").json()["record"]
    (blob,) = [p for p in (ingested / "store").rglob(record["withholdable"]["values_sha256"] + "*") if p.is_file()]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(HANDED_OVER_BY.encode(), b"Someone else"))
    result = cli("verify", scope, "--json")
    assert result.code == 1
    failed = [c for c in result.json()["checks"] if c["check"] == "withheld-values" and not c["ok"]]
    assert [c["subject"] for c in failed] == ["EV-000001"]


@pytest.mark.parametrize("scope", ["EV-000001", "--all"])
def test_a_record_pointed_at_a_huge_blob_is_not_read_whole_as_its_values(
    cli: Cli, ingested: Path, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged record whose values_sha256 names a stored video of many gigabytes must not have verify read it all
    into memory (and be killed for it, leaving no report). The limit is lowered here to keep the test small."""
    monkeypatch.setattr(disclosure, "MAX_VALUES_BYTES", 1000)
    values = b"[" + b" " * 2000 + b"]"
    _point_values_at(ingested, values)
    result = cli("verify", scope, "--json")
    assert result.code == 1, result.err
    failed = {(c["check"], c["subject"]): c["detail"] for c in result.json()["checks"] if not c["ok"]}
    assert "not read" in failed[("withheld-values", "EV-000001")]


@pytest.mark.parametrize("damage", ["removed", "replaced", "writable"])
@pytest.mark.parametrize("scope", ["EV-000001", "--all"])
def test_verify_fails_when_a_later_acquisitions_stored_values_are_lost(
    cli: Cli, ingested: Path, scope: str, damage: str
) -> None:
    """The second acquisition (the same bytes from another folder) withholds its own values in its own blob: an
    insider who deletes or rewrites that blob destroys what it withholds, and verify must say so."""
    (event,) = [e for e in cli.ok("log", "--json").json() if e["action"] == "acquire"]
    sha = event["payload"]["acquisition"]["withholdable"]["values_sha256"]
    (blob,) = [p for p in (ingested / "store").rglob(sha) if p.is_file()]
    if damage == "removed":
        blob.unlink()
    elif damage == "writable":
        blob.chmod(0o644)
    else:
        blob.chmod(0o644)
        blob.write_bytes(blob.read_bytes().replace(HANDED_OVER_BY.encode(), b"Someone else"))
        blob.chmod(0o400)
    result = cli("verify", scope, "--json")
    assert result.code == 1, result.out
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    check = "lock" if damage == "writable" else "withheld-values"
    assert [(c["check"], c["subject"]) for c in failed] == [(check, f"event {event['seq']}")]


@pytest.mark.parametrize("scope", ["EV-000001", "--all"])
def test_verify_fails_when_the_stored_values_are_no_longer_protected(cli: Cli, ingested: Path, scope: str) -> None:
    """The salted values are the only copy of what was withheld (a reveal needs them): a values blob made
    writable, though its bytes are still the signed ones, is reported as the item's own blob would be."""
    record = cli.ok("show", "EV-000001", "--json").json()["record"]
    (blob,) = [p for p in (ingested / "store").rglob(record["withholdable"]["values_sha256"] + "*") if p.is_file()]
    blob.chmod(0o644)
    result = cli("verify", scope, "--json")
    assert result.code == 1, result.out
    failed = {(c["check"], c["subject"]): c["detail"] for c in result.json()["checks"] if not c["ok"]}
    assert list(failed) == [("lock", "EV-000001")]
    assert "withheld values" in failed[("lock", "EV-000001")] and "writable" in failed[("lock", "EV-000001")]


@pytest.mark.parametrize(
    "values",
    [
        b"5",
        b"null",
        b'{"source_path": "x"}',
        b"[1, 2]",
        b"[[[]]]",
        b"[" * 100_000 + b"]" * 100_000,
        b'["' + b"[" * 100_000 + b"]" * 100_000 + b'"]',
    ],
    ids=["number", "null", "object", "numbers", "arrays", "nested-deep", "a-deeply-nested-disclosure"],
)
@pytest.mark.parametrize("scope", ["EV-000001", "--all"])
def test_a_record_pointed_at_hostile_stored_values_is_a_failure_not_a_crash(
    cli: Cli, ingested: Path, scope: str, values: bytes
) -> None:
    """An insider with database access points a record's values_sha256 at a blob of their own, stored under its
    true digest (so its digest matches): the record's signature fails, and the values must be one more failure,
    not a traceback that leaves no report at all."""
    _point_values_at(ingested, values)
    result = cli("verify", scope, "--json")
    assert result.code == 1, result.err
    failed = {(c["check"], c["subject"]): c["detail"] for c in result.json()["checks"] if not c["ok"]}
    assert ("record-signature", "EV-000001") in failed
    assert "malformed" in failed[("withheld-values", "EV-000001")]


def test_a_partner_importing_a_withholding_bundle_learns_only_what_it_discloses(
    cli: Cli, ingested: Path, tmp_path: Path
) -> None:
    bundle = _export(cli, tmp_path / "b.zip", "--withhold", "source_path,collected_from")
    partner = tmp_path / "partner"
    cli.ok("init", partner, "--admin", "carol", new_passphrase=PASSPHRASES["carol"])
    mapping = cli.ok("--archive", partner, "import", bundle, "--json", actor="carol").json()["items"]
    view = cli.ok("--archive", partner, "show", mapping["EV-000001"], "--json", actor="carol").json()
    assert view["acquisitions"][0]["provenance"]["uploader"] == "@w22"
    assert view["acquisitions"][0]["provenance"]["collected_from"] is None
    assert HANDED_OVER_BY not in json.dumps(view, ensure_ascii=False)
    assert cli("--archive", partner, "verify", "--all", actor="carol").code == 0
