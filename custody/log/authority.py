"""Who may sign what, replayed from the log itself: bootstrap, registrations, roles, time order.

The one implementation of the authority rules (see "Shared verification rules", README "Threat
model"), used by ``verify`` (custody.verify) and by ``verify-bundle``/``import``
(custody.bundle.check). Imports no database stack: a bundle is checked with this module alone.
Events must be admitted in ``seq`` order; a bundle admits only the events it carries.

About 500 lines, on purpose: one class replays every rule in log order, and each rule reads the state the
others build (keys, roles, revocations, rotations, the two-person export); split, the order of the replay
would have to be restated in several places.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import keys
from ..checks import CheckKind, Report
from ..errors import CustodyError, IntegrityError
from ..roles import Action, Role, logged_actions
from . import note
from .logevent import LogEvent
from .sigcheck import bad_signatures

TOLERANCE = timedelta(minutes=5)
"""How far an event's time may lie before the latest time of an earlier event (clock skew between hosts)."""

CHECK = CheckKind.AUTHORITY
IDENTITY_CHECK = CheckKind.ARCHIVE_IDENTITY
APPROVAL_CHECK = CheckKind.EXPORT_APPROVAL
APPROVALS_SETTING = "export.approvals"
"""The ``configure`` setting that makes exports need N approvals by other actors (two-person rule)."""

_ROLE_ACTIONS = {role.value: logged_actions(role.value) for role in Role}
_KNOWN_ACTIONS = frozenset(a.value for a in Action)

LIFECYCLE_ACTIONS = frozenset({Action.ACTOR_REVOKE.value, Action.ACTOR_ROTATE.value, Action.ACTOR_ROLE.value})
"""Actions that change a registered key after its actor.add; ``admit`` needs their payloads."""

ROTATE_STATEMENT = "custody.actor.rotate"

COSIGNER_PREFIX = "custody.actor/"
"""Checkpoint notes carry, beside the archive key's signature, one by the writing actor's key named
``custody.actor/<key id>`` (C2SP signed-note line; key hash as for a vkey of that name)."""


def rotation_statement(name: str, old_key_id: str, new_key_id: str) -> bytes:
    """The bytes the new key (proof of possession) and the old key (endorsement) sign in an actor.rotate.

    JCS of {"statement": "custody.actor.rotate", "name", "old_key_id", "key_id"}.
    """
    from ..canonical import canonical

    return canonical({"statement": ROTATE_STATEMENT, "name": name, "old_key_id": old_key_id, "key_id": new_key_id})


@dataclass
class KeyInfo:
    """A registered signing key: who holds it, with which role, since which event."""

    name: str
    role: str  # the role at the position replayed so far (actor.role changes it)
    pem: str
    seq: int
    raw: bytes
    added_role: str = ""  # the role its actor.add (or actor.rotate) gave it
    ended: int | None = None  # seq of the actor.revoke / actor.rotate after which it may not sign
    ended_how: str = ""  # "revoked" or "retired by rotation"
    compromised_since: int | None = None

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


def identity_of(payload: Mapping[str, object]) -> Identity:
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


def _bootstrap_problem(init_actor: str, actor: str, action: str, payload: Mapping[str, object]) -> str:
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
    compromised: set[int] = field(default_factory=set)  # seqs signed by a key after its declared compromise
    _signed: dict[str, array[int]] = field(default_factory=dict)  # key id -> seqs it signed (for compromise)
    export_policy: int = 0  # approvals every export needs, as the latest export.approvals configure event set
    requests: dict[int, tuple[str, Mapping[str, object]]] = field(default_factory=dict)  # seq -> (actor, payload)
    approvals: dict[int, dict[int, str]] = field(default_factory=dict)  # request seq -> {approval seq: actor}
    rejected: set[int] = field(default_factory=set)  # request seqs someone refused to approve
    used_requests: set[int] = field(default_factory=set)
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
        self, seq: int, time: str, actor: str, action: str, item: str | None, payload: Mapping[str, object] | None
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
        permitted = True
        if signer.ended is not None and seq > signer.ended:
            permitted = False
            self._fail(
                seq,
                f"{action} signed by {signer.name}'s key {actor[:16]}…, {signer.ended_how} at event {signer.ended}",
            )
        elif action not in _ROLE_ACTIONS.get(signer.role, ()):
            permitted = False
            if action not in _KNOWN_ACTIONS:
                self._fail(seq, f"unknown action '{action}' by {self._who(actor)}")
            else:
                self._fail(seq, f"{action} by {self._who(actor)} not permitted")
        self._signed.setdefault(actor, array("q")).append(seq)
        if permitted and action in LIFECYCLE_ACTIONS:
            self._lifecycle(seq, action, payload or {})
        if action == Action.INGEST and item is not None and payload is not None and item not in self.ingests:
            self.ingests[item] = (actor, str(payload.get("record_sha256")))
            self.ingest_times[item] = time
        if payload is not None:
            self._approval_rules(seq, actor, action, payload)
        return signer.raw

    def _compromised(self, seq: int, info: KeyInfo) -> None:
        self.compromised.add(seq)
        self.denied.add(seq)
        self.report.add(
            CHECK,
            f"event {seq}",
            False,
            f"signed by a compromised key: {info.name}'s key {hashlib.sha256(info.raw).hexdigest()[:16]}… was declared "
            f"compromised from event {info.compromised_since} (revoked at event {info.ended})",
        )

    def _lifecycle(self, seq: int, action: str, payload: Mapping[str, object]) -> None:
        """Apply an actor.revoke, actor.rotate or actor.role its (admin) signer was allowed to log."""
        key_id = str(payload.get("old_key_id" if action == Action.ACTOR_ROTATE else "key_id"))
        target = self.keys.get(key_id)
        if target is None:
            self._fail(seq, f"{action} names key {key_id[:16]}…, which no earlier actor.add registered")
            return
        if target.ended is not None:
            self._fail(seq, f"{action} of {target.name}: key {key_id[:16]}… was already {target.ended_how}")
            return
        if payload.get("name") != target.name:
            self._fail(seq, f"{action}: name '{payload.get('name')}' is not the name key {key_id[:16]}… holds")
            return
        if action == Action.ACTOR_ROLE:
            role = str(payload.get("role"))
            if role not in _ROLE_ACTIONS:
                self._fail(seq, f"actor.role of {target.name}: unknown role '{role}'")
                return
            target.role = role
        elif action == Action.ACTOR_REVOKE:
            since = payload.get("compromised_since")
            if since is not None and (not isinstance(since, int) or isinstance(since, bool) or not 2 <= since < seq):
                self._fail(seq, f"actor.revoke of {target.name}: compromised_since must be an event before it")
                return
            target.ended, target.ended_how, target.compromised_since = seq, "revoked", since
            if since is not None:
                for signed in self._signed.get(key_id, ()):
                    if signed >= since and signed not in self.compromised:
                        self._compromised(signed, target)
        else:
            self._rotate(seq, target, key_id, payload)

    def _rotate(self, seq: int, old: KeyInfo, old_key_id: str, payload: Mapping[str, object]) -> None:
        try:
            public = keys.load_public_pem(str(payload["public_key"]), f"event {seq}'s new public key")
            new_key_id = str(payload["key_id"])
            possession = keys.unb64(str(payload["possession"]))
            endorsement = payload.get("endorsement")
            endorsed = keys.unb64(str(endorsement)) if endorsement is not None else None
        except (KeyError, ValueError, CustodyError) as exc:
            self._fail(seq, f"actor.rotate of {old.name} registers nothing usable: {exc}")
            return
        statement = rotation_statement(old.name, old_key_id, new_key_id)
        if keys.key_id(public) != new_key_id:
            self._fail(seq, f"actor.rotate of {old.name}: key_id is not the SHA-256 of the new public key")
        elif new_key_id in self.keys:
            self._fail(seq, f"actor.rotate of {old.name}: key {new_key_id[:16]}… is already registered")
        elif not keys.verify_signature(public, possession, statement):
            self._fail(seq, f"actor.rotate of {old.name}: no proof of possession of the new key")
        elif endorsed is not None and not keys.verify_signature(old.public_key, endorsed, statement):
            self._fail(seq, f"actor.rotate of {old.name}: the old key's endorsement does not verify")
        else:
            old.ended, old.ended_how = seq, "retired by rotation"
            raw = keys.raw_public(public)
            self.keys[new_key_id] = KeyInfo(old.name, old.role, str(payload["public_key"]), seq, raw, old.role)
    def _approval_rules(self, seq: int, actor: str, action: str, payload: Mapping[str, object]) -> None:
        """Two-person export: the policy in force, requests, approvals by others, and every export meeting it."""
        if action == Action.CONFIGURE and payload.get("setting") == APPROVALS_SETTING:
            value = payload.get("value")
            self.export_policy = value if isinstance(value, int) and value > 0 else 0
        elif action == Action.EXPORT_REQUEST:
            self.requests[seq] = (actor, payload)
        elif action in (Action.EXPORT_APPROVE, Action.EXPORT_REJECT):
            request = payload.get("request")
            known = self.requests.get(request) if isinstance(request, int) else None
            if known is None or not isinstance(request, int):
                self._deny_approval(seq, f"{action} names request {request}, which is no earlier export.request")
            elif known[0] == actor:
                self._deny_approval(seq, f"{action} of request {request} by the actor who made the request")
            elif action == Action.EXPORT_REJECT:
                self.rejected.add(request)
            else:
                self.approvals.setdefault(request, {})[seq] = actor
        elif action == Action.EXPORT:
            problem = self.export_problem(actor, payload)
            if problem:
                self._deny_approval(seq, problem)

    def _deny_approval(self, seq: int, detail: str) -> None:
        self.denied.add(seq)
        self.report.add(APPROVAL_CHECK, f"event {seq}", False, detail)

    def export_problem(self, actor: str, payload: Mapping[str, Any]) -> str:
        """Why an export (by ``actor``, with ``payload``) does not meet the approval policy in force ("" if it does)."""
        stated = payload.get("approvals_required")
        required = max(self.export_policy, stated if isinstance(stated, int) else 0)
        request = payload.get("request")
        if request is None:
            return f"the export needed {required} approval(s) but names no request" if required else ""
        found = self.requests.get(request) if isinstance(request, int) else None
        if found is None:
            return f"the export names request {request}, which is no export.request before it"
        requester, asked = found
        if requester != actor:
            return f"the export seals request {request}, made by another actor"
        if request in self.used_requests:
            return f"request {request} was already exported"
        self.used_requests.add(request)
        if request in self.rejected:
            return f"request {request} was refused by an approver"
        for key in ("items", "purpose", "recipients", "withheld"):
            if asked.get(key) != payload.get(key):
                return f"the export's {key} differ from those of request {request}"
        asked_for = asked.get("approvals_required")
        required = max(required, asked_for if isinstance(asked_for, int) else 0)
        listed = payload.get("approvals")
        given = self.approvals.get(request, {})
        if not isinstance(listed, list) or any(not isinstance(s, int) or s not in given for s in listed):
            return f"the export lists approvals that are not approvals of request {request} carried before it"
        signers = {given[s] for s in listed}
        if len(signers) < required:
            return f"request {request} needed {required} approval(s) by other actors, it has {len(signers)}"
        return ""

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

    def _genesis(self, seq: int, actor: str, action: str, payload: Mapping[str, object]) -> None:
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

    def _register(self, seq: int, actor: str, payload: Mapping[str, object]) -> None:
        """Learn the key an ``actor.add`` registers, if its signer may register it."""
        if seq == 1:
            problem = _bootstrap_problem(self._init_actor or "", actor, Action.ACTOR_ADD, payload)
            if problem:
                self._fail(seq, problem)
                return
        else:
            signer = self.keys.get(actor)
            if signer is None or signer.role != Role.ADMIN or (signer.ended is not None and seq > signer.ended):
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
            self.keys[key_id] = KeyInfo(name, role, str(payload["public_key"]), seq, raw, role)

    @property
    def failed(self) -> bool:
        """True if any event broke an authority or time rule."""
        return bool(self.denied or self.backdated)

    def bootstrap_key(self) -> bytes | None:
        """The key event 0 must be signed with: the first admin's, if event 1 registered it."""
        info = self.keys.get(self._init_actor or "")
        return info.raw if info is not None and info.seq == 1 else None

    def check_genesis(self, raw_sig: bytes, unsigned: bytes) -> bool:
        """Check event 0's signature over ``unsigned`` (its canonical bytes) with ``bootstrap_key``.

        Event 0's identity is trusted once it verifies; returns whether it did.
        """
        init_key = self.bootstrap_key()
        ok = init_key is not None and not bad_signatures([(0, init_key, raw_sig, unsigned)])
        if ok and self.candidate is not None:
            self.identity = self.candidate
        return ok

    def cosigner_problem(self, note_text: str, size: int) -> str:
        """Why a checkpoint note of tree ``size`` lacks a valid actor cosignature ("" if it has one).

        The cosigner must be a key registered by an event inside the tree and not revoked or retired
        before its last event (seq size-1). A note without any cosignature is accepted only while no
        key known to this replay ended before that event (checkpoints written before cosignatures).
        """
        try:
            text, lines = note.signature_lines(note_text)
        except CustodyError as exc:
            return str(exc)
        last = size - 1
        problems = []
        for name, blob in lines:
            if not name.startswith(COSIGNER_PREFIX):
                continue
            key_id = name[len(COSIGNER_PREFIX) :]
            info = self.keys.get(key_id)
            if info is None:
                problems.append(f"co-signed by key {key_id[:16]}…, which no known event registered")
            elif blob[:4] != note.key_hash(name, info.public_key) or not keys.verify_signature(
                info.public_key, blob[4:], text.encode("utf-8")
            ):
                problems.append(f"{info.name}'s cosignature does not verify")
            elif info.seq > last:
                problems.append(f"co-signed by {info.name}'s key, registered at event {info.seq}, after the tree")
            elif info.ended is not None and info.ended < last:
                problems.append(
                    f"co-signed by {info.name}'s key, {info.ended_how} at event {info.ended}, "
                    f"before the tree's last event {last}"
                )
            else:
                return ""
        if problems:
            return "; ".join(problems)
        ended = [(i.ended, i.name, i.ended_how) for i in self.keys.values() if i.ended is not None and i.ended < last]
        if ended:
            seq, name, how = min(ended)
            return (
                f"not co-signed by any actor's registered key, though {name}'s key was {how} at event {seq}: "
                "a copy of the archive key alone may have signed it"
            )
        return ""

    def record_problem(
        self, item: str, record_sha256: str, signer: str, record: Mapping[str, object] | None = None
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
