"""The human side of a bundle: a chain-of-custody report and instructions for stock tools."""

from __future__ import annotations

from html import escape
from typing import Any

from ..metadata import describe_content_credentials

_STYLE = """
body{font-family:Georgia,serif;max-width:60em;margin:2em auto;color:#111}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif} table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
td,th{border:1px solid #999;padding:.25em .5em;vertical-align:top;text-align:left;font-size:.9em}
code{font-size:.85em;word-break:break-all} .superseded{color:#777;text-decoration:line-through}
"""


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{escape(label)}</th><td>{escape('' if value is None else str(value))}</td></tr>"


def _describe(event: dict[str, Any], names: dict[str, str], clear: dict[str | int, dict[str, Any]]) -> str:
    payload = event["payload"]
    action = event["action"]
    if action == "annotate":
        text = f"Annotation: {payload.get('text')}"
        if payload.get("supersedes") is not None:
            text += f" (corrects annotation at event {payload['supersedes']})"
        return text
    if action == "access":
        return f"Bytes taken out ({payload.get('kind')}); purpose: {payload.get('purpose')}"
    if action == "acquire":
        acq = payload.get("acquisition", {})
        source = (clear.get(event["seq"]) or {}).get("source_path", acq.get("source_path"))
        return f"Acquired again as {acq.get('original_name')} from {source}"
    if action == "export":
        return f"Exported in bundle {payload.get('bundle_id')}; purpose: {payload.get('purpose')}"
    if action == "ingest":
        return "Ingested: hashed, signed and stored"
    if action == "derive":
        return (
            f"Working copy {payload.get('derived_item')} made from {event.get('item')} "
            f"({payload.get('relation')}): {payload.get('method')}"
        )
    if action == "actor.add":
        return f"Actor {payload.get('name')} registered with role {payload.get('role')}"
    return str(action)


def report_html(
    bundle_id: str,
    origin: str,
    exported_by: str,
    purpose: str,
    records: list[dict[str, Any]],
    events: list[dict[str, Any]],
    names: dict[str, str],
    checkpoint_size: int,
    verified: list[str],
    clear: dict[str | int, dict[str, Any]] | None = None,
) -> str:
    """A self-contained HTML chain-of-custody report for the bundle's items.

    ``clear``: item id or acquire event seq -> {source_path, provenance} as the bundle discloses them
    (withheld values already replaced by a marker); records without an entry are shown as signed.
    """
    clear = clear or {}
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>Chain of custody - {escape(bundle_id)}</title><style>{_STYLE}</style><body>",
        f"<h1>Chain-of-custody report</h1><table>{_row('Bundle', bundle_id)}{_row('Archive', origin)}",
        f"{_row('Exported by', exported_by)}{_row('Purpose', purpose)}",
        f"{_row('Log checkpoint', f'tree size {checkpoint_size}, signed by the archive key')}</table>",
        "<h2>What was verified at export</h2><ul>",
        *[f"<li>{escape(line)}</li>" for line in verified],
        "</ul><p>Every statement below can be re-checked from this bundle alone; see VERIFY.md.</p>",
    ]
    for signed in records:
        rec = signed["record"]
        item = rec["item_id"]
        opened = clear.get(item) or {"source_path": rec.get("source_path"), "provenance": rec.get("provenance")}
        parts.append(f"<h2>{escape(item)}: {escape(str(rec['original_name']))}</h2><table>")
        for label, key in (
            ("Size (bytes)", "size"),
            ("Media type", "media_type"),
            ("SHA-256", "sha256"),
            ("BLAKE3", "blake3"),
            ("Ingested at", "ingested_at"),
        ):
            parts.append(_row(label, rec.get(key)))
        parts.append(_row("Source path", opened.get("source_path")))
        parts.append(_row("Ingested by", names.get(str(rec.get("ingested_by")), rec.get("ingested_by"))))
        for key, value in (opened.get("provenance") or {}).items():
            if value is not None:
                parts.append(_row(f"Provenance: {key.replace('_', ' ')}", value))
        metadata = rec.get("metadata") or {}
        for key in ("captured_at", "gps", "device", "width", "height", "duration_seconds"):
            if metadata.get(key) is not None:
                parts.append(_row(f"Capture metadata: {key.replace('_', ' ')}", metadata[key]))
        if metadata.get("content_credentials"):
            parts.append(
                _row("Content Credentials (C2PA)", describe_content_credentials(metadata["content_credentials"]))
            )
        link = rec.get("derived_from")
        if isinstance(link, dict):
            tool = f"; tool: {link.get('tool')}" if link.get("tool") else ""
            parts.append(
                _row(
                    "Derived from",
                    f"{link.get('item_id')} (SHA-256 {link.get('sha256')}), {link.get('relation')}: "
                    f"{link.get('method')}{tool}",
                )
            )
        for event in events:
            if event["action"] == "derive" and event["item"] == item:
                payload = event["payload"]
                parts.append(
                    _row(
                        "Working copy",
                        f"{payload.get('derived_item')} ({payload.get('relation')}), event {event['seq']}",
                    )
                )
        for flag in rec.get("flags") or []:
            parts.append(_row("Flag", flag.get("message") if isinstance(flag, dict) else flag))
        parts.append(
            "</table><h3>Custody timeline</h3><table><tr><th>Event</th><th>Time (UTC)</th>"
            "<th>Actor</th><th>What happened</th></tr>"
        )
        superseded = {e["payload"].get("supersedes") for e in events if e["action"] == "annotate"}
        for event in events:
            mine = (
                event["item"] == item
                or item in (event["payload"].get("items") or [])
                or event["payload"].get("derived_item") == item
            )
            if not mine:
                continue
            css = " class='superseded'" if event["seq"] in superseded else ""
            parts.append(
                f"<tr{css}><td>{event['seq']}</td><td>{escape(event['time'])}</td>"
                f"<td>{escape(names.get(event['actor'], event['actor'][:16]))}</td>"
                f"<td>{escape(_describe(event, names, clear))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
