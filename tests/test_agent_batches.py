"""The unlock agent signs a batch in one request: the same bytes as signing one by one, every signature checked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody import agent
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
    cli: Cli, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="cb-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
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
        shutil.rmtree(runtime, ignore_errors=True)
    assert len(results) == 40
    # One request for the records, one for the chain of events, one for the checkpoint (and a key lookup).
    assert sum(op.startswith("sign") for op in asked) <= 4, asked
    assert cli("verify", "--all", "--json").json()["ok"]
