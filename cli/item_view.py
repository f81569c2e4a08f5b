"""How ``custody show`` lays out one item: its record, acquisitions, corrections, derivation, annotations, history."""

from __future__ import annotations

from typing import Any

from .render import styled, table


def render_item(data: dict[str, Any], names: dict[str, str], tz: Any) -> None:
    """The tables of an item view (``custody.items.show_item`` as JSON), key ids named by ``names``, times in ``tz``."""
    from rich.markup import escape

    from custody import humanize as h
    from custody.report.rows import metadata_rows, provenance_rows

    rec = data["record"]
    first = data["acquisitions"][0]
    rows: list[list[Any]] = [
        ["item", rec["item_id"]],
        ["original name", rec["original_name"]],
        ["size", h.size(rec["size"])],
        ["media type", rec["media_type"]],
        ["sha256", rec["sha256"]],
        ["blake3", rec["blake3"]],
        ["source path", first.get("source_path")],
        ["ingested at", h.utc_and_local(rec.get("ingested_at"), tz)],
        ["ingested by", h.actor_with_key(rec.get("ingested_by"), names)],
        ["record signed by", h.actor_with_key(data["signer"], names)],
        ["cases", ", ".join(data["cases"])],
        ["tags at ingest", ", ".join(h.text(t) for t in rec.get("tags") or [])],
    ]
    rows += [[f"provenance: {r['label']}", r["value"]] for r in provenance_rows(first.get("provenance"))]
    if rec.get("withholdable"):
        rows.append(["withholdable", "source path and provenance are signed as salted digests (export --withhold)"])
    rows += [[r["label"], r["value"]] for r in metadata_rows(rec.get("metadata") or {})]
    for flag in rec.get("flags") or []:
        title, text = h.flag(flag)
        code = flag.get("code") if isinstance(flag, dict) else None
        label = escape(f"flag: {title}" + (f" ({code})" if code else ""))
        rows.append([styled(f"[yellow]{label}[/]"), text])
    rows += [[styled("[yellow]warning[/]"), h.text(w)] for w in rec.get("warnings") or []]
    table(f"Item {rec['item_id']}", ["field", "value"], rows)
    table(
        "Acquisitions",
        ["event", "file", "source", "collected by", "case"],
        [
            [
                a["seq"],
                a["original_name"],
                a["source_path"],
                (a.get("provenance") or {}).get("collected_by"),
                (a.get("provenance") or {}).get("case"),
            ]
            for a in data["acquisitions"]
        ],
    )
    if data.get("corrections"):
        table(
            "Provenance corrections (the signed record keeps the value stated at ingest)",
            ["event", "time", "by", "field", "before", "after", "reason"],
            [
                [
                    c["seq"],
                    h.utc_and_local(c["time"], tz),
                    h.actor(c["actor"], names),
                    c["field"],
                    h.text(c["previous"]) if c["previous"] is not None else "(not stated)",
                    h.text(c["value"]),
                    h.text(c["reason"]),
                ]
                for c in data["corrections"]
            ],
        )
    derivation = data.get("derivation") or {}
    source = derivation.get("derived_from")
    if source or derivation.get("derived_items"):
        rows = []
        if source:
            how = f"{source['relation']}: {source['method']}" + (
                f" (tool: {source['tool']})" if source.get("tool") else ""
            )
            rows.append(["derived from", source["item_id"], how])
        rows += [
            ["working copy", d["item_id"], f"{d['relation']}: {d['method']} (event {d['seq']})"]
            for d in derivation.get("derived_items") or []
        ]
        table("Derivation", ["link", "item", "how"], rows)
    if data["annotations"]:
        table(
            "Annotations",
            ["event", "time", "author", "text", "tags", "status"],
            [
                [
                    a["seq"],
                    h.utc_and_local(a["time"], tz),
                    h.actor(a["actor"], names),
                    a["text"],
                    ", ".join(a["tags"]),
                    "corrected by a later annotation"
                    if a["superseded"]
                    else f"corrects event {a['supersedes']}"
                    if a["supersedes"] is not None
                    else "current",
                ]
                for a in data["annotations"]
            ],
        )
    # Every event naming the item, also in its payload: each disclosure, verification and refusal.
    table(
        "Custody history",
        ["event", "time", "actor", "action", "details"],
        [
            [
                e["seq"],
                h.utc_and_local(e["time"], tz),
                h.actor(e["actor"], names),
                e["action"],
                h.describe_event(e, names),
            ]
            for e in data["events"]
            if e["action"] not in {"annotate", "acquire"}
        ],
    )
