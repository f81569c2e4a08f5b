"""Derived items: working copies (stills, crops, redactions, transcripts, ...) signed as made from an item.

The rules are archive-free, shared by ``verify`` and ``verify-bundle`` (and implemented again by the
standalone verifier): a derived record's ``derived_from`` names its source item and the SHA-256 of the
source's signed record; the source's ingest event must bind that record, the source record (where
present) must still be it, and a ``derive`` event logged on the source must name the derived item and
its record. FORMATS.md, "Derived items".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RELATIONS: tuple[str, ...] = ("still", "crop", "transcode", "redaction", "excerpt", "transcript", "translation")
DERIVE = "derive"


@dataclass(frozen=True)
class DeriveEvent:
    """The parts of a ``derive`` event the rules read."""

    seq: int
    source: str | None
    payload: Mapping[str, object]


def source_of(record: object) -> Mapping[str, object] | None:
    """A record's ``derived_from`` section, or None for an item that is not a working copy (or a row that is not a
    record at all, which the record checks report)."""
    if not isinstance(record, Mapping):
        return None
    section = record.get("derived_from")
    return section if isinstance(section, Mapping) else None


def link_problem(
    item: str,
    record_sha256: str,
    derived_from: Mapping[str, object],
    ingest_hashes: Mapping[str, str],
    record_hashes: Mapping[str, str],
    derives: Iterable[DeriveEvent],
) -> str:
    """Why a derived record's link to its source does not hold ("" if it does).

    ``ingest_hashes``: item -> record_sha256 its (verified) ingest event binds; ``record_hashes``: item ->
    SHA-256 of the record text at hand (the archive's row, or the bundle's JCS of the carried record).
    """
    source = str(derived_from.get("item_id"))
    signed = str(derived_from.get("record_sha256"))
    if source not in ingest_hashes:
        return f"its source {source} has no ingest event (the source does not exist)"
    if ingest_hashes[source] != signed:
        return f"its source {source} was ingested with another record than the one it was derived from"
    if source in record_hashes and record_hashes[source] != signed:
        return f"the record of its source {source} is not the one it was derived from (altered)"
    for event in derives:
        p = event.payload
        if (
            event.source == source
            and p.get("derived_item") == item
            and p.get("record_sha256") == record_sha256
            and p.get("relation") == derived_from.get("relation")
        ):
            return ""
    return f"no signed derive event of {source} names it with this record and relation"
