"""verify-bundle, the signed records a bundle carries: signatures, ingest bindings, disclosures, derivations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import disclosure, records
from ..canonical import canonical
from ..checks import CheckKind, Report
from ..derivation import DERIVE, DeriveEvent, link_problem, source_of
from ..errors import BundleError
from ..hashing import sha256_hex
from ..log.authority import Authority
from ..log.logevent import LogEvent
from ..records import ItemRecord
from . import layout
from .safezip import SafeBundle


@dataclass(frozen=True)
class _Carried:
    """One record items.json carries: exactly as carried (its canonical bytes are what was signed), and typed.

    ``typed`` is None for a record that is no well-formed item record (a hostile bundle's): its checks then use
    what it states, as the standalone verifier does, so both report the same outcomes.
    """

    record: Mapping[str, object]
    typed: ItemRecord | None

    @classmethod
    def of(cls, record: Mapping[str, object]) -> _Carried:
        try:
            return cls(record, ItemRecord.from_json(record))
        except ValueError:
            return cls(record, None)

    @property
    def item_id(self) -> str:
        return self.typed.item_id if self.typed is not None else str(self.record.get("item_id"))

    @property
    def digests(self) -> tuple[object, object]:
        """The (SHA-256, BLAKE3) the record signs for its payload."""
        if self.typed is not None:
            return self.typed.sha256, self.typed.blake3
        return self.record.get("sha256"), self.record.get("blake3")


def _carried(signed_records: Sequence[object]) -> list[_Carried]:
    """The records of the items.json entries that hold a record object, in order."""
    return [
        _Carried.of(e["record"]) for e in signed_records if isinstance(e, dict) and isinstance(e.get("record"), dict)
    ]


def check_records(
    signed: list[dict[str, Any]], authority: Authority, blake3_of: dict[str, tuple[str, str]], report: Report
) -> None:
    """Each carried record's signature and ingest binding, its payload path, and its payload's two digests.

    A payload file no signed record vouches for is a failure too.
    """
    claimed: set[str] = set()
    for entry in signed:
        carried = _Carried.of(entry.get("record", {}))
        item = carried.item_id
        signer = str(entry.get("signer"))
        info = authority.keys.get(signer)
        text = canonical(carried.record).decode()
        ok = info is not None and records.signature_valid(text, str(entry.get("signature")), info.public_key)
        report.add(
            CheckKind.RECORD_SIGNATURE,
            item,
            ok,
            ""
            if ok
            else "record signature does not verify with a key registered by a carried actor.add"
            if info is not None
            else f"record signed by key {signer[:16]}…, which no carried actor.add registers",
        )
        problem = authority.record_problem(item, sha256_hex(text.encode()), signer, carried.record)
        report.add(CheckKind.ITEM_CHAIN, item, not problem, problem or "ingest event binds the signed record")
        path_problem = layout.path_problem(entry)
        if path_problem is not None:
            report.add(CheckKind.PAYLOAD_PATH, item, False, f"items.json: {path_problem}")
        name = layout.entry_path(entry)
        if name in claimed:
            report.add(CheckKind.PAYLOAD_PATH, item, False, f"items.json: {name} is the payload of another entry too")
        claimed.add(name)
        # Both digests the record signs: the standalone verifier (stdlib: no BLAKE3) checks the SHA-256.
        ok = blake3_of.get(name) == carried.digests
        report.add(
            CheckKind.PAYLOAD_BLAKE3,
            item,
            ok,
            "SHA-256 and BLAKE3 match the signed record"
            if ok
            else f"{name} does not have the SHA-256 and BLAKE3 of the signed record",
        )
    # A payload file that no signed record vouches for is not evidence, whoever sealed and logged it.
    for name in sorted(set(blake3_of) - claimed):
        report.add(CheckKind.PAYLOAD_PATH, name, False, "no signed record in items.json vouches for this payload file")


def check_derivations(
    signed_records: Sequence[object], events: list[LogEvent], authority: Authority, report: Report
) -> None:
    """Each carried working copy's link to its source holds: the source's ingest and the derive event are carried."""
    carried = _carried(signed_records)
    held = {c.item_id: sha256_hex(canonical(c.record)) for c in carried}
    ingests = {item: sha for item, (_signer, sha) in authority.ingests.items()}
    derives = [DeriveEvent(e.seq, e.item, e.payload) for e in events if e.action == DERIVE]
    for record in carried:
        link = source_of(record.record)
        if link is None:
            continue
        item = record.item_id
        problem = link_problem(item, held[item], link, ingests, held, derives)
        report.add(
            CheckKind.DERIVATION, item, not problem, problem or f"derived from {link.get('item_id')}: link signed"
        )


def commitments(signed_records: Sequence[object], events: list[LogEvent]) -> dict[str, tuple[str, str]]:
    """digest -> (field, where) of every withholdable field committed by a carried record, acquire or correct event."""
    found: dict[str, tuple[str, str]] = {}
    holders: list[tuple[str, object]] = [(c.item_id, c.record) for c in _carried(signed_records)]
    holders += [(f"acquire event {e.seq}", e.payload.get("acquisition")) for e in events if e.action == "acquire"]
    holders += [(f"correct event {e.seq}", e.payload) for e in events if e.action == "correct"]
    for where, holder in holders:
        digests = disclosure.committed_digests(holder) if isinstance(holder, dict) else None
        for field, digest in (digests or {}).items():
            found.setdefault(digest, (field, where))
    return found


def check_disclosures(
    bundle: SafeBundle,
    signed_records: Sequence[object],
    events: list[LogEvent],
    export: LogEvent | None,
    report: Report,
) -> None:
    """Each carried disclosure hashes to a digest a signed record or event commits to, for the same field."""
    if not bundle.has(layout.DISCLOSURES):
        return  # bundles made before withheld fields: every value is in the signed records
    try:
        carried = json.loads(bundle.read_text(layout.DISCLOSURES))
        if not isinstance(carried, dict):
            raise ValueError("not a JSON object")
    except (ValueError, BundleError) as exc:
        report.add(CheckKind.DISCLOSURE, layout.DISCLOSURES, False, f"malformed: {exc}")
        return
    committed = commitments(signed_records, events)
    withheld = set(export.payload.get("withheld") or []) if export is not None else set()
    failed = False
    for digest, text in sorted(carried.items()):
        problem = _disclosure_problem(str(digest), text, committed, withheld)
        if problem:
            failed = True
            report.add(CheckKind.DISCLOSURE, str(digest)[:16], False, problem)
    if not failed:
        shown = f"; withheld: {', '.join(sorted(withheld))}" if withheld else ""
        report.add(
            CheckKind.DISCLOSURE,
            layout.DISCLOSURES,
            True,
            f"{len(carried)} disclosed values match their signed digests{shown}",
        )


def _disclosure_problem(digest: str, text: object, committed: dict[str, tuple[str, str]], withheld: set[str]) -> str:
    if not isinstance(text, str):
        return "a disclosure is not a string"
    try:
        parsed = disclosure.parse(text)
    except ValueError as exc:
        return f"not a disclosure: {exc}"
    if parsed.digest != digest:
        return "the disclosed value does not hash to the digest it is listed under"
    if digest not in committed:
        return "no carried record, acquire or correct event commits to this digest"
    field, where = committed[digest]
    if field != parsed.field:
        return f"{where} commits to this digest for {field}, not {parsed.field}"
    if field in withheld:
        return f"the export withholds {field}, but the bundle discloses it for {where}"
    return ""
