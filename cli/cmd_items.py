"""Item commands: ingest, list, show, get, annotate, similar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from custody.errors import InputError
from custody.humanize import short_size
from custody.similarity import DEFAULT_THRESHOLD
from custody.timeutil import parse_iso

from .render import done, err, names_and_zone, out, print_json, short, table
from .state import STATE

if TYPE_CHECKING:
    from custody.ingest import Source

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


Opt = typer.Option


_LIST_EVERY_FILE_UP_TO = 50


def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files (or folders with --recursive) to ingest.", readable=False)
    ] = None,
    recursive: Annotated[bool, Opt("--recursive", "-r", help="Ingest folders' contents.")] = False,
    follow_symlinks: Annotated[bool, Opt(help="Ingest symlink targets (never outside the given tree).")] = False,
    manifest: Annotated[
        Path | None, Opt(help="CSV with a 'path' column and any provenance columns, one row per file.")
    ] = None,
    source_url: Annotated[str | None, Opt(help="Where the file was found (URL).")] = None,
    collected_by: Annotated[str | None, Opt(help="Who collected it.")] = None,
    collected_at: Annotated[str | None, Opt(help="When it was collected (ISO 8601 with offset).")] = None,
    method: Annotated[str | None, Opt(help="How it was collected.")] = None,
    case: Annotated[str | None, Opt(help="Case id.")] = None,
    note: Annotated[str | None, Opt(help="Free-text note.")] = None,
    platform: Annotated[str | None, Opt(help="Platform it was posted on (e.g. Telegram).")] = None,
    posted_at: Annotated[str | None, Opt(help="When it was posted (ISO 8601 with offset).")] = None,
    uploader: Annotated[str | None, Opt(help="Account that posted it.")] = None,
    title: Annotated[str | None, Opt(help="Title of the post.")] = None,
    description: Annotated[str | None, Opt(help="Text of the post.")] = None,
    language: Annotated[str | None, Opt(help="Language of the material.")] = None,
    collected_from: Annotated[str | None, Opt(help="Person or organisation who handed it over.")] = None,
    capture_device: Annotated[str | None, Opt(help="Device that captured it, as stated by the source.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Hash, sign and store files with their provenance; every ingest is logged."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from custody.ingest import ingest as ingest_files
    from custody.ingest import ingest_manifest
    from custody.records import Provenance

    for name, value in (("--collected-at", collected_at), ("--posted-at", posted_at)):
        if value is not None:
            parse_iso(value, name)
    provenance = Provenance(
        source_url=source_url,
        collected_by=collected_by,
        collected_at=collected_at,
        method=method,
        case=case,
        note=note,
        platform=platform,
        posted_at=posted_at,
        uploader=uploader,
        title=title,
        description=description,
        language=language,
        collected_from=collected_from,
        capture_device=capture_device,
    )
    if manifest is None and not paths:
        raise InputError("ingest: name files or folders, or pass --manifest FILE.csv")
    if manifest is not None and paths:
        raise InputError("ingest: give either paths or --manifest, not both")
    acting = STATE.acting()
    progress = Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err.console,
        transient=True,
        disable=json_,
    )
    task = progress.add_task("ingest", total=None)

    def on_start(sources: list[Source]) -> None:
        # Started here, not before: the library may fork its store workers first, while no
        # thread (such as the bar's refresh thread) runs.
        progress.update(task, total=sum(s.path.stat().st_size for s in sources))
        progress.start()

    try:
        if manifest is not None:
            results = ingest_manifest(
                acting,
                manifest,
                provenance,
                follow_symlinks=follow_symlinks,
                on_bytes=lambda n: progress.advance(task, n),
                on_start=on_start,
            )
        else:
            results = ingest_files(
                acting,
                paths or [],
                provenance,
                recursive=recursive,
                follow_symlinks=follow_symlinks,
                on_bytes=lambda n: progress.advance(task, n),
                on_start=on_start,
            )
    finally:
        progress.stop()
    if json_:
        print_json([r.to_json() for r in results])
        return
    if len(results) <= _LIST_EVERY_FILE_UP_TO:
        table(
            f"Ingested {len(results)} file(s)",
            ["item", "file", "size", "media type", "sha256", "duplicate of"],
            [
                [r.item_id, r.original_name, short_size(r.size), r.media_type, short(r.sha256), r.duplicate_of or ""]
                for r in results
            ],
        )
        return
    # A table of thousands of rows helps nobody and takes longer to draw than to ingest.
    by_type: dict[str, list[int]] = {}
    for r in results:
        counts = by_type.setdefault(r.media_type, [0, 0, 0])
        counts[0 if r.duplicate_of is None else 1] += 1
        counts[2] += r.size
    new_ids = [r.item_id for r in results if r.duplicate_of is None]
    table(
        f"Ingested {len(results)} files" + (f": new items {new_ids[0]} .. {new_ids[-1]}" if new_ids else ""),
        ["media type", "new items", "already held (acquisitions)", "bytes"],
        [[kind, new, known, short_size(size)] for kind, (new, known, size) in sorted(by_type.items())],
    )
    out.print("Each file's item id and digests: custody list (or ingest --json, for scripts).")


def list_(
    case: Annotated[str | None, typer.Option(help="Only items of this case.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List items with their signed records."""
    from custody.items import list_items

    records = list_items(STATE.acting(), case)
    if json_:
        print_json(records)
        return
    table(
        "Items",
        ["item", "name", "size", "media type", "sha256", "case"],
        [
            [
                r["item_id"],
                r["original_name"],
                short_size(r["size"]),
                r["media_type"],
                short(r["sha256"]),
                (r.get("provenance") or {}).get("case"),
            ]
            for r in records
        ],
    )


def show(item: Annotated[str, typer.Argument(help="Item id, e.g. EV-000001.")], json_: JsonOpt = False) -> None:
    """Show an item's record, acquisitions and annotations (logged as a view)."""
    from custody.items import show_item

    view = show_item(STATE.acting(), item)
    if json_:
        print_json(view.to_json())
        return
    names, tz = names_and_zone(STATE.archive())
    _render_view(view.to_json(), names, tz)


def _render_view(data: dict[str, Any], names: dict[str, str], tz: Any) -> None:
    from custody import humanize as h
    from custody.report.model import metadata_rows, provenance_rows

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
    ]
    rows += [[f"provenance: {r['label']}", r["value"]] for r in provenance_rows(first.get("provenance"))]
    if rec.get("withholdable"):
        rows.append(["withholdable", "source path and provenance are signed as salted digests (export --withhold)"])
    rows += [[r["label"], r["value"]] for r in metadata_rows(rec.get("metadata") or {})]
    for flag in rec.get("flags") or []:
        title, text = h.flag(flag)
        code = flag.get("code") if isinstance(flag, dict) else None
        rows.append([f"[yellow]flag: {title}[/]" + (f" ({code})" if code else ""), text])
    rows += [["[yellow]warning[/]", h.text(w)] for w in rec.get("warnings") or []]
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


def get(
    item: Annotated[str, typer.Argument(help="Item id.")],
    out_path: Annotated[Path, typer.Option("--out", help="File (or existing folder) to write.")],
    purpose: Annotated[str, typer.Option(help="Why the bytes are taken out (logged).")],
) -> None:
    """Copy an item's bytes out, re-checking both digests; logged with the purpose."""
    from custody.items import get_content

    target = get_content(STATE.acting(), item, out_path, purpose)
    out.print(f"Wrote {target} (digests re-checked)")


def annotate(
    item: Annotated[str, typer.Argument(help="Item id.")],
    text: Annotated[str, typer.Argument(help="The annotation.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    supersedes: Annotated[int | None, typer.Option(help="Seq of an earlier annotation this corrects.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Append an annotation (never edited; corrections supersede)."""
    from custody.annotate import annotate as annotate_item

    event = annotate_item(STATE.acting(), item, text, tag or [], supersedes)
    done(event, json_, f"Annotated {item} (event {event.seq})")


def derive(
    source: Annotated[str, typer.Argument(help="Item id of the evidentiary copy it was made from.")],
    file: Annotated[Path, typer.Argument(help="The working copy (still, crop, redacted copy, transcript, ...).")],
    relation: Annotated[str, Opt(help="still, crop, transcode, redaction, excerpt, transcript or translation.")],
    method: Annotated[str, Opt(help="How it was made, in words (logged and signed).")],
    tool: Annotated[str | None, Opt(help="Tool and settings, e.g. 'ffmpeg 5.1 -ss 12.4 -frames:v 1'.")] = None,
    ffmpeg_args: Annotated[
        str | None,
        Opt(help="Arguments after 'ffmpeg -i SOURCE' that reproduce FILE exactly (checked by verify --rederive)."),
    ] = None,
    case: Annotated[str | None, Opt(help="Case id (default: the source's case).")] = None,
    collected_by: Annotated[str | None, Opt(help="Who made the copy.")] = None,
    note: Annotated[str | None, Opt(help="Free-text note.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Ingest a working copy of an item: its signed record names the source, relation, method and tool."""
    import shlex

    from custody.ingest import ingest_derived
    from custody.records import Provenance

    recipe = shlex.split(ffmpeg_args) if ffmpeg_args is not None else None
    provenance = Provenance(case=case, collected_by=collected_by, note=note, method=method)
    result = ingest_derived(STATE.acting(), source, file, relation, method, tool, provenance, recipe)
    made = f"{result.item_id} ({result.original_name}) is a {relation} of {source}"
    done(result, json_, f"{made} (event {result.event_seq})")


def similar(
    item: Annotated[str, typer.Argument(help="Item id.")],
    threshold: Annotated[int, Opt(help="Largest perceptual-hash distance (bits) to list.")] = DEFAULT_THRESHOLD,
    json_: JsonOpt = False,
) -> None:
    """List items that are likely the same picture or footage (re-encoded, resized, re-uploaded)."""
    from custody.similarity import similar_items

    matches = similar_items(STATE.acting(), item, threshold)
    if json_:
        print_json([m.to_json() for m in matches])
        return
    table(
        f"Items similar to {item}",
        ["item", "distance", "name", "media type"],
        [[m.item_id, m.distance, m.original_name, m.media_type] for m in matches],
    )


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command("list")(list_)
    app.command()(show)
    app.command()(get)
    app.command()(annotate)
    app.command()(derive)
    app.command()(similar)
