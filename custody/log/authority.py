"""Who may sign what, replayed from the log itself: bootstrap, registrations, roles, time order.

The one implementation of the authority rules (see "Shared verification rules", README "Threat
model"), used by ``verify`` (custody.verify) and by ``verify-bundle``/``import``
(custody.bundle.check). Imports no database stack: a bundle is checked with this module alone.
Events must be admitted in ``seq`` order; a bundle admits only the events it carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import keys
from ..checks import Report
from ..errors import CustodyError, IntegrityError
from ..roles import Action, Role, logged_actions
from . import note
from .logevent import LogEvent
from .sigcheck import bad_signatures

TOLERANCE = timedelta(minutes=5)
"""How far an event's time may lie before the latest time of an earlier event (clock skew between hosts)."""

CHECK = "authority"
IDENTITY_CHECK = "archive-identity"

_ROLE_ACTIONS = {role.value: logged_actions(role.value) for role in Role}
_KNOWN_ACTIONS = frozenset(a.value for a in Action)


@dataclass
class KeyInfo:
    """A registered signing key: who holds it, with which role, since which event."""

    name: str
    role: str
    pem: str
    seq: int
    raw: bytes

    @property
    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)


@dataclass(frozen=True)
class Identity:
    """The archive's identity as event 0 (``archive.init``) states it."""

    origin: str
    public_key: Ed25519PublicKey
    key_id: str
    vkey: str


def identity_of(payload: Mapping[str, Any]) -> Identity:
    """The identity an ``archive.init`` payload states; IntegrityError if its fields disagree."""
    try:
        origin = str(payload["origin"])
        public_key = keys.load_public_pem(str(payload["archive_public_key"]), "event 0's archive key")
    except KeyError as exc:
        raise IntegrityError(f"event 0 (archive.init) has no {exc.args[0]}") from None
    key_id = keys.key_id(public_key)
    vkey = note.vkey(origin, public_key)
    if payload.get("archive_key_id") != key_id:
        raise IntegrityError("event 0 (archive.init): archive_key_id is not the id of archive_public_key")
    if payload.get("vkey") != vkey:
        raise IntegrityError("event 0 (archive.init): vkey is not derived from origin and archive_public_key")
    return Identity(origin, public_key, key_id, vkey)


def genesis(event0: LogEvent | None, event1: LogEvent | None) -> Identity:
    """The archive identity from the log's first two events, after checking the bootstrap and event 0's signature.

    Raises IntegrityError naming what is wrong (missing events, bad bootstrap, bad signature).
    """
    if event0 is None or event1 is None or event0.seq != 0 or event1.seq != 1:
        raise IntegrityError("the log does not start with events 0 (archive.init) and 1 (first admin)")
    if event0.action != Action.ARCHIVE_INIT:
        raise IntegrityError(f"event 0 is '{event0.action}', not archive.init")
    problem = _bootstrap_problem(event0.actor, event1.actor, event1.action, event1.payload)
    if problem:
        raise IntegrityError(problem)
    try:
        raw = keys.raw_public(keys.load_public_pem(str(event1.payload["public_key"]), "event 1's key"))
    except CustodyError as exc:
        raise IntegrityError(str(exc)) from None
    for event in (event0, event1):
        if not signature_ok(raw, event):
            raise IntegrityError(f"event {event.seq}: signature does not verify with the first admin's key")
    return identity_of(event0.payload)


def signature_ok(raw_key: bytes, event: LogEvent) -> bool:
    """True if ``event``'s signature verifies with the raw Ed25519 key."""
    from ..canonical import canonical

    try:
        signature = keys.unb64(event.sig)
    except ValueError:
        return False
    return not bad_signatures([(event.seq, raw_key, signature, canonical(event.unsigned()))])


def _bootstrap_problem(init_actor: str, actor: str, action: str, payload: Mapping[str, Any]) -> str:
    if action != Action.ACTOR_ADD:
        return f"event 1 is '{action}', not the first admin's actor.add"
    if not (payload.get("key_id") == init_actor == actor and payload.get("role") == Role.ADMIN):
        return "event 1 must register, as admin, the key that signed event 0 and signs event 1"
    return ""


_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
"""The one form custody writes (custody.timeutil.iso; FORMATS.md): other ISO-8601 spellings Python parses are refused,
so that every verifier, whatever its language or version, reads the same times."""


def parse_time(text: str) -> datetime | None:
    """An event time as an aware UTC datetime, or None if it is not ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None


@dataclass
class Authority:
    """Replays registrations and roles event by event; every rule broken is a failure in ``report``."""

    report: Report
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    candidate: Identity | None = None  # stated by event 0; trusted once its signature verifies
    identity: Identity | None = None
    denied: set[int] = field(default_factory=set)  # seqs whose signer may not have logged them
    backdated: set[int] = field(default_factory=set)  # seqs dated too far before an earlier event
    ingests: dict[str, tuple[str, str]] = field(default_factory=dict)  # item -> (signer key id, record_sha256)
    ingest_times: dict[str, str] = field(default_factory=dict)  # item -> time of its ingest event
    _init_actor: str | None = None
    _latest: datetime | None = None
    _latest_seq: int = -1
    _last_seq: int = -1

    def _fail(self, seq: int, detail: str) -> None:
        self.denied.add(seq)
        self.report.add(CHECK, f"event {seq}", False, detail)

    def _who(self, actor: str) -> str:
        info = self.keys.get(actor)
        return f"{info.name} (role {info.role})" if info else f"key {actor[:16]}…"

    def admit(
        self, seq: int, time: str, actor: str, action: str, item: str | None, payload: Mapping[str, Any] | None
    ) -> bytes | None:
        """Apply every authority rule to one event; returns the raw key its signature must verify with.

        None means no key registered before this event may sign it (a failure is reported), except
        for event 0, whose key event 1 registers (``bootstrap_key``). ``payload`` may be None for
        actions other than archive.init, actor.add and ingest.
        """
        if seq <= self._last_seq:
            self._fail(seq, f"event {seq} comes after event {self._last_seq}: the events are out of order")
        self._last_seq = seq
        self._check_time(seq, time)
        if action == Action.ARCHIVE_INIT or seq == 0:
            self._genesis(seq, actor, action, payload or {})
            return None
        if action == Action.ACTOR_ADD:
            self._register(seq, actor, payload or {})
        elif seq == 1:
            self._fail(seq, f"event 1 is '{action}', not the first admin's actor.add")
        signer = self.keys.get(actor)
        if signer is None or signer.seq > seq:
            self._fail(seq, f"{action} signed by key {actor[:16]}…, which no admin registered before this event")
            return None
        if action not in _ROLE_ACTIONS.get(signer.role, ()):
            if action not in _KNOWN_ACTIONS:
                self._fail(seq, f"unknown action '{action}' by {self._who(actor)}")
            else:
                self._fail(seq, f"{action} by {self._who(actor)} not permitted")
        if action == Action.INGEST and item is not None and payload is not None and item not in self.ingests:
            self.ingests[item] = (actor, str(payload.get("record_sha256")))
            self.ingest_times[item] = time
        return signer.raw

    def _check_time(self, seq: int, time: str) -> None:
        when = parse_time(time)
        if when is None:
            self.backdated.add(seq)
            detail = f"time '{time}' is not an ISO-8601 UTC time of the form YYYY-MM-DDTHH:MM:SS.ffffffZ"
            self.report.add(CHECK, f"event {seq}", False, detail)
            return
        latest = self._latest
        if latest is None or when > latest:
            self._latest, self._latest_seq = when, seq
        elif latest - when > TOLERANCE:
            self.backdated.add(seq)
            self.report.add(
                CHECK,
                f"event {seq}",
                False,
                f"dated {time}, {latest - when} before event {self._latest_seq} "
                f"(more than the {int(TOLERANCE.total_seconds() // 60)}-minute tolerance): time went backwards",
            )

    def _genesis(self, seq: int, actor: str, action: str, payload: Mapping[str, Any]) -> None:
        if seq != 0:
            self._fail(seq, f"{action} by {self._who(actor)}: archive.init is valid only as event 0")
            return
        if action != Action.ARCHIVE_INIT:
            self._fail(seq, f"event 0 is '{action}', not archive.init")
            return
        self._init_actor = actor
        try:
            self.candidate = identity_of(payload)
        except CustodyError as exc:
            self.report.add(IDENTITY_CHECK, "event 0", False, str(exc))

    def _register(self, seq: int, actor: str, payload: Mapping[str, Any]) -> None:
        """Learn the key an ``actor.add`` registers, if its signer may register it."""
        if seq == 1:
            problem = _bootstrap_problem(self._init_actor or "", actor, Action.ACTOR_ADD, payload)
            if problem:
                self._fail(seq, problem)
                return
        else:
            signer = self.keys.get(actor)
            if signer is None or signer.role != Role.ADMIN:
                # Reported by admit's permission check (or as an unregistered signer); nothing registered.
                return
        try:
            public = keys.load_public_pem(str(payload["public_key"]), f"event {seq}'s public key")
            name, role, key_id = payload["name"], str(payload["role"]), payload["key_id"]
            if not isinstance(name, str):
                raise KeyError("name")
        except (KeyError, CustodyError) as exc:
            self._fail(seq, f"actor.add registers nothing usable: {exc}")
            return
        raw = keys.raw_public(public)
        if keys.key_id(public) != key_id:
            self._fail(seq, f"actor.add of {name}: key_id is not the SHA-256 of the public key")
        elif key_id in self.keys:
            earlier = self.keys[key_id].seq
            self._fail(seq, f"actor.add of {name}: key {key_id[:16]}… is already registered (event {earlier})")
        elif role not in _ROLE_ACTIONS:
            self._fail(seq, f"actor.add of {name}: unknown role '{role}'")
        else:
            self.keys[key_id] = KeyInfo(name, role, str(payload["public_key"]), seq, raw)

    @property
    def failed(self) -> bool:
        """True if any event broke an authority or time rule."""
        return bool(self.denied or self.backdated)

    def bootstrap_key(self) -> bytes | None:
        """The key event 0 must be signed with: the first admin's, if event 1 registered it."""
        info = self.keys.get(self._init_actor or "")
        return info.raw if info is not None and info.seq == 1 else None

    def confirm_genesis(self, signature_ok: bool) -> None:
        """Trust event 0's identity once its signature was checked with ``bootstrap_key``."""
        if signature_ok and self.candidate is not None:
            self.identity = self.candidate

    def record_problem(
        self, item: str, record_sha256: str, signer: str, record: Mapping[str, Any] | None = None
    ) -> str:
        """Why an item record is not bound by its ingest event ("" if it is), per the record rules.

        With ``record``, its ``ingested_by`` must be the signer and its ``ingested_at`` within
        TOLERANCE of the ingest event's time: reports print both as who ingested it and when.
        """
        bound = self.ingests.get(item)
        if bound is None or bound[1] != record_sha256:
            return "no ingest event in the log binds this record"
        if bound[0] != signer:
            return f"record signed by {self._who(signer)}, but its ingest event by {self._who(bound[0])}"
        if signer not in self.keys:
            return f"record signed by key {signer[:16]}…, which no admin registered"
        if record is not None:
            if record.get("ingested_by") != signer:
                return f"record says it was ingested by key {str(record.get('ingested_by'))[:16]}…, not its signer"
            stated, logged = parse_time(str(record.get("ingested_at"))), parse_time(self.ingest_times[item])
            if stated is None or logged is None or abs(stated - logged) > TOLERANCE:
                return (
                    f"record says it was ingested at {record.get('ingested_at')}, "
                    f"its ingest event at {self.ingest_times[item]}"
                )
        return ""
