"""What a bundle verdict is about: which bundle, who sealed it and when, what it holds, which anchors were used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ProofError
from ..log import note
from ..log.logevent import LogEvent


def summarise(
    path: Path,
    root: str,
    events: list[LogEvent],
    records: list[Any],
    checkpoint_text: str,
    against: list[str],
    tsa_ca: Path | None,
    vkey: str | None = None,
) -> dict[str, Any]:
    """The facts a reader of the verdict needs first (schemas/verify-report: ``summary``); nothing here is a check."""
    export = next((e for e in events if e.action == "export" and e.payload.get("bundle_id") == root), None)
    names = {e.payload.get("key_id"): e.payload.get("name") for e in events if e.action == "actor.add"}
    try:
        cp: note.Checkpoint | None = note.parse_checkpoint(checkpoint_text.split("\n\n", 1)[0] + "\n")
    except ProofError:
        cp = None
    return {
        "bundle": root,
        "file": str(path),
        "sealed_by": None if export is None else {"name": names.get(export.actor), "key_id": export.actor},
        "export_time": None if export is None else export.time,
        "items": len(records),
        "events": len(events),
        "checkpoint": None if cp is None else {"size": cp.size, "root": cp.root.hex()},
        "trust_anchors": {
            "vkey": vkey,
            "checkpoints": against,
            "tsa_root": None if tsa_ca is None else str(tsa_ca),
        },
    }


def describe(summary: dict[str, Any]) -> list[str]:
    """The summary as lines of plain English, for the human form of the verdict.

    Raises:
        BundleError: the bundle's summary files are malformed.
    """
    sealed = summary.get("sealed_by") or {}
    cp = summary.get("checkpoint") or {}
    anchors = summary.get("trust_anchors") or {}
    used = [f"your checkpoint {c}" for c in anchors.get("checkpoints") or []]
    if anchors.get("vkey"):
        used.insert(0, f"pinned archive key {anchors['vkey']}")
    return [
        f"Bundle {summary.get('bundle')} ({summary.get('file')})",
        f"Sealed by {sealed.get('name') or 'an unregistered key'} (key {sealed.get('key_id', 'none')}) "
        f"at {summary.get('export_time') or 'an unknown time (no export event)'}",
        f"{summary.get('items')} items, {summary.get('events')} events; "
        f"checkpoint tree size {cp.get('size', '?')}, root {cp.get('root', '?')}",
        "Trust anchors used: " + ("; ".join(used) if used else "none: the archive's identity was NOT checked"),
        "TSA root: " + (anchors.get("tsa_root") or "not given: TSA chains not checked against a chosen root"),
    ]
