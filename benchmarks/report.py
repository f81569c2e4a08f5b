"""Report benchmark: items/s of the chain-of-custody report at 10^3, 10^4 and 10^5 items.

Run by hand: ``.venv/bin/python benchmarks/report.py [--max 100000] [--pdf-max 1000]``. Records and events
are synthetic and built directly (no archive, no pictures): each item has an ingest, an annotation and a view
event, the case one export event naming every item, four actors their registrations. Measured: the report
model alone (indexing events by item, formatting), the HTML (model + Jinja2), and the PDF (HTML + WeasyPrint)
at 10^2 items (every exhibit's section: about one page each) and, up to ``--pdf-max``, at 10^3 and 10^4 items,
where the PDF holds the cover, index and roster only (past render.PDF_DETAIL_LIMIT exhibits the sections are
read in the HTML; WeasyPrint lays out roughly 4 pages a second here, so a 10^4-exhibit PDF would take an hour).
Target: linear time, i.e. items/s roughly constant from 10^3 to 10^5. The baseline, measured in the same run,
is the previous report's way of finding each item's events (every event scanned for every item): quadratic.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from custody.report.context import context
from custody.report.model import Cover, ReportData
from custody.report.render import html, pdf

ACTORS = {f"{i:064x}": name for i, name in enumerate(("amina", "bohdan", "chloe", "david"), 1)}


def _records_and_events(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    keys = list(ACTORS)
    events: list[dict[str, Any]] = [
        {
            "seq": i,
            "time": "2026-03-01T08:00:00.000000Z",
            "actor": keys[0],
            "action": "actor.add",
            "item": None,
            "payload": {"name": name, "role": "admin", "key_id": key},
        }
        for i, (key, name) in enumerate(ACTORS.items())
    ]
    records = []
    for i in range(1, n + 1):
        item = f"EV-{i:06d}"
        records.append(
            {
                "record": {
                    "type": "custody.item/v1",
                    "archive": "custody.archive/x",
                    "item_id": item,
                    "original_name": f"IMG_{i:06d}.jpg",
                    "size": 2_500_000 + i,
                    "media_type": "image/jpeg",
                    "sha256": f"{i:064x}",
                    "blake3": f"{i + 7:064x}",
                    "source_path": f"/evidence/IMG_{i:06d}.jpg",
                    "ingested_at": "2026-03-01T09:00:00.000000Z",
                    "ingested_by": keys[1],
                    "fs_times": {"mtime": "2026-02-28T12:03:11Z"},
                    "provenance": {"case": "UA-2026-0228", "collected_by": "Field team 3"},
                    "metadata": {
                        "kind": "image",
                        "captured_at": "2026-02-28T14:03:11+02:00",
                        "gps": {"latitude": 47.8388, "longitude": 35.1396, "altitude": 98.0},
                        "device": {"make": "Samsung", "model": "SM-A525F"},
                        "width": 4000,
                        "height": 3000,
                        "has_exif": True,
                    },
                    "flags": [],
                },
                "signature": "x",
                "signer": keys[1],
            }
        )
        seq = len(events)
        events.append(_event(seq, keys[1], "ingest", item, {"record_sha256": f"{i:064x}"}))
        events.append(_event(seq + 1, keys[2], "annotate", item, {"text": "Crater, 3 m", "tags": ["site"]}))
        events.append(_event(seq + 2, keys[3], "view", item, {}))
    items = [r["record"]["item_id"] for r in records]
    events.append(_event(len(events), keys[1], "export", None, {"bundle_id": "BND-1", "items": items, "purpose": "p"}))
    return records, events


def _event(seq: int, actor: str, action: str, item: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": "2026-03-01T10:00:00.123456Z",
        "actor": actor,
        "action": action,
        "item": item,
        "payload": payload,
    }


def _data(n: int) -> ReportData:
    records, events = _records_and_events(n)
    exporter = list(ACTORS)[1]
    cover = Cover(
        "bundle",
        "BND-1",
        "UA-2026-0228",
        "Org",
        "custody.archive/x",
        datetime.now(UTC),
        "bohdan",
        "archivist",
        exporter,
        "disclosure",
        seal_key_id=exporter,
        checkpoint_size=len(events),
        checkpoint_root="0" * 64,
    )
    return ReportData(cover, records, events, dict(ACTORS), {}, {}, {}, "Europe/Kyiv")


def _quadratic(data: ReportData) -> int:
    """The previous report's item->events lookup: every event, for every item."""
    found = 0
    for entry in data.records:
        item = entry["record"]["item_id"]
        for event in data.events:
            if event["item"] == item or item in (event["payload"].get("items") or []):
                found += 1
    return found


def _rate(label: str, n: int, fn: Any, base: float | None) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    ratio = f"{rate / base:6.2f}x the 10^3 rate" if base else "(reference)"
    print(f"  {label:<34} {n:>7} items {elapsed:9.2f} s {rate:10.0f} items/s  {ratio}", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=100_000)
    parser.add_argument("--pdf-max", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [n for n in (1_000, 3_000, 10_000, 100_000) if n <= args.max]
    bases: dict[str, float] = {}
    detailed = _data(100)
    print("100 items (PDF with every exhibit's section)", flush=True)
    _rate("PDF (HTML + WeasyPrint), detailed", 100, lambda: pdf(detailed, "a4"), None)
    for n in sizes:
        data = _data(n)
        print(f"{n} items, {len(data.events)} events", flush=True)
        for label, fn in (
            ("model (index + formatting)", lambda d=data: context(d, "a4", {})),
            ("HTML (model + Jinja2)", lambda d=data: html(d, "a4", {})),
        ):
            rate = _rate(label, n, fn, bases.get(label))
            bases.setdefault(label, rate)
        if n <= args.pdf_max:
            rate = _rate("PDF (HTML + WeasyPrint), index", n, lambda d=data: pdf(d, "a4"), bases.get("pdf"))
            bases.setdefault("pdf", rate)
        if n <= 3_000:
            rate = _rate("baseline: scan all events per item", n, lambda d=data: _quadratic(d), bases.get("quad"))
            bases.setdefault("quad", rate)


if __name__ == "__main__":
    main()
