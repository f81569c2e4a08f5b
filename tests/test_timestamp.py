"""Trusted time: RFC 3161 tokens from a real ``openssl ts`` TSA on checkpoints and bundle seals."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from custody.bundle import standalone
from custody.errors import TimestampError
from custody.timestamp import tsa as tsa_client
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, rewrite, root
from tests.support.schemas import validate
from tests.support.tamper import sql
from tests.support.tsa_server import Pki, TsaServer, chain_is_der_sorted, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "Trusted")


@pytest.fixture(scope="module")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A TSA nobody told the archive or the court to trust."""
    return make_pki(tmp_path_factory.mktemp("rogue"), "Rogue")


@pytest.fixture
def tsa(pki: Pki) -> Iterator[TsaServer]:
    server = TsaServer(pki)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stamped(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tsa: TsaServer, pki: Pki) -> Path:
    """An archive created with a TSA and its root CA; bob is an archivist."""
    root_dir = tmp_path / "archive"
    cli.ok(
        "init", root_dir, "--admin", "alice", "--tsa-url", tsa.url, "--tsa-ca", pki.root_pem,
        new_passphrase=PASSPHRASES["alice"],
    )  # fmt: skip
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root_dir))
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase=PASSPHRASES["bob"])
    return root_dir


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "submunition.txt"
    path.write_text("Photo notes: sub-munition found 28 February near the school.\n")
    return path


def _latest(cli: Cli) -> dict[str, object]:
    data: dict[str, object] = cli.ok("checkpoint", "--json").json()
    return data


def _openssl_verify(data: Path, token: Path, ca: Path, untrusted: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(token), "-CAfile", str(ca),
         "-untrusted", str(untrusted)],
        capture_output=True,
        text=True,
    )  # fmt: skip


def _export(cli: Cli, tmp_path: Path, name: str = "bundle.zip") -> tuple[Path, str]:
    out = tmp_path / name
    result = cli.ok("export", "EV-000001", "--out", out, "--purpose", "disclosure to the court", actor="bob")
    return out, result.err


def _unzip(bundle: Path, dest: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(dest)
    (folder,) = list(dest.iterdir())
    return folder


def _bundle_failures(
    cli: Cli, bundle: Path, *extra: str | Path
) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
    result = cli("verify-bundle", bundle, *extra, "--json")
    checks = result.json()["checks"]
    return result.code, [c for c in checks if not c["ok"]], [c for c in checks if c["check"] == "timestamp"]


# --- checkpoints -------------------------------------------------------------------------------------------


def test_checkpoint_stamps_the_newest_checkpoint_and_other_commands_never_ask(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path
) -> None:
    before = tsa.requests
    cli.ok("ingest", photo, actor="bob")
    cli.ok("show", "EV-000001", actor="bob")
    cli.ok("annotate", "EV-000001", "Same object as in the strike video", actor="bob")
    cli.ok("list")
    assert tsa.requests == before
    data = _latest(cli)
    validate("checkpoint", data)
    stamp = data["timestamp"]
    assert isinstance(stamp, dict) and stamp["attested_time"] and stamp["tsa_url"].endswith("/tsr")
    assert tsa.requests == before + 1
    # The token over the newest checkpoint dates every earlier one: nothing is pending.
    assert cli.ok("status", "--json").json()["tsa"]["untimestamped"] == 0
    _latest(cli)
    assert tsa.requests == before + 1  # a checkpoint that has its token is not stamped again


def test_checkpoint_token_verifies_with_stock_openssl(cli: Cli, stamped: Path, pki: Pki, tmp_path: Path) -> None:
    data = _latest(cli)
    assert isinstance(data["timestamp"], dict) and isinstance(data["note"], str)
    note, token = tmp_path / "checkpoint.txt", tmp_path / "checkpoint.tsr"
    note.write_text(data["note"], encoding="utf-8")
    token.write_bytes(base64.b64decode(data["timestamp"]["token"]))
    result = _openssl_verify(note, token, pki.root_pem, pki.tsa_cert_pem)
    assert "Verification: OK" in result.stdout, result.stderr


def test_verify_reports_the_attested_time(cli: Cli, stamped: Path, photo: Path) -> None:
    cli.ok("ingest", photo, actor="bob")
    attested = _latest(cli)["timestamp"]
    assert isinstance(attested, dict)
    report = cli.ok("verify", "--all", "--json").json()
    stamps = [c for c in report["checks"] if c["check"] == "timestamp"]
    assert stamps and all(c["ok"] and not c["warning"] for c in stamps)
    assert any(attested["attested_time"][:19] in c["detail"] for c in stamps)


def test_verify_fails_when_tokens_do_not_chain_to_the_given_root(cli: Cli, stamped: Path, rogue_pki: Pki) -> None:
    result = cli("verify", "--all", "--tsa-ca", rogue_pki.root_pem, "--json")
    assert result.code == 1
    failures = [c for c in result.json()["checks"] if not c["ok"]]
    assert failures and all(c["check"] == "timestamp" for c in failures)
    assert "not signed by a TSA chaining to the given CA" in failures[0]["detail"]


def test_verify_fails_on_a_token_over_other_data(cli: Cli, stamped: Path, photo: Path) -> None:
    cli.ok("ingest", photo, actor="bob")
    cli.ok("checkpoint")
    # An insider swaps checkpoint 3's token for checkpoint 1's: genuine, but over another note.
    first = "(SELECT {} FROM checkpoint_timestamps WHERE checkpoint_num = 1)"
    sql(
        stamped,
        f"UPDATE checkpoint_timestamps SET response = {first.format('response')}, "
        f"nonce = {first.format('nonce')} WHERE checkpoint_num = 3",
    )
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    (failure,) = [c for c in result.json()["checks"] if not c["ok"]]
    assert failure["subject"] == "checkpoint #3" and "over other data" in failure["detail"]


def test_verify_fails_when_the_stored_nonce_is_not_the_one_in_the_token(cli: Cli, stamped: Path) -> None:
    sql(stamped, "UPDATE checkpoint_timestamps SET nonce = '12345' WHERE checkpoint_num = 1")
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    (failure,) = [c for c in result.json()["checks"] if not c["ok"]]
    assert "nonce" in failure["detail"]


def test_tokens_are_append_only(stamped: Path) -> None:
    import sqlite3

    with sqlite3.connect(stamped / "custody.db") as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM checkpoint_timestamps")


# --- the TSA failing --------------------------------------------------------------------------------------


def test_tsa_down_leaves_the_checkpoint_untimestamped_and_the_command_completes(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path
) -> None:
    tsa.stop()
    assert "untimestamped" not in cli.ok("ingest", photo, actor="bob").err
    result = cli.ok("checkpoint")
    assert "untimestamped" in result.err and "unreachable" in result.err and "timestamp --pending" in result.err
    assert cli.ok("list", "--json").json()[0]["item_id"] == "EV-000001"
    assert _latest(cli)["timestamp"] is None
    # actor add's checkpoint and ingest's: nothing dates them yet.
    assert cli.ok("status", "--json").json()["tsa"]["untimestamped"] == 2


def test_timestamp_pending_fetches_tokens_once_the_tsa_is_back(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path, tmp_path: Path
) -> None:
    tsa.stop()
    cli.ok("ingest", photo, actor="bob")
    cli.ok("annotate", "EV-000001", "Same object as in the strike video", actor="bob")
    down = cli("timestamp", "--pending", actor="bob")
    assert down.code == 2 and "unreachable" in down.err and "3 checkpoints remain untimestamped" in down.err
    warned = cli.ok("verify", "--all", "--json").json()
    assert any(c["check"] == "timestamp" and c["warning"] and "untimestamped" in c["detail"] for c in warned["checks"])
    tsa.start()
    fetched = cli.ok("timestamp", "--pending", "--json", actor="bob").json()
    # One token, over the newest checkpoint (the verify's, run while the TSA was down), dates them all.
    assert [s["checkpoint"] for s in fetched["stamped"]] == [5]
    assert cli.ok("status", "--json").json()["tsa"]["untimestamped"] == 0
    report = cli.ok("verify", "--all", "--json").json()
    assert not [c for c in report["checks"] if c["warning"]]
    cli.ok("timestamp", "--pending", actor="bob")  # the checkpoint of the verify just run
    assert cli.ok("timestamp", "--pending", actor="bob").out.startswith("Every checkpoint already has a timestamp")


def test_a_tsa_refusal_is_reported_with_its_status(cli: Cli, stamped: Path, tsa: TsaServer, photo: Path) -> None:
    tsa.mode = "reject"
    cli.ok("ingest", photo, actor="bob")
    result = cli.ok("checkpoint")
    assert "refused the request: rejection" in result.err and "not supported" in result.err
    assert _latest(cli)["timestamp"] is None


def test_an_http_error_from_the_tsa_is_reported(cli: Cli, stamped: Path, tsa: TsaServer, photo: Path) -> None:
    tsa.mode = "http-error"
    cli.ok("ingest", photo, actor="bob")
    result = cli.ok("checkpoint")
    assert "answered HTTP 503" in result.err
    assert _latest(cli)["timestamp"] is None


def test_a_token_from_an_untrusted_tsa_is_not_kept(cli: Cli, stamped: Path, rogue_pki: Pki, photo: Path) -> None:
    rogue = TsaServer(rogue_pki)
    rogue.start()
    try:
        cli.ok("config", "set", "tsa.url", rogue.url)
        cli.ok("ingest", photo, actor="bob")
        result = cli.ok("checkpoint")
        assert "not signed by a TSA chaining to the given CA" in result.err and "check tsa.url" in result.err
    finally:
        rogue.stop()
    assert rogue.requests == 1
    assert _latest(cli)["timestamp"] is None


# --- configuration --------------------------------------------------------------------------------------------


def test_config_set_configures_a_tsa_later_and_is_logged(
    cli: Cli, archive: Path, tsa: TsaServer, pki: Pki, photo: Path
) -> None:
    assert _latest(cli)["timestamp"] is None
    cli.ok("config", "set", "tsa.url", tsa.url)
    cli.ok("config", "set", "tsa.ca", pki.root_pem)
    shown = cli.ok("config", "show", "--json").json()
    assert shown["tsa.url"] == tsa.url and shown["tsa.ca"].startswith("tsa/ca-")
    cli.ok("ingest", photo)
    assert isinstance(_latest(cli)["timestamp"], dict)
    configured = [e for e in cli.ok("log", "--json").json() if e["action"] == "configure"]
    assert [e["payload"]["setting"] for e in configured] == ["tsa.url", "tsa.ca"]
    assert "Trusted Root CA" in configured[1]["payload"]["subjects"][0]


def test_only_admins_change_settings_and_the_refusal_is_logged(cli: Cli, stamped: Path, tsa: TsaServer) -> None:
    result = cli("config", "set", "tsa.url", "http://127.0.0.1:1/tsr", actor="bob")
    assert result.code == 3
    assert cli.ok("config", "show", "--json").json()["tsa.url"] == tsa.url
    assert cli.ok("log", "--json").json()[-1]["action"] == "refuse"


def test_config_set_refuses_bad_values_and_changes_nothing(cli: Cli, stamped: Path, tmp_path: Path) -> None:
    before = (stamped / "custody.toml").read_bytes()
    events = len(cli.ok("log", "--json").json())
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for args, message in (
        (("tsa.url", "ftp://tsa.example"), "must start with http:// or https://"),
        (("tsa.ca", not_pem), "not a PEM certificate file"),
        (("tsa.timeout", "soon"), "not a number of seconds"),
        (("store.url", "x"), "unknown setting"),
    ):
        result = cli("config", "set", *args)
        assert result.code == 2 and message in result.err
    assert (stamped / "custody.toml").read_bytes() == before
    assert len(cli.ok("log", "--json").json()) == events


def test_init_refuses_a_tsa_ca_without_a_tsa_url(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    result = cli("init", tmp_path / "a", "--admin", "alice", "--tsa-ca", pki.root_pem, new_passphrase="x")
    assert result.code == 2 and "--tsa-ca needs --tsa-url" in result.err
    assert not (tmp_path / "a").exists()


def test_init_with_an_unreachable_tsa_still_creates_the_archive(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "init", tmp_path / "a", "--admin", "alice", "--tsa-url", "http://127.0.0.1:9/tsr",
        new_passphrase=PASSPHRASES["alice"],
    )  # fmt: skip
    assert result.code == 0 and "checkpoint #1 is untimestamped" in result.err
    assert (tmp_path / "a" / "custody.toml").is_file()


# --- bundles ----------------------------------------------------------------------------------------------


def test_bundle_seal_token_verifies_with_stock_openssl(
    cli: Cli, stamped: Path, photo: Path, pki: Pki, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)
    folder = _unzip(bundle, tmp_path / "x")
    custody = folder / "custody"
    seal = _openssl_verify(custody / "seal.sig", custody / "seal.tsr", pki.root_pem, custody / "seal.tsa-certs.pem")
    assert "Verification: OK" in seal.stdout, seal.stderr
    checkpoint = _openssl_verify(
        custody / "checkpoint.txt", custody / "checkpoint.tsr", pki.root_pem, custody / "checkpoint.tsa-certs.pem"
    )
    assert "Verification: OK" in checkpoint.stdout, checkpoint.stderr
    guide = (custody / "VERIFY.md").read_text()
    assert "openssl ts -verify -data $data -in custody/$t.tsr -CAfile ../tsa-root.pem" in guide and "-attime" in guide


def test_verify_bundle_checks_both_tokens_and_reports_the_time(
    cli: Cli, stamped: Path, photo: Path, pki: Pki, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)
    code, failures, stamps = _bundle_failures(cli, bundle, "--tsa-ca", pki.root_pem)
    assert code == 0 and not failures
    assert {c["subject"] for c in stamps} == {"custody/seal.tsr", "custody/checkpoint.tsr"}
    assert all("attested 20" in c["detail"] and not c["warning"] for c in stamps)


def test_verify_bundle_without_a_tsa_root_warns_that_the_chain_was_not_checked(
    cli: Cli, stamped: Path, photo: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)
    code, failures, stamps = _bundle_failures(cli, bundle)
    assert code == 0 and not failures
    assert stamps and all(c["warning"] and "pass --tsa-ca" in c["detail"] for c in stamps)


def test_verify_bundle_fails_a_seal_token_from_an_untrusted_tsa(
    cli: Cli, stamped: Path, photo: Path, rogue_pki: Pki, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)
    code, failures, _ = _bundle_failures(cli, bundle, "--tsa-ca", rogue_pki.root_pem)
    assert code == 1 and {f["subject"] for f in failures} == {"custody/seal.tsr", "custody/checkpoint.tsr"}


def test_verify_bundle_fails_a_seal_token_over_other_data(
    cli: Cli, stamped: Path, photo: Path, pki: Pki, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)

    def swap(entries: dict[str, bytes]) -> dict[str, bytes]:
        # A genuine token from the same TSA, but over the checkpoint rather than this seal.
        top = root(entries)
        return {**entries, f"{top}/custody/seal.tsr": entries[f"{top}/custody/checkpoint.tsr"]}

    forged = rewrite(bundle, tmp_path / "forged.zip", swap)
    code, failures, _ = _bundle_failures(cli, forged, "--tsa-ca", pki.root_pem)
    assert code == 1
    (failure,) = failures
    assert failure["subject"] == "custody/seal.tsr" and "over other data" in failure["detail"]


def test_export_with_the_tsa_down_still_writes_a_complete_bundle(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path, pki: Pki, tmp_path: Path
) -> None:
    cli.ok("ingest", photo, actor="bob")
    tsa.stop()
    bundle, err = _export(cli, tmp_path)
    assert "sealed without a trusted timestamp" in err
    names = {n.split("/", 1)[1] for n in members(bundle)}
    assert "custody/seal.tsr" not in names and "custody/checkpoint.tsr" not in names
    code, failures, stamps = _bundle_failures(cli, bundle, "--tsa-ca", pki.root_pem)
    assert code == 0 and not failures
    (absent,) = stamps
    assert absent["warning"] and "absent" in absent["detail"]


# --- the token checks themselves --------------------------------------------------------------------------


def _token(tsa: TsaServer, pki: Pki, data: bytes) -> tsa_client.Token:
    return tsa_client.request_token(tsa.url, data, timeout=5, roots=tsa_client.load_roots(pki.root_pem))


def test_a_token_dated_before_the_events_it_covers_fails(tsa: TsaServer, pki: Pki) -> None:
    token = _token(tsa, pki, b"note")
    resp = tsa_client.parse_response(token.response, "t")
    with pytest.raises(TimestampError, match="is before the events it covers"):
        tsa_client.check_token(resp, b"note", roots=None, source="t", not_before=token.gen_time + timedelta(hours=1))


def test_a_token_whose_nonce_differs_from_the_request_fails(tsa: TsaServer, pki: Pki) -> None:
    token = _token(tsa, pki, b"note")
    resp = tsa_client.parse_response(token.response, "t")
    with pytest.raises(TimestampError, match="nonce"):
        tsa_client.check_token(resp, b"note", roots=None, source="t", nonce=token.nonce + 1)


def test_garbage_from_a_tsa_is_not_a_token() -> None:
    with pytest.raises(TimestampError, match="not an RFC 3161 time-stamp response"):
        tsa_client.parse_response(b"<html>proxy error</html>", "the answer of http://tsa")


# --- TSAs as they are in the wild -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A TSA issued by an intermediate CA, whose chain order is not DER order (so a chain-order reply is unsorted)."""
    while True:
        pki = make_pki(tmp_path_factory.mktemp("chain"), "Commercial", intermediate=True)
        if not chain_is_der_sorted(pki):
            return pki


@pytest.fixture
def chain_tsa(chain_pki: Pki) -> Iterator[TsaServer]:
    server = TsaServer(chain_pki)
    server.certificates = "chain"
    server.start()
    yield server
    server.stop()


def _configure(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, *extra: str | Path) -> Path:
    root_dir = tmp_path / "archive"
    cli.ok("init", root_dir, "--admin", "alice", "--tsa-url", url, *extra, new_passphrase=PASSPHRASES["alice"])
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root_dir))
    cli.ok("actor", "add", "bob", "--role", "archivist", new_passphrase=PASSPHRASES["bob"])
    return root_dir


def test_a_tsa_sending_its_chain_in_chain_order_is_kept_byte_for_byte_and_verifies(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain_tsa: TsaServer, chain_pki: Pki, photo: Path
) -> None:
    _configure(cli, tmp_path, monkeypatch, chain_tsa.url, "--tsa-ca", chain_pki.root_pem)
    cli.ok("ingest", photo, actor="bob")
    result = cli.ok("checkpoint", "--json")
    assert "untimestamped" not in result.err
    token = base64.b64decode(result.json()["timestamp"]["token"])
    # Stored as the TSA sent it: signer, issuing CA, root, in that (non-DER) order.
    positions = [token.index(der) for der in chain_pki.chain]
    assert positions == sorted(positions)
    report = cli.ok("verify", "--all", "--json").json()
    assert [c for c in report["checks"] if c["check"] == "timestamp" and c["ok"] and not c["warning"]]
    note, tsr = tmp_path / "checkpoint.txt", tmp_path / "checkpoint.tsr"
    note.write_text(result.json()["note"], encoding="utf-8")
    tsr.write_bytes(token)
    untrusted = tmp_path / "chain.pem"
    untrusted.write_bytes(tsa_client.certificates_pem(tsa_client.parse_response(token, "t")))
    assert "Verification: OK" in _openssl_verify(note, tsr, chain_pki.root_pem, untrusted).stdout


def test_a_tsa_sending_its_chain_der_sorted_also_verifies(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain_tsa: TsaServer, chain_pki: Pki, photo: Path
) -> None:
    chain_tsa.certificates = "der"
    _configure(cli, tmp_path, monkeypatch, chain_tsa.url, "--tsa-ca", chain_pki.root_pem)
    cli.ok("ingest", photo, actor="bob")
    assert isinstance(cli.ok("checkpoint", "--json").json()["timestamp"], dict)
    assert cli("verify", "--all").code == 0


def test_a_chain_order_bundle_verifies_with_custody_the_standalone_verifier_and_verify_md(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain_tsa: TsaServer, chain_pki: Pki, photo: Path
) -> None:
    from tests.support.court import SYSTEM_PYTHON, run_guide

    _configure(cli, tmp_path, monkeypatch, chain_tsa.url, "--tsa-ca", chain_pki.root_pem)
    cli.ok("ingest", photo, actor="bob")
    bundle, err = _export(cli, tmp_path)
    assert "without a trusted timestamp" not in err
    code, failures, stamps = _bundle_failures(cli, bundle, "--tsa-ca", chain_pki.root_pem)
    assert code == 0 and not failures and len(stamps) == 2
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))
    args = [SYSTEM_PYTHON, "-I", str(script), str(bundle), "--tsa-ca", str(chain_pki.root_pem), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    checks = json.loads(proc.stdout)["checks"]
    assert proc.returncode == 0 and [c["detail"] for c in checks if c["check"] == "timestamp"] == [
        f"attested {stamps[0]['detail'][9:28]}Z (chain checked)",
        f"attested {stamps[1]['detail'][9:28]}Z (chain checked)",
    ]
    vkey = cli.ok("checkpoint", "--vkey").out.strip()
    guide = run_guide(bundle, vkey, tmp_path / "court-run", tsa_root=chain_pki.root_pem)
    assert guide.returncode == 0 and guide.stdout.count("Verification: OK") == 2, guide.stdout + guide.stderr


def test_a_token_stays_verifiable_after_the_tsa_certificate_expires(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "short", "Short-lived", tsa_lifetime=timedelta(seconds=4))
    server = TsaServer(pki)
    server.start()
    try:
        token = _token(server, pki, b"note")
    finally:
        server.stop()
    expiry = x509.load_pem_x509_certificate(pki.tsa_cert_pem.read_bytes()).not_valid_after_utc
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 1.1)
    resp = tsa_client.parse_response(token.response, "t")
    attested = tsa_client.check_token(resp, b"note", roots=tsa_client.load_roots(pki.root_pem), source="t")
    assert attested.chain_checked and attested.gen_time < expiry
    data, tsr = tmp_path / "note", tmp_path / "t.tsr"
    data.write_bytes(b"note")
    tsr.write_bytes(token.response)
    now = _openssl_verify(data, tsr, pki.root_pem, pki.tsa_cert_pem)
    assert "Verification: FAILED" in now.stdout and "expired" in now.stderr
    at_attested_time = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(tsr), "-CAfile", str(pki.root_pem),
         "-untrusted", str(pki.tsa_cert_pem), "-attime", str(int(token.gen_time.timestamp()))],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Verification: OK" in at_attested_time.stdout, at_attested_time.stderr


def test_an_unusable_answer_is_reported_as_such_not_as_unreachable(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path
) -> None:
    tsa.mode = "garbage"
    cli.ok("ingest", photo, actor="bob")
    err = " ".join(cli.ok("checkpoint").err.split())
    assert "not with a usable token" in err and "unreachable" not in err and "check tsa.url" in err


def test_a_black_hole_tsa_costs_checkpoint_and_export_the_budget_once_and_reading_commands_nothing(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path, tmp_path: Path
) -> None:
    budget = 1.5
    cli.ok("config", "set", "tsa.timeout", str(budget))
    cli.ok("ingest", photo, actor="bob")
    tsa.mode = "black-hole"
    before = tsa.requests
    for args in (("show", "EV-000001"), ("annotate", "EV-000001", "seen"), ("list",)):
        cli.ok(*args, actor="bob")
    assert tsa.requests == before  # reading commands never ask the TSA
    started = time.monotonic()
    err = " ".join(cli.ok("checkpoint").err.split())
    waited = time.monotonic() - started
    assert f"did not answer within {budget:g} s" in err
    assert budget <= waited < budget + 8  # generous: the command's own work on a loaded machine
    assert tsa.requests == before + 1
    _bundle, err = _export(cli, tmp_path)  # within the back-off: the TSA is not asked again
    err = " ".join(err.split())
    assert "failed recently" in err and "sealed without a trusted timestamp" in err
    assert tsa.requests == before + 1
    # timestamp --pending always asks, once, within the budget.
    started = time.monotonic()
    assert cli("timestamp", "--pending", actor="bob").code == 2
    assert time.monotonic() - started < budget + 8 and tsa.requests == before + 2


def test_export_waits_at_most_the_budget_on_a_black_hole_tsa(
    cli: Cli, stamped: Path, tsa: TsaServer, photo: Path, tmp_path: Path
) -> None:
    budget = 1.5
    cli.ok("config", "set", "tsa.timeout", str(budget))
    cli.ok("ingest", photo, actor="bob")
    tsa.mode = "black-hole"
    started = time.monotonic()
    _bundle, err = _export(cli, tmp_path)
    assert budget <= time.monotonic() - started < budget + 8
    assert "sealed without a trusted timestamp" in " ".join(err.split())


def test_the_back_off_ends_after_tsa_backoff_seconds(cli: Cli, stamped: Path, tsa: TsaServer, photo: Path) -> None:
    cli.ok("config", "set", "tsa.backoff", "1")
    assert cli.ok("config", "show", "--json").json()["tsa.backoff"] == 1.0
    tsa.mode = "http-error"
    cli.ok("ingest", photo, actor="bob")
    before = tsa.requests
    assert "answered HTTP 503" in cli.ok("checkpoint").err
    assert "failed recently" in " ".join(cli.ok("checkpoint").err.split())
    assert tsa.requests == before + 1
    tsa.mode = "ok"
    time.sleep(1.1)
    assert isinstance(cli.ok("checkpoint", "--json").json()["timestamp"], dict)
    assert tsa.requests == before + 2


def test_the_standalone_verifier_checks_token_imprints_without_a_tsa_root(
    cli: Cli, stamped: Path, photo: Path, tmp_path: Path
) -> None:
    from tests.support.court import SYSTEM_PYTHON

    cli.ok("ingest", photo, actor="bob")
    bundle, _ = _export(cli, tmp_path)
    script = tmp_path / "verify_bundle.py"
    script.write_bytes(standalone.read(standalone.VERIFIER))

    def run(path: Path) -> tuple[int, list[dict[str, Any]]]:
        proc = subprocess.run([SYSTEM_PYTHON, "-I", str(script), str(path), "--json"], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})  # fmt: skip
        return proc.returncode, [c for c in json.loads(proc.stdout)["checks"] if c["check"] == "timestamp"]

    code, stamps = run(bundle)
    assert code == 0 and len(stamps) == 2 and all(c["warning"] and "chain NOT checked" in c["detail"] for c in stamps)

    def swap(entries: dict[str, bytes]) -> dict[str, bytes]:
        top = root(entries)
        return {**entries, f"{top}/custody/seal.tsr": entries[f"{top}/custody/checkpoint.tsr"]}

    code, stamps = run(rewrite(bundle, tmp_path / "forged.zip", swap))
    assert code == 1 and [c["subject"] for c in stamps if not c["ok"]] == ["custody/seal.tsr"]
