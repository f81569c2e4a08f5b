"""The unlock agent: a background process that holds an actor's unlocked keys and signs for commands.

Like ssh-agent: ``custody unlock`` decrypts the actor's signing key and archive key copy once and hands
them, through a pipe (never a file), to a detached process that listens on a Unix socket in a 0700
folder owned by the user, the socket itself 0600, and answers only peers of the same uid
(SO_PEERCRED). It signs on request and never returns a private key. It ends at its deadline, on
``custody lock``, or when killed. Python cannot wipe memory: the keys live in the agent's memory
until it exits, as in any agent.

Protocol: one JSON object per line each way. {"op": "keys"} -> {"signing": hex public, "archive":
hex public, "until": epoch seconds}; {"op": "sign_many", "key": "signing"|"archive", "data": [base64]} ->
{"sigs": [base64]}; {"op": "sign_chain", "key": ..., "prev": hex, "drafts": [[seq, time, actor, action,
item, payload JCS]]} -> {"sigs": [base64]} (custody.log.logevent.link_and_sign); {"op": "stop"} ->
{"ok": true}. Errors: {"error": text}. Lines are UTF-8 JSON of at most 1 MiB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import VerifyKey

from .agent_paths import accept_same_user, folder_is_private, listen_private, start_detached
from .agent_paths import socket_path as socket_path
from .errors import InputError, KeyFileError
from .log.logevent import Draft, Linked, link_and_sign

_LIMIT = 1 << 20  # a request larger than 1 MiB is not one custody sends
T = TypeVar("T")


class AgentSignatureError(KeyFileError, InvalidSignature):
    """The unlock agent answered with something that is not this key's signature over the message sent.

    A KeyFileError, so a command reports it in one line and records nothing signed with it; also cryptography's
    InvalidSignature, what a wrong signature raises elsewhere.
    """


def _refused(what: str) -> AgentSignatureError:
    return AgentSignatureError(
        f"the unlock agent answered with {what}, which was not used. Run 'custody lock', then 'custody unlock' again"
    )


def _private_folder(folder: Path) -> None:
    """Create the socket folder 0700, and refuse one that is a symlink or not ours."""
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise KeyFileError(f"{folder} is not a folder of yours; remove it and run 'custody unlock' again")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def start(path: Path, signing: Ed25519PrivateKey, archive: Ed25519PrivateKey, seconds: int) -> None:
    """Start a detached agent at ``path`` holding both keys for ``seconds``; returns once it listens."""
    _private_folder(path.parent)
    stop(path)
    argv = [sys.executable, "-m", "custody.agent", str(path), str(seconds)]
    if not start_detached(argv, _raw(signing) + _raw(archive)):
        raise KeyFileError(f"the unlock agent did not start at {path}")


def stop(path: Path) -> bool:
    """Ask the agent at ``path`` to end; True if one was running."""
    try:
        _request(path, {"op": "stop"})
    except OSError:
        path.unlink(missing_ok=True)
        return False
    for _ in range(50):  # the agent removes its socket as it ends (within a second)
        if not path.exists():
            break
        time.sleep(0.05)
    return True


def _request(path: Path, message: Mapping[str, object], conn: socket.socket | None = None) -> dict[str, Any]:
    own = conn is None
    sock = conn or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if own:
            sock.settimeout(5)
            sock.connect(str(path))
        sock.sendall(_encoded(message))
        reply = _read_line(sock)
    finally:
        if own:
            sock.close()
    answer: dict[str, object] = json.loads(reply)
    if "error" in answer:
        raise OSError(str(answer["error"]))
    return answer


def _encoded(message: object) -> bytes:
    """One line of the protocol. UTF-8, not \\uXXXX escapes: a payload beyond ASCII would grow up to
    12 bytes a character (6 in most scripts) and outgrow the agent's 1 MiB limit sooner."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    total = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the agent closed the connection")
        chunks.append(chunk)
        total += len(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
        if total > _LIMIT:
            raise OSError("message too long")


@dataclass
class AgentKey:
    """One key held by an agent, usable where an Ed25519PrivateKey signs (``sign``, ``public_key``)."""

    path: Path
    which: str  # "signing" or "archive"
    public: Ed25519PublicKey
    _conn: socket.socket | None = None

    def public_key(self) -> Ed25519PublicKey:
        return self.public

    def sign(self, data: bytes) -> bytes:
        # An agent answering for other keys signs nothing of ours: every signature is checked.
        return self.sign_many([data])[0]

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        """Signatures over each of ``messages``, a request per ~512 KiB (each signature checked here)."""
        signatures: list[bytes] = []
        for part in _parts(messages, lambda data: 4 * ((len(data) + 2) // 3) + 4):
            encoded = [base64.b64encode(data).decode() for data in part]
            answer = self._ask({"op": "sign_many", "key": self.which, "data": encoded}, len(part))
            checked = self._checking(iter(answer))
            signatures.extend(checked(data) for data in part)
        return signatures

    def sign_chain(self, drafts: Sequence[Draft], prev: str) -> list[Linked]:
        """Chain and sign ``drafts`` after ``prev`` (custody.log.logevent.link_and_sign), a request per ~512 KiB.

        The agent runs the chain rule; this side runs it again over the signatures it returns and checks
        each against the bytes it stands for, so a wrong or foreign signature is never stored.
        """
        linked: list[Linked] = []
        # Measured as sent: a payload's characters say little about its bytes once JSON-escaped.
        for part in _parts(drafts, lambda draft: len(_encoded(_row(draft)))):
            rows = [_row(d) for d in part]
            answer = self._ask({"op": "sign_chain", "key": self.which, "prev": prev, "drafts": rows}, len(part))
            linked.extend(link_and_sign(part, prev, self._checking(iter(answer))))
            prev = hashlib.sha256(linked[-1].leaf).hexdigest()
        return linked

    def _checking(self, answer: Iterator[str]) -> Callable[[bytes], bytes]:
        """A ``sign`` that hands out the agent's signatures in order, each checked against its message.

        Raises AgentSignatureError (a KeyFileError and cryptography's InvalidSignature) for an answer that is not
        this key's signature over that message.
        """
        # libsodium, as the log's own checks (custody.log.sigcheck): twice as fast as OpenSSL's Ed25519 here, and
        # an ingest checks two signatures per file.
        verifier = VerifyKey(self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

        def checked(data: bytes) -> bytes:
            try:
                # validate: a lenient decode would drop stray characters and call what is left a signature.
                signature = base64.b64decode(next(answer), validate=True)
            except ValueError:  # binascii.Error
                raise _refused("text that is not base64") from None
            try:
                verifier.verify(data, signature)
            except (BadSignatureError, NaclValueError):
                raise _refused("a signature that is not this key's over the bytes sent") from None
            return signature

        return checked

    def _ask(self, message: Mapping[str, object], count: int) -> list[str]:
        """The agent's ``count`` signatures (base64, unchecked) for a request.

        Raises KeyFileError when the agent cannot be reached, ends mid-answer (killed, expired) or answers with
        anything but one text per message: an error of the command (one line), not a crash.
        """
        try:
            if self._conn is None:
                self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._conn.settimeout(30)
                self._conn.connect(str(self.path))
            sigs = _request(self.path, message, self._conn).get("sigs")
        # ValueError, RecursionError: not JSON, or nested too deep; TypeError, AttributeError: not a JSON object.
        except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise KeyFileError(
                f"the unlock agent did not sign ({exc}). Run 'custody lock', "
                "then 'custody unlock' again (or 'custody lock' alone to use the key file)"
            ) from None
        if not isinstance(sigs, list) or len(sigs) != count or not all(isinstance(s, str) for s in sigs):
            raise _refused("something other than one signature per message")
        return sigs


def _row(draft: Draft) -> list[object]:
    """A draft's columns as a ``sign_chain`` request carries them."""
    return [draft.seq, draft.time, draft.actor, draft.action, draft.item, draft.payload_jcs]


_PART_BYTES = 512 * 1024  # of request (as sent); the agent takes up to 1 MiB each way
_SIG_BYTES = 96  # a signature's share of the answer ('"' + 88 base64 characters + '", '): many small items add up


def _parts(items: Sequence[T], size: Callable[[T], int]) -> Iterator[Sequence[T]]:
    """``items`` in consecutive runs of about ``_PART_BYTES`` (a larger single item is a run of its own)."""
    start, total = 0, 0
    for n, item in enumerate(items):
        grows = size(item) + _SIG_BYTES
        if n > start and total + grows > _PART_BYTES:
            yield items[start:n]
            start, total = n, 0
        total += grows
    if start < len(items):
        yield items[start:]


def connect(path: Path) -> tuple[AgentKey, AgentKey] | None:
    """The (signing, archive) keys of the agent at ``path``, or None if no agent answers there."""
    if not path.exists():
        return None
    try:
        if not folder_is_private(path.parent):
            return None
        answer = _request(path, {"op": "keys"})
        signing = Ed25519PublicKey.from_public_bytes(bytes.fromhex(answer["signing"]))
        archive = Ed25519PublicKey.from_public_bytes(bytes.fromhex(answer["archive"]))
    except (OSError, ValueError, KeyError):
        return None
    return AgentKey(path, "signing", signing), AgentKey(path, "archive", archive)


_DURATION = re.compile(r"^([1-9][0-9]*)([smhd]?)$")
_UNIT = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 7 * 86400


def parse_duration(text: str) -> int:
    """Seconds in "90s", "30m", "8h", "1d" (a bare number is minutes); InputError otherwise or over 7 days.

    Raises:
        InputError: not a duration such as 90s, 30m, 8h or 1d, or over 7 days.
    """
    match = _DURATION.match(text.strip())
    seconds = int(match.group(1)) * _UNIT[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_SECONDS:
        raise InputError(f"--for '{text}' is not a duration such as 90s, 30m, 8h or 1d (at most 7 days)")
    return seconds


def lock(archive_root: Path, actor: str) -> bool:
    """End the agent of ``actor`` on the archive at ``archive_root``; True if one was running (never raises)."""
    return stop(socket_path(archive_root, actor))


# --- the agent process ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    """What every client session of one agent shares: the keys, when they expire, and the stop signal."""

    keys: dict[str, Ed25519PrivateKey]
    until: float  # epoch seconds, as told to clients
    deadline: float  # time.monotonic() seconds, as the agent keeps time
    stopped: threading.Event


def _serve(path: Path, seconds: int, signing: Ed25519PrivateKey, archive: Ed25519PrivateKey) -> None:
    held = _Held(
        keys={"signing": signing, "archive": archive},
        until=time.time() + seconds,
        deadline=time.monotonic() + seconds,
        stopped=threading.Event(),
    )
    server = listen_private(path, 8)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while not held.stopped.is_set() and (left := held.deadline - time.monotonic()) > 0:
            conn = accept_same_user(server, left)
            if conn is None:
                continue
            # One thread per client: a command keeps one connection per key open while it runs.
            threading.Thread(target=_session, args=(conn, held), daemon=True).start()
    finally:
        path.unlink(missing_ok=True)


def _session(conn: socket.socket, held: _Held) -> None:
    """Answer one client until it hangs up, the deadline passes or a client asks the agent to stop."""
    with conn:
        _answer(conn, held)


def _answer(conn: socket.socket, held: _Held) -> None:
    conn.settimeout(max(1.0, held.deadline - time.monotonic()))
    publics = {
        k: v.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        for k, v in held.keys.items()
    }
    while time.monotonic() < held.deadline and not held.stopped.is_set():
        try:
            line = _read_line(conn)
            request = json.loads(line)
        except (OSError, ValueError, RecursionError):  # RecursionError: a line of 1 MiB of "[" is one
            return
        op = request.get("op") if isinstance(request, dict) else None
        if op == "stop":
            held.stopped.set()
            conn.sendall(b'{"ok": true}\n')
            return
        if op == "keys":
            reply: dict[str, object] = {**publics, "until": held.until}
        elif op in ("sign_many", "sign_chain") and isinstance(request.get("key"), str) and request["key"] in held.keys:
            reply = _sign(held.keys[request["key"]], request)
        else:
            reply = {"error": "unknown request"}
        conn.sendall(json.dumps(reply).encode() + b"\n")


def _sign(key: Ed25519PrivateKey, request: dict[str, Any]) -> dict[str, object]:
    """Answer ``sign_many`` (``data``: base64 messages) or ``sign_chain`` (``prev``, ``drafts``: event columns)."""
    try:
        if request["op"] == "sign_many":
            messages = [base64.b64decode(text, validate=True) for text in _list(request["data"])]
            return {"sigs": [base64.b64encode(key.sign(data)).decode() for data in messages]}
        drafts = [_draft(row) for row in _list(request["drafts"])]
        prev = request["prev"]
        if type(prev) is not str:
            raise TypeError("prev is not text")
        linked = link_and_sign(drafts, prev, key.sign)
        return {"sigs": [one.sig for one in linked]}
    except (TypeError, ValueError, KeyError):
        return {"error": "a malformed signing request"}


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise TypeError("not a list")
    return value


def _draft(row: object) -> Draft:
    """A ``sign_chain`` row as a Draft, each column of exactly its type: nothing is coerced into a signature
    (an int(), str() or float seq would sign another chain than the one sent, a payload object its repr)."""
    seq, time_, actor, action, item, payload = _list(row)
    if type(seq) is not int or not (item is None or type(item) is str):
        raise TypeError("seq is not an integer or item is neither text nor null")
    if not all(type(text) is str for text in (time_, actor, action, payload)):
        raise TypeError("time, actor, action and payload must be text")
    return Draft(seq, time_, actor, action, item, payload)


def main(argv: list[str]) -> int:
    path, seconds = Path(argv[0]), int(argv[1])
    raw = sys.stdin.buffer.read(64)
    if len(raw) != 64:
        return 2
    signing = Ed25519PrivateKey.from_private_bytes(raw[:32])
    archive = Ed25519PrivateKey.from_private_bytes(raw[32:])
    del raw
    _serve(path, seconds, signing, archive)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
