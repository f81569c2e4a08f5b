"""The unlock agent signs a batch in one request: the same bytes as signing one by one, every signature checked."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody import agent
from custody.agent_paths import listen_private
from custody.errors import KeyFileError
from custody.log.logevent import GENESIS_PREV, Draft, link_and_sign
from tests.support.archives import Cli


@pytest.fixture
def keys() -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    return Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


@pytest.fixture
def running(keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]) -> Iterator[Path]:
    """An agent holding ``keys`` (signing, archive) at a short private path."""
    folder = Path(tempfile.mkdtemp(prefix="cb-", dir="/tmp"))
    path = folder / "agent" / "a.sock"
    agent.start(path, keys[0], keys[1], 120)
    yield path
    agent.stop(path)
    shutil.rmtree(folder, ignore_errors=True)


def _drafts(count: int, payload_bytes: int = 40) -> list[Draft]:
    return [
        Draft(
            5 + n,
            "2026-11-30T12:00:00Z",
            "k" * 64,
            "annotate",
            f"EV-{n:06d}",
            json.dumps({"note": "x" * payload_bytes}),
        )
        for n in range(count)
    ]


def test_a_chain_signed_by_the_agent_is_the_chain_signed_in_process(
    running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]
) -> None:
    connected = agent.connect(running)
    assert connected is not None
    drafts = _drafts(30)
    assert connected[0].sign_chain(drafts, GENESIS_PREV) == link_and_sign(drafts, GENESIS_PREV, keys[0].sign)


def test_each_event_of_an_agent_signed_chain_links_to_the_one_before(running: Path) -> None:
    connected = agent.connect(running)
    assert connected is not None
    linked = connected[0].sign_chain(_drafts(3), GENESIS_PREV)
    assert linked[0].prev == GENESIS_PREV
    assert [one.prev for one in linked[1:]] == [hashlib.sha256(one.leaf).hexdigest() for one in linked[:-1]]
    head = json.loads(linked[2].leaf)
    assert (head["seq"], head["prev"], head["sig"]) == (7, linked[2].prev, linked[2].sig)


def test_batches_larger_than_one_request_are_split_and_still_chain(
    running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]
) -> None:
    connected = agent.connect(running)
    assert connected is not None
    drafts = _drafts(7, payload_bytes=200_000)  # ~1.4 MB of payloads: three requests of at most 512 KiB
    assert connected[0].sign_chain(drafts, GENESIS_PREV) == link_and_sign(drafts, GENESIS_PREV, keys[0].sign)
    messages = [os.urandom(300_000) for _ in range(5)]
    signatures = connected[1].sign_many(messages)
    for message, signature in zip(messages, signatures, strict=True):
        keys[1].public_key().verify(signature, message)


def test_signatures_from_an_agent_holding_other_keys_are_refused(running: Path) -> None:
    connected = agent.connect(running)
    assert connected is not None
    # A client that expects another key (an agent swapped under it) checks every signature it is given.
    impostor = agent.AgentKey(running, "signing", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(InvalidSignature):
        impostor.sign_chain(_drafts(2), GENESIS_PREV)
    with pytest.raises(InvalidSignature):
        impostor.sign_many([b"record"])


@pytest.mark.parametrize(
    "answer",
    [
        b"\x00" * 64,  # a signature of the right length that is not one
        b"\x01" * 10,  # a truncated signature
        b"",
    ],
)
def test_an_agent_answer_that_is_not_this_keys_signature_is_refused(answer: bytes) -> None:
    key = Ed25519PrivateKey.generate()
    client = agent.AgentKey(Path("/nonexistent"), "signing", key.public_key())
    checked = client._checking(iter([base64.b64encode(answer).decode()]))
    with pytest.raises(InvalidSignature):
        checked(b"record")
    genuine = key.sign(b"record")
    assert client._checking(iter([base64.b64encode(genuine).decode()]))(b"record") == genuine
    with pytest.raises(InvalidSignature):  # the right key's signature over other bytes
        client._checking(iter([base64.b64encode(genuine).decode()]))(b"recorD")


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "sign_chain", "key": "signing", "prev": GENESIS_PREV, "drafts": [[1, "t"]]},
        {"op": "sign_chain", "key": "signing", "prev": GENESIS_PREV, "drafts": "not a list"},
        {"op": "sign_many", "key": "signing", "data": ["%%% not base64"]},
        {"op": "sign_many", "key": "nobody", "data": []},
    ],
)
def test_a_malformed_signing_request_gets_an_error_and_the_agent_keeps_serving(
    running: Path, request_: dict[str, object]
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(running))
        conn.sendall(json.dumps(request_).encode() + b"\n")
        assert "error" in json.loads(conn.makefile("rb").readline())
    connected = agent.connect(running)
    assert connected is not None and len(connected[0].sign_many([b"still here"])) == 1


def test_an_ingest_through_the_agent_asks_it_a_few_times_per_batch_not_twice_per_file(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(40):
        (folder / f"photo-{n:02d}.bin").write_bytes(os.urandom(2000))
    from custody.archive import Archive
    from custody.ingest import ingest
    from custody.records import Provenance

    cli.ok("unlock", "--for", "5m")
    asked: list[str] = []
    real = agent._request

    def counting(path: Path, message: dict[str, object], conn: socket.socket | None = None) -> dict[str, object]:
        asked.append(str(message.get("op")))
        return real(path, message, conn)

    try:
        with monkeypatch.context() as patch:
            patch.setattr(agent, "_request", counting)
            acting = Archive.open(archive).act("alice", lambda _n: "wrong passphrase: only the agent can sign")
            results = ingest(acting, [folder], Provenance(), recursive=True)
    finally:
        cli.ok("lock")
    assert len(results) == 40
    # One request for the records, one for the chain of events, one for the checkpoint (and a key lookup).
    assert sum(op.startswith("sign") for op in asked) <= 4, asked
    assert cli("verify", "--all", "--json").json()["ok"]


def test_a_chain_of_payloads_beyond_ascii_is_split_by_its_size_in_the_request(
    running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]
) -> None:
    """A request carries each payload JSON-escaped: counting its characters let 100 events of 3,000 emoji
    (330 K characters, 3.6 MB as sent) go as one request, over the agent's 1 MiB limit."""
    _signs_as_in_process(running, keys, _notes(["\U0001f600" * 3000] * 100, first=0))


def test_one_long_annotation_in_a_script_beyond_ascii_is_signed_through_the_agent(
    running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]
) -> None:
    """200,000 CJK characters (600 KB of UTF-8) fit the 1 MiB request as UTF-8, not as 1.2 MB of \\uXXXX escapes."""
    _signs_as_in_process(running, keys, _notes(["証" * 200_000], first=7))


def _notes(texts: list[str], first: int) -> list[Draft]:
    from custody.canonical import canonical_text

    return [
        Draft(first + n, "2026-11-30T12:00:00.000000Z", "k" * 64, "annotate", "EV-000001", canonical_text({"text": t}))
        for n, t in enumerate(texts)
    ]


def _signs_as_in_process(running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey], drafts: list[Draft]) -> None:
    connected = agent.connect(running)
    assert connected is not None
    assert connected[0].sign_chain(drafts, GENESIS_PREV) == link_and_sign(drafts, GENESIS_PREV, keys[0].sign)


def _answer_one(line: bytes) -> bytes:
    """What the agent's connection handler answers to ``line`` (run here, so an exception in it shows)."""
    ours, theirs = socket.socketpair()
    key = Ed25519PrivateKey.generate()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            with theirs:
                held = agent._Held({"signing": key, "archive": key}, 0.0, time.monotonic() + 30, threading.Event())
                agent._answer(theirs, held)
        except BaseException as exc:  # the point: nothing may escape the handler
            failures.append(exc)

    server = threading.Thread(target=serve)
    server.start()
    with ours:
        ours.sendall(line + b"\n")
        ours.shutdown(socket.SHUT_WR)
        reply = ours.makefile("rb").read()
    server.join(30)
    assert not failures, failures
    return reply


_ROW: list[object] = [3, "2026-11-30T12:00:00.000000Z", "k" * 64, "annotate", "EV-000001", '{"text":"x"}']


@pytest.mark.parametrize(
    "column, value",
    [
        (0, float("inf")),  # int(inf) raised OverflowError, which the handler did not catch
        (0, True),  # was signed as seq 1
        (0, 7.9),  # was signed as seq 7
        (0, "7"),  # was signed as seq 7
        (4, 5),  # was signed as item "5"
        (5, {"text": "x"}),  # was signed as the payload {'text': 'x'}, a Python repr that is not JSON
        (1, None),  # was signed as the time "None"
    ],
)
def test_a_chain_request_is_signed_as_sent_or_refused_never_coerced(column: int, value: object) -> None:
    row = list(_ROW)
    row[column] = value
    request = {"op": "sign_chain", "key": "signing", "prev": GENESIS_PREV, "drafts": [row]}
    assert "error" in json.loads(_answer_one(json.dumps(request).encode()))


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "sign_chain", "key": ["signing"], "prev": GENESIS_PREV, "drafts": []},  # an unhashable key name
        {"op": "sign_chain", "key": "signing", "prev": 0, "drafts": [_ROW]},
        {"op": "sign_chain", "key": "signing", "prev": GENESIS_PREV, "drafts": {"abcdef": 1}},
        {"op": "sign_many", "key": "signing", "data": {"QUFB": 1}},  # an object's keys are not messages
        {"op": "sign_many", "key": "signing", "data": "QUFB"},
    ],
)
def test_a_request_of_the_wrong_shape_gets_an_error_not_a_dead_handler(request_: dict[str, object]) -> None:
    assert "error" in json.loads(_answer_one(json.dumps(request_).encode()))


def test_a_request_nested_past_the_recursion_limit_ends_the_connection_quietly() -> None:
    assert _answer_one(b"[" * 200_000 + b"]" * 200_000) == b""


def test_a_well_formed_chain_request_is_answered_in_process_as_by_the_agent() -> None:
    request = {"op": "sign_chain", "key": "signing", "prev": GENESIS_PREV, "drafts": [_ROW, [4, *_ROW[1:]]]}
    reply = json.loads(_answer_one(json.dumps(request).encode()))
    assert len(reply["sigs"]) == 2


def test_copies_within_one_agent_signed_batch_become_acquisitions_in_order_and_a_failed_chain_records_nothing(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> None:
    from custody.archive import Archive
    from custody.ingest import ingest
    from custody.records import Provenance

    folder = tmp_path / "copies"
    folder.mkdir()
    first, second = os.urandom(3000), os.urandom(3000)
    for name, data in (("a.bin", first), ("b.bin", first), ("c.bin", second), ("d.bin", first), ("e.bin", second)):
        (folder / name).write_bytes(data)
    later = tmp_path / "later"
    later.mkdir()
    (later / "f.bin").write_bytes(os.urandom(3000))
    (later / "g.bin").write_bytes(first)
    cli.ok("unlock", "--for", "5m")
    try:
        acting = Archive.open(archive).act("alice", lambda _n: "wrong passphrase: only the agent can sign")
        results = ingest(acting, [folder], Provenance(), recursive=True)
        counts = _counts(archive)
        real = agent._request

        def chain_refused(path: Path, message: dict[str, object], conn: socket.socket | None = None) -> object:
            if message.get("op") == "sign_chain":
                raise OSError("the agent closed the connection")  # after the records were signed
            return real(path, message, conn)

        with monkeypatch.context() as patch:
            patch.setattr(agent, "_request", chain_refused)
            acting = Archive.open(archive).act("alice", lambda _n: "wrong passphrase: only the agent can sign")
            with pytest.raises(KeyFileError, match="unlock agent did not sign"):  # one line for the user, no crash
                ingest(acting, [later], Provenance(), recursive=True)
        assert _counts(archive) == counts
    finally:
        cli.ok("lock")
    assert [(r.original_name, r.item_id, r.duplicate_of) for r in results] == [
        ("a.bin", "EV-000001", None),
        ("b.bin", "EV-000001", "EV-000001"),
        ("c.bin", "EV-000002", None),
        ("d.bin", "EV-000001", "EV-000001"),
        ("e.bin", "EV-000002", "EV-000002"),
    ]
    seqs = [r.event_seq for r in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    log = {e["seq"]: e["action"] for e in cli.ok("log", "--json").json()}
    assert [log[s] for s in seqs] == ["ingest", "acquire", "ingest", "acquire", "acquire"]
    assert cli("verify", "--all", "--json").json()["ok"]


def _counts(archive: Path) -> tuple[int, int]:
    with sqlite3.connect(archive / "custody.db") as conn:
        return conn.execute("select count(*) from items").fetchone()[0], conn.execute(
            "select count(*) from events"
        ).fetchone()[0]


def test_many_small_messages_are_split_so_that_the_answer_fits_too(
    running: Path, keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey]
) -> None:
    """20,000 one-byte messages make a 200 KB request but a 1.9 MB answer, over the client's 1 MiB limit."""
    connected = agent.connect(running)
    assert connected is not None
    messages = [bytes([n % 256]) for n in range(20_000)]
    signatures = connected[0].sign_many(messages)
    assert signatures[:3] == [keys[0].sign(m) for m in messages[:3]] and len(signatures) == 20_000


def test_hostile_file_names_and_tags_in_an_agent_signed_batch_verify(
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> None:
    """Names that are not UTF-8, beyond U+FFFF, private-use, decomposed; copies (acquire events carry the
    name and tags in the clear) with a tag of 40,000 emoji: 160 KB of UTF-8, 480 KB as \\uXXXX escapes, so
    three such events made one 1.4 MB request before requests were measured as sent."""
    from custody.archive import Archive
    from custody.ingest import ingest
    from custody.records import Provenance

    folder = tmp_path / "names"
    folder.mkdir()
    data = os.urandom(1000)
    names = [b"\xff\xfe-not-utf8.bin", ("\U0001f600" * 60 + ".bin").encode(), "\ue000\uffff.bin".encode()]
    names += ["e\u0301.bin".encode(), "\u00e9.bin".encode(), b"\x01\x1f control.bin"]
    for n, name in enumerate(names):
        with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
            fh.write(data if n in (1, 2, 3, 5) else os.urandom(1000))
    cli.ok("unlock", "--for", "5m")
    try:
        acting = Archive.open(archive).act("alice", lambda _n: "wrong passphrase: only the agent can sign")
        tags = ("\U0001f600" * 40_000, "\ue000" * 10, "plain")
        results = ingest(acting, [folder], Provenance(tags=tags), recursive=True)
    finally:
        cli.ok("lock")
    assert len(results) == len(names) and sum(r.duplicate_of is not None for r in results) == 3
    assert cli("verify", "--all", "--json").json()["ok"]


def _tampering_agent(path: Path, tamper: Callable[[list[str]], object]) -> Callable[[], None]:
    """Put a go-between at the agent's socket: it forwards every request to the real agent (moved aside) and
    passes its answers on, with each ``sigs`` list replaced by ``tamper(sigs)``; returns what puts the agent back.
    As an agent swapped for a hostile program of the same user, or one that misbehaves, would answer."""
    real = path.with_name("real.sock")
    os.rename(path, real)
    server = listen_private(path, 8)
    server.settimeout(0.2)
    stop = threading.Event()

    def relay(conn: socket.socket) -> None:
        with conn, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.connect(str(real))
            requests, answers = conn.makefile("rb"), upstream.makefile("rb")
            while line := requests.readline():
                upstream.sendall(line)
                answer = json.loads(answers.readline())
                if "sigs" in answer:
                    try:
                        answer["sigs"] = tamper(answer["sigs"])
                    except ConnectionResetError:
                        return  # hang up unanswered
                conn.sendall(json.dumps(answer).encode() + b"\n")

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=relay, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def restore() -> None:
        stop.set()
        thread.join()
        server.close()
        os.rename(real, path)

    return restore


_FOREIGN = base64.b64encode(Ed25519PrivateKey.generate().sign(b"record")).decode()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sigs: ["%%% not base64"] * len(sigs),
        lambda sigs: ["abc"] * len(sigs),  # base64 a lenient decoder pads or trims into something
        lambda sigs: [s + "!" for s in sigs],  # a genuine signature with a stray character
        lambda sigs: [base64.b64encode(b"\x01" * 10).decode()] * len(sigs),  # the wrong length
        lambda sigs: [_FOREIGN] * len(sigs),  # another key's signature
        lambda sigs: sigs[:-1],  # one short
        lambda sigs: {"not": "a list"},
    ],
    ids=["not-base64", "bad-padding", "stray-character", "wrong-length", "another-key", "one-short", "not-a-list"],
)
def test_a_command_refuses_a_bad_agent_answer_in_one_line_and_records_nothing(
    cli: Cli, archive: Path, evidence: Path, runtime: Path, tamper: Callable[[list[str]], object]
) -> None:
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("unlock", "--for", "5m")
    restore = _tampering_agent(agent.socket_path(archive, "alice"), tamper)
    try:
        log = cli.ok("log", "--json").out
        for command in (("ingest", evidence / "strike.bin"), ("annotate", "EV-000001", "a note")):
            result = cli(*command, passphrase="wrong: only the agent can sign")
            assert result.code == 2 and "unlock agent" in result.err, result
            assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
        assert cli.ok("log", "--json").out == log
    finally:
        restore()
        cli.ok("lock")
    assert cli.ok("list", "--json").json()[0]["item_id"] == "EV-000001" and len(cli.ok("list", "--json").json()) == 1
    assert cli("verify", "--all", "--json").code == 0


def test_an_agent_killed_mid_command_is_one_line_not_a_crash(
    cli: Cli, archive: Path, evidence: Path, runtime: Path
) -> None:
    cli.ok("ingest", evidence / "transcript.txt")
    cli.ok("unlock", "--for", "5m")

    def killed(_sigs: list[str]) -> object:
        raise ConnectionResetError("the agent ended")  # the go-between drops the connection unanswered

    restore = _tampering_agent(agent.socket_path(archive, "alice"), killed)
    try:
        result = cli("annotate", "EV-000001", "a note", passphrase="wrong: only the agent can sign")
        assert result.code == 2 and "unlock agent did not sign" in result.err, result
    finally:
        restore()
        cli.ok("lock")
    assert cli("verify", "--all", "--json").code == 0
