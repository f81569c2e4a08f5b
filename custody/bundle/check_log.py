"""verify-bundle, the log a bundle carries: event signatures and authority, inclusion proofs, the checkpoint, and
the published checkpoints it must extend."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..canonical import canonical
from ..checks import CheckKind, Report
from ..errors import CustodyError, ProofError
from ..log import merkle, note
from ..log.authority import Authority
from ..log.logevent import GENESIS_PREV, LogEvent
from ..log.sigcheck import Job, bad_signatures
from . import layout
from .safezip import SafeBundle


def check_events(events: list[LogEvent], report: Report) -> Authority:
    """Replay the carried events' authority (custody.log.authority), then check their signatures and chain."""
    authority = Authority(report)
    if len(events) < 2 or (events[0].seq, events[1].seq) != (0, 1):
        report.add(
            CheckKind.AUTHORITY,
            "events.jsonl",
            False,
            "does not carry events 0 and 1 (archive.init and the first admin): no signer's authority can be checked",
        )
    jobs: list[Job] = []
    by_seq: dict[int, LogEvent] = {}
    unregistered = 0
    for event in events:
        raw_key = authority.admit(event.seq, event.time, event.actor, event.action, event.item, event.payload)
        if raw_key is not None:
            jobs.append((event.seq, raw_key, _raw_sig(event), canonical(event.unsigned())))
        elif event.seq != 0:
            unregistered += 1
        by_seq.setdefault(event.seq, event)
    bad = set(bad_signatures(jobs))
    genesis = by_seq.get(0)
    if genesis is not None and not authority.check_genesis(_raw_sig(genesis), canonical(genesis.unsigned())):
        bad.add(0)
    for seq in sorted(bad):
        report.add(
            CheckKind.EVENT_SIGNATURE,
            f"event {seq}",
            False,
            "signature does not verify with the signer's registered key",
        )
    if not bad:
        report.add(
            CheckKind.EVENT_SIGNATURE, "events.jsonl", True, f"{len(events) - unregistered} event signatures verify"
        )
    if not authority.failed:
        report.add(
            CheckKind.AUTHORITY,
            "events.jsonl",
            True,
            "every event is signed by a key a carried actor.add registered before it, with a role allowing it",
        )
    genesis_event = by_seq.get(0)
    if genesis_event is not None and genesis_event.prev != GENESIS_PREV:
        report.add(CheckKind.CHAIN, "event 0", False, "prev of event 0 is not 64 zeros: the log does not start here")
    for event in events:
        before = by_seq.get(event.seq - 1)
        if before is not None and event.prev != before.chain_hash():
            report.add(CheckKind.CHAIN, f"event {event.seq}", False, "prev does not hash the preceding event")
    return authority


def _raw_sig(event: LogEvent) -> bytes:
    try:
        return keys.unb64(event.sig)
    except ValueError:
        return b""


def check_log(
    bundle: SafeBundle,
    events: list[LogEvent],
    proofs: dict[str, Any],
    vkey: str | None,
    authority: Authority,
    against: list[tuple[str, str]],
    report: Report,
) -> None:
    if vkey is None:
        report.add(
            CheckKind.CHECKPOINT, layout.CHECKPOINT, False, "cannot be checked: the archive's key is not established"
        )
        return
    try:
        text = bundle.read_text(layout.CHECKPOINT)
        cp = note.open_checkpoint(text, vkey)
    except CustodyError as exc:
        report.add(CheckKind.CHECKPOINT, layout.CHECKPOINT, False, str(exc))
        return
    cosigner = authority.cosigner_problem(text, cp.size)
    if cosigner:
        report.add(CheckKind.CHECKPOINT, layout.CHECKPOINT, False, cosigner)
        return
    report.add(CheckKind.CHECKPOINT, layout.CHECKPOINT, True, f"signed by {vkey.split('+', 1)[0]}, tree size {cp.size}")
    inclusion = proofs.get("inclusion", {})
    failed = 0
    for event in events:
        try:
            path = [bytes.fromhex(h) for h in inclusion.get(str(event.seq), [])]
            ok = merkle.verify_inclusion(merkle.leaf_hash(event.canonical()), event.seq, cp.size, path, cp.root)
        except (ValueError, ProofError):
            ok = False
        if not ok:
            failed += 1
            report.add(CheckKind.INCLUSION, f"event {event.seq}", False, "not proven to be in the signed log")
    if not failed:
        report.add(
            CheckKind.INCLUSION, "events.jsonl", True, f"{len(events)} events proven in the log of size {cp.size}"
        )
    for label, text in against:
        _check_against(cp, vkey, proofs.get("consistency", {}), label, text, report)


def _check_against(
    cp: note.Checkpoint, vkey: str, consistency: dict[str, Any], label: str, text: str, report: Report
) -> None:
    try:
        theirs = note.open_checkpoint(text, vkey)
    except ProofError as exc:
        report.add(CheckKind.AGAINST_CHECKPOINT, label, False, f"{exc} (is it from this archive?)")
        return
    if theirs.size > cp.size:
        report.add(
            CheckKind.AGAINST_CHECKPOINT,
            label,
            False,
            f"your checkpoint (size {theirs.size}) is newer than the bundle's ({cp.size}); "
            f"ask the archive for 'custody proof --consistency {cp.size} --to {theirs.size}'",
        )
        return
    if theirs.size == cp.size:
        ok = theirs.root == cp.root
    else:
        try:
            path = [bytes.fromhex(h) for h in consistency.get(str(theirs.size), [])]
            ok = merkle.verify_consistency(theirs.size, cp.size, theirs.root, cp.root, path)
        except (ValueError, ProofError):
            ok = False
    report.add(
        CheckKind.AGAINST_CHECKPOINT,
        label,
        ok,
        f"the bundle's log extends your checkpoint of size {theirs.size}"
        if ok
        else f"the bundle's log does not extend your checkpoint of size {theirs.size}",
    )
