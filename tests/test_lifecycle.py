"""Actor lifecycle: revoke (with a declared compromise), rotate (proof of possession), role, passphrase, names.

Each rule is applied by log position by custody's verify, by verify-bundle and by the standalone verifier
shipped in bundles. The attacks use the library the way an insider with the database and their retained
key files would: signing events the CLI would refuse.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from custody import keys
from custody.archive import Archive
from custody.bundle import standalone
from custody.db.models import CheckpointRow
from custody.log import checkpoints, events, note, tree
from custody.log.authority import rotation_statement
from custody.timeutil import iso, utc_now
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, retag, rewrite, root
from tests.support.court import SYSTEM_PYTHON, Genuine, clean_env, custody_verdict, guide_verdict, standalone_verdict


def _failures(result: Any) -> list[dict[str, Any]]:
    return [c for c in json.loads(result.out)["checks"] if not c["ok"]]


def _authority(result: Any) -> dict[str, str]:
    return {f["subject"]: f["detail"] for f in _failures(result) if f["check"] == "authority"}


def _actor(cli: Cli, name: str) -> dict[str, Any]:
    return dict(next(a for a in cli.ok("actor", "list", "--json").json() if a["name"] == name))


def forge(
    root: Path,
    name: str,
    action: str,
    payload: dict[str, Any],
    item: str | None = None,
    key_file: Path | None = None,
    archive_file: Path | None = None,
    now: datetime | None = None,
) -> int:
    """Sign and append an event with ``name``'s retained key files, past every CLI check; returns its seq.

    ``now``: the time the event states (a thief's clock), by default the real one."""
    secret = PASSPHRASES[name]
    archive = Archive.open(root)
    try:
        key = keys.load_private(key_file or root / "keys" / f"{name}.signing.pem", secret, name)
        copy = keys.load_private(archive_file or root / "keys" / f"{name}.archive.pem", secret, name)
        with archive.db.write() as session:
            signer = keys.Signer(name, key)
            event = events.append(session, signer, action, payload, item=item, now=now)
            checkpoints.write(session, keys.Signer(archive.config.origin, copy), archive.config.origin, signer)
        return event.seq
    finally:
        archive.close()


def _bundle(
    cli: Cli, tmp: Path, name: str, actor: str = "alice", passphrase: str | None = None
) -> tuple[Path, Genuine]:
    out = tmp / f"{name}.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "court", actor=actor, passphrase=passphrase)
    vkey = cli.ok("checkpoint", "--vkey").out.strip()
    note = cli.ok("checkpoint", "--json").json()["note"]
    return out, Genuine(out, vkey, note, keys.generate())


def _standalone_failures(bundle: Path, g: Genuine, tmp: Path) -> dict[str, str]:
    """check + subject -> detail of every failure the standalone verifier reports (run as a court runs it)."""
    folder = tmp / f"standalone-json-{bundle.stem}"
    folder.mkdir()
    (folder / "verify_bundle.py").write_bytes(standalone.read(standalone.VERIFIER))
    (folder / "archive.vkey").write_text(g.vkey + "\n")
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "verify_bundle.py", str(bundle), "--vkey", "archive.vkey", "--json"],
        cwd=folder, env=clean_env(folder), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return {f"{c['check']} {c['subject']}": c["detail"] for c in json.loads(proc.stdout)["checks"] if not c["ok"]}


def _both_verdicts(cli: Cli, bundle: Path, g: Genuine, tmp: Path) -> tuple[bool, bool]:
    """custody verify-bundle's and the standalone verifier's verdicts; VERIFY.md run as printed must agree."""
    work = tmp / f"verdict-{bundle.stem}"
    work.mkdir()
    verdicts = custody_verdict(cli, bundle, g, work), standalone_verdict(bundle, g, work)
    assert guide_verdict(bundle, g, work) == verdicts[1], "VERIFY.md disagrees with the standalone verifier"
    return verdicts


# --- revoke -----------------------------------------------------------------------------------------------


def test_a_revoked_actor_can_run_no_command_and_earlier_signatures_stay_valid(
    cli: Cli, team: Path, evidence: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("actor", "revoke", "bob", "--reason", "left the organisation")
    assert _actor(cli, "bob")["status"] == "revoked"
    refused = cli("annotate", "EV-000001", "after leaving", actor="bob")
    assert refused.code == 3 and "bob' was revoked at event" in refused.err
    revoke = cli.ok("log", "--json").json()[-1]
    assert revoke["action"] == "actor.revoke" and revoke["payload"]["reason"] == "left the organisation"
    assert cli("verify", "--all", "--json").code == 0


def test_status_lists_each_actor_with_the_role_and_status_the_log_gives_it_now(cli: Cli, team: Path) -> None:
    """The roster in status, like actor list, replays actor.role and actor.revoke, not the registration alone."""
    cli.ok("actor", "role", "carol", "archivist")
    cli.ok("actor", "revoke", "bob", "--reason", "left the organisation")
    actors = {a["name"]: a for a in cli.ok("status", "--json").json()["actors"]}
    assert (actors["carol"]["role"], actors["carol"]["status"]) == ("archivist", "active")
    assert (actors["bob"]["role"], actors["bob"]["status"]) == ("archivist", "revoked")
    text = "".join(cli.ok("status").out.replace("│", "").split())  # the table's cell, however it wraps
    assert "carol(archivist)" in text and "bob(archivist,revoked)" in text


def test_the_last_admin_cannot_be_revoked_or_demoted(cli: Cli, team: Path) -> None:
    for args in (["revoke", "alice", "--reason", "oops"], ["role", "alice", "analyst"]):
        result = cli("actor", *args)
        assert result.code != 0 and "last active admin" in result.err
    assert [e["action"] for e in cli.ok("log", "--json").json()].count("actor.revoke") == 0


def test_only_an_admin_may_revoke(cli: Cli, team: Path) -> None:
    result = cli("actor", "revoke", "carol", "--reason", "dislike", actor="bob")
    assert result.code == 3 and "may not manage-actors" in result.err
    assert _actor(cli, "carol")["status"] == "active"


def test_an_event_signed_by_a_revoked_key_after_its_revocation_fails_every_verifier(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    before, g_before = _bundle(cli, tmp_path, "before")
    cli.ok("actor", "revoke", "bob", "--reason", "laptop stolen")
    revoked_at = cli.ok("log", "--json").json()[-1]["seq"]
    late = forge(team, "bob", "annotate", {"text": "planted after the revocation"}, item="EV-000001")

    result = cli("verify", "--all", "--json")
    assert result.code == 1
    assert f"revoked at event {revoked_at}" in _authority(result)[f"event {late}"]

    after, g_after = _bundle(cli, tmp_path, "after")
    carried = [json.loads(line)["action"] for line in _events(after)]
    assert "actor.revoke" in carried
    assert _both_verdicts(cli, after, g_after, tmp_path) == (False, False)
    checked = cli("verify-bundle", after, "--json")
    assert f"revoked at event {revoked_at}" in _authority(checked)[f"event {late}"]
    assert f"revoked at event {revoked_at}" in _standalone_failures(after, g_after, tmp_path)[f"authority event {late}"]
    # The bundle made before the revocation still verifies: bob's signatures then were valid.
    assert _both_verdicts(cli, before, g_before, tmp_path) == (True, True)


def _events(bundle: Path) -> list[str]:
    entries = members(bundle)
    return entries[f"{root(entries)}/custody/events.jsonl"].decode().splitlines()


def test_events_after_a_declared_compromise_are_named_by_every_verifier(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("annotate", "EV-000001", "honest note", actor="bob")
    honest = cli.ok("log", "--json").json()[-1]["seq"]
    stolen = forge(team, "bob", "annotate", {"text": "written by the thief"}, item="EV-000001")
    assert cli("verify", "--all", "--json").code == 0  # nobody knows yet
    cli.ok("actor", "revoke", "bob", "--reason", "laptop stolen", "--compromised-since", str(stolen))

    result = cli("verify", "--all", "--json")
    assert result.code == 1
    denied = _authority(result)
    assert "signed by a compromised key" in denied[f"event {stolen}"]
    assert f"event {honest}" not in denied
    bundle, g = _bundle(cli, tmp_path, "compromised")
    assert _both_verdicts(cli, bundle, g, tmp_path) == (False, False)
    assert "signed by a compromised key" in _authority(cli("verify-bundle", bundle, "--json"))[f"event {stolen}"]


def test_compromised_since_accepts_a_time_and_logs_the_event_number(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    ingest = next(e for e in cli.ok("log", "--json").json() if e["action"] == "ingest")
    cli.ok("actor", "revoke", "bob", "--reason", "stolen", "--compromised-since", ingest["time"])
    assert cli.ok("log", "--json").json()[-1]["payload"]["compromised_since"] == ingest["seq"]
    bad = cli("actor", "revoke", "carol", "--reason", "x", "--compromised-since", "last tuesday")
    assert bad.code == 2 and "neither an event number nor an ISO-8601" in bad.err


def test_a_compromise_time_before_the_archive_began_marks_every_event_the_key_could_sign(
    cli: Cli, team: Path, evidence: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    ingest = next(e for e in cli.ok("log", "--json").json() if e["action"] == "ingest")
    cli.ok("actor", "revoke", "bob", "--reason", "stolen in 2019", "--compromised-since", "2019-01-01T00:00:00Z")
    assert cli.ok("log", "--json").json()[-1]["payload"]["compromised_since"] == 2
    result = cli("verify", "--all", "--json")
    assert result.code == 1 and "signed by a compromised key" in _authority(result)[f"event {ingest['seq']}"]


def test_a_thief_who_sets_the_clock_back_does_not_escape_a_compromise_time(
    cli: Cli, team: Path, evidence: Path
) -> None:
    """The log accepts any time after its latest event: events signed with the stolen key and dated just after the last
    honest one read as made before the compromise; only another key's event dated before it vouches for the past."""
    from custody.timeutil import parse_utc

    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("annotate", "EV-000001", "honest note", actor="alice")
    honest = cli.ok("log", "--json").json()[-1]
    stolen_at = utc_now()  # the laptop is taken now
    backdated = forge(team, "bob", "annotate", {"text": "written by the thief"}, item="EV-000001",
                      now=parse_utc(honest["time"]))  # fmt: skip
    cli.ok("annotate", "EV-000001", "a later honest note", actor="alice")
    assert cli("verify", "--all", "--json").code == 0  # nobody knows yet; the backdated time is accepted
    cli.ok("actor", "revoke", "bob", "--reason", "laptop stolen", "--compromised-since", iso(stolen_at))
    assert cli.ok("log", "--json").json()[-1]["payload"]["compromised_since"] == backdated
    result = cli("verify", "--all", "--json")
    denied = _authority(result)
    assert result.code == 1 and "signed by a compromised key" in denied[f"event {backdated}"]
    assert f"event {honest['seq']}" not in denied


# --- rotate -----------------------------------------------------------------------------------------------


def test_rotation_gives_a_new_key_the_old_one_signs_nothing_after(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    old_id = _actor(cli, "bob")["key_id"]
    monkeypatch.setenv("CUSTODY_OLD_PASSPHRASE", PASSPHRASES["bob"])
    retained = tmp_path / "bob-kept-this.archive.pem"
    shutil.copy(team / "keys" / "bob.archive.pem", retained)
    cli.ok("actor", "rotate", "bob", new_passphrase="bob-new-secret")
    rotation = cli.ok("log", "--json").json()[-1]
    assert rotation["action"] == "actor.rotate" and rotation["payload"]["old_key_id"] == old_id
    assert "endorsement" in rotation["payload"]  # the old key file was present and opened
    new_id = _actor(cli, "bob")["key_id"]
    assert new_id != old_id and rotation["payload"]["key_id"] == new_id
    cli.ok("annotate", "EV-000001", "with the new key", actor="bob", passphrase="bob-new-secret")
    assert cli("verify", "--all", "--json").code == 0

    genuine, g = _bundle(cli, tmp_path, "rotated", actor="bob", passphrase="bob-new-secret")
    assert _both_verdicts(cli, genuine, g, tmp_path) == (True, True)

    retired = next((team / "keys").glob(f"bob.signing.{old_id[:16]}.retired.pem"))
    late = forge(
        team, "bob", "annotate", {"text": "old key"}, item="EV-000001", key_file=retired, archive_file=retained
    )
    result = cli("verify", "--all", "--json")
    assert "retired by rotation" in _authority(result)[f"event {late}"]
    forged, g2 = _bundle(cli, tmp_path, "old-key")
    assert _both_verdicts(cli, forged, g2, tmp_path) == (False, False)


def test_a_rotation_without_proof_of_possession_registers_nothing(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    """alice (admin) logs a rotation of bob to a key she does not hold: a key someone else generated."""
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    bob_id = _actor(cli, "bob")["key_id"]
    victim = keys.generate()
    new_id = keys.key_id(victim.public_key())
    payload = {
        "name": "bob",
        "old_key_id": bob_id,
        "key_id": new_id,
        "public_key": keys.public_pem(victim.public_key()),
        "possession": keys.b64(keys.generate().sign(rotation_statement("bob", bob_id, new_id))),
    }
    seq = forge(team, "alice", "actor.rotate", payload)
    result = cli("verify", "--all", "--json")
    assert "no proof of possession" in _authority(result)[f"event {seq}"]
    # The rotation did not happen: bob's old key still signs validly after it.
    cli.ok("annotate", "EV-000001", "still bob", actor="bob")
    assert set(_authority(cli("verify", "--all", "--json"))) == {f"event {seq}"}


# --- role, passphrase, names --------------------------------------------------------------------------------


def test_a_role_change_applies_from_its_position_in_every_verifier(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    refused = cli("ingest", evidence / "strike.bin", actor="carol")
    assert refused.code == 3
    cli.ok("actor", "role", "carol", "archivist")
    assert _actor(cli, "carol")["role"] == "archivist"
    cli.ok("annotate", "EV-000001", "carol may annotate", actor="carol")
    cli.ok("actor", "role", "bob", "analyst")
    late = forge(team, "bob", "export", {"bundle_id": "BND-00000000-00000000"}, item="EV-000001")
    result = cli("verify", "--all", "--json")
    assert result.code == 1 and "export by bob (role analyst) not permitted" in _authority(result)[f"event {late}"]
    bundle, g = _bundle(cli, tmp_path, "roles")
    assert _both_verdicts(cli, bundle, g, tmp_path) == (False, False)


def test_a_genuine_bundle_after_role_changes_passes_both_verifiers(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path
) -> None:
    cli.ok("actor", "role", "carol", "archivist")
    cli.ok("ingest", evidence / "transcript.txt", actor="carol")
    cli.ok("actor", "role", "carol", "analyst")
    cli.ok("annotate", "EV-000001", "analyst again", actor="carol")
    bundle, g = _bundle(cli, tmp_path, "genuine")
    carried = [json.loads(line)["action"] for line in _events(bundle)]
    assert carried.count("actor.role") == 2
    assert _both_verdicts(cli, bundle, g, tmp_path) == (True, True)


def test_passphrase_change_reencrypts_locally_and_logs_nothing(cli: Cli, team: Path, evidence: Path) -> None:
    size = len(cli.ok("log", "--json").json())
    cli.ok("actor", "passphrase", "bob", actor="bob", new_passphrase="a much longer bob passphrase")
    assert len(cli.ok("log", "--json").json()) == size
    assert cli("ingest", evidence / "transcript.txt", actor="bob").code != 0
    cli.ok("ingest", evidence / "transcript.txt", actor="bob", passphrase="a much longer bob passphrase")


def test_display_name_and_affiliation_are_free_text_in_the_signed_registration(cli: Cli, archive: Path) -> None:
    cli.ok(
        "actor", "add", "okovalenko", "--role", "analyst", "--display-name", "Olena Kovalenko",
        "--affiliation", "Office of the Prosecutor, Kyiv", new_passphrase="x",
    )  # fmt: skip
    info = _actor(cli, "okovalenko")
    assert (info["display_name"], info["affiliation"]) == ("Olena Kovalenko", "Office of the Prosecutor, Kyiv")
    added = cli.ok("log", "--json").json()[-1]["payload"]
    assert added["display_name"] == "Olena Kovalenko"
    assert cli("verify", "--all").code == 0


@pytest.mark.parametrize("bad", ["Olena\nKovalenko", "x" * 201])
def test_a_display_name_with_control_characters_or_too_long_is_refused(cli: Cli, archive: Path, bad: str) -> None:
    result = cli("actor", "add", "olena", "--role", "analyst", "--display-name", bad, new_passphrase="x")
    assert result.code == 2 and "--display-name" in result.err


# --- no lingering archive power ----------------------------------------------------------------------------


def _note_signed_by(root: Path, name: str, cosign: bool) -> str:
    """A checkpoint over the archive's current tree, signed with ``name``'s retained archive key copy."""
    archive = Archive.open(root)
    try:
        copy = keys.load_private(root / "keys" / f"{name}.archive.pem", PASSPHRASES[name], name)
        own = keys.load_private(root / "keys" / f"{name}.signing.pem", PASSPHRASES[name], name)
        with archive.db.read() as session:
            size = tree.tree_size(session)
            body = note.Checkpoint(archive.config.origin, size, tree.root(session, size)).body()
        signed = note.sign_note(body, archive.config.origin, copy)
        if cosign:
            signed = note.add_signature(signed, checkpoints.cosigner_name(keys.key_id(own.public_key())), own)
        return signed
    finally:
        archive.close()


def _plant_checkpoint(root: Path, text: str) -> None:
    """An insider with database access adds a checkpoint row (the table is append-only, not read-only)."""
    archive = Archive.open(root)
    try:
        with archive.db.write() as session:
            size = tree.tree_size(session)
            num = max(row.num for row in checkpoints.all_checkpoints(session)) + 1
            session.add(
                CheckpointRow(num=num, size=size, root=tree.root(session, size).hex(), note=text, time=iso(utc_now()))
            )
    finally:
        archive.close()


@pytest.mark.parametrize("cosign", [True, False], ids=["co-signed by the revoked key", "archive key alone"])
def test_a_revoked_actors_retained_keys_sign_no_checkpoint_that_verifies_later(
    cli: Cli, team: Path, evidence: Path, cosign: bool
) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("actor", "revoke", "bob", "--reason", "left")
    cli.ok("annotate", "EV-000001", "after bob left", actor="carol")
    assert cli("verify", "--all", "--json").code == 0
    _plant_checkpoint(team, _note_signed_by(team, "bob", cosign))
    result = cli("verify", "--all", "--json")
    assert result.code == 1
    problems = [f["detail"] for f in _failures(result) if f["check"] == "checkpoint-signature"]
    expected = "co-signed by bob's key, revoked at event" if cosign else "not co-signed by any actor's registered key"
    assert problems and expected in problems[0], problems


@pytest.mark.parametrize("cosign", [True, False], ids=["co-signed by the revoked key", "archive key alone"])
def test_a_revoked_actor_cannot_re_sign_a_bundles_checkpoint(
    cli: Cli, team: Path, evidence: Path, tmp_path: Path, cosign: bool
) -> None:
    """bob, revoked, replaces the checkpoint of a bundle made after his revocation with one he signed."""
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    cli.ok("actor", "revoke", "bob", "--reason", "left")
    bundle, g = _bundle(cli, tmp_path, "honest")
    assert _both_verdicts(cli, bundle, g, tmp_path) == (True, True)
    honest = members(bundle)
    top = root(honest)
    size = int(honest[f"{top}/custody/checkpoint.txt"].decode().split("\n")[1])
    archive = Archive.open(team)
    try:
        copy = keys.load_private(team / "keys" / "bob.archive.pem", PASSPHRASES["bob"], "bob")
        own = keys.load_private(team / "keys" / "bob.signing.pem", PASSPHRASES["bob"], "bob")
        with archive.db.read() as session:
            body = note.Checkpoint(archive.config.origin, size, tree.root(session, size)).body()
        forged_note = note.sign_note(body, archive.config.origin, copy)
        if cosign:
            forged_note = note.add_signature(forged_note, checkpoints.cosigner_name(keys.key_id(own.public_key())), own)
    finally:
        archive.close()
    forged = rewrite(
        bundle, tmp_path / "forged.zip", lambda e: retag({**e, f"{top}/custody/checkpoint.txt": forged_note.encode()})
    )
    assert _both_verdicts(cli, forged, g, tmp_path) == (False, False)
    expected = "revoked at event" if cosign else "not co-signed"
    problems = [f["detail"] for f in _failures(cli("verify-bundle", forged, "--json")) if f["check"] == "checkpoint"]
    assert problems and expected in problems[0], problems
    assert expected in _standalone_failures(forged, g, tmp_path)["checkpoint custody/checkpoint.txt"]


def test_every_checkpoint_is_co_signed_by_the_writing_actor(cli: Cli, team: Path, evidence: Path) -> None:
    cli.ok("ingest", evidence / "transcript.txt", actor="bob")
    text = cli.ok("checkpoint", "--json").json()["note"]
    bob = _actor(cli, "bob")["key_id"]
    assert f"\u2014 custody.actor/{bob} " in text
