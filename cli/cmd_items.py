"""Item commands: ingest, list, show, get, annotate, similar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from custody.errors import InputError
from custody.humanize import short_size
from custody.similarity import DEFAULT_THRESHOLD
from custody.timeutil import parse_iso

from . import cmd_find as find
from .progress import bars
from .render import done, err, names_and_zone, out, print_json, short, styled, table
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
    tag: Annotated[list[str] | None, Opt("--tag", help="Tag (repeatable), signed into the record.")] = None,
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
        tags=tuple(t.strip() for t in tag or () if t.strip()),
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


def show(
    item: Annotated[str, typer.Argument(help="Item id, e.g. EV-000001.")],
    key_ids: Annotated[bool, Opt("--key-ids", help="Show each actor's key id beside the name.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Show an item's record, acquisitions and annotations (logged as a view)."""
    from custody.items import show_item
    from custody.query import normalise_id

    view = show_item(STATE.acting(), normalise_id(item))
    if json_:
        print_json(view.to_json())
        return
    names, tz = names_and_zone(STATE.archive(), key_ids)
    _render_view(view.to_json(), names, tz)


def _render_view(data: dict[str, Any], names: dict[str, str], tz: Any) -> None:
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


def get(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids (or select with the filters).")] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="File to write; for several items, an existing folder.")
    ] = None,
    purpose: Annotated[str, typer.Option(help="Why the bytes are taken out (logged).")] = "",
    case: find.CaseOpt = None,
    tag: find.TagOpt = None,
    media_type: find.TypeOpt = None,
    flag: find.FlagOpt = None,
    collected_by: find.CollectorOpt = None,
    platform: find.PlatformOpt = None,
    text: find.TextOpt = None,
    captured_from: find.CapFromOpt = None,
    captured_to: find.CapToOpt = None,
    ingested_from: find.IngFromOpt = None,
    ingested_to: find.IngToOpt = None,
    exclude: find.ExcludeOpt = None,
    yes: find.YesOpt = False,
) -> None:
    """Copy items' bytes out, re-checking both digests; each copy is logged with the purpose.

    Several items (named, or selected with the filters of 'custody list') go into the folder --out as
    ITEM-ID_NAME; a selection by filters shows its count and asks first (--yes skips the question).
    """
    from custody.items import get_content, parse_name
    from custody.roles import Permission

    if out_path is None:
        raise InputError("get: --out FILE (or FOLDER, for several items) is required")
    query = find.make_query(
        items, case, tag, media_type, flag, collected_by, platform, text,
        captured_from, captured_to, ingested_from, ingested_to, exclude,
    )  # fmt: skip
    acting = STATE.acting()
    chosen = find.select_for(acting, "get", query, yes, Permission.ACCESS)
    if len(chosen) == 1 and not find.uses_filters(query):
        with bars():
            target = get_content(acting, chosen[0], out_path, purpose)
        out.print(f"Wrote {target} (digests re-checked)")
        return
    if not out_path.is_dir():
        raise InputError(f"get: {out_path} is not a folder; several items are written into an existing folder")
    for item_id in chosen:
        name = f"{item_id}_{parse_name(acting.archive, item_id)}"
        with bars():
            target = get_content(acting, item_id, out_path / name, purpose)
        out.print(f"Wrote {target} (digests re-checked)")
    out.print(f"{len(chosen)} item(s) taken out, each logged with its purpose")


def annotate(
    item: Annotated[str, typer.Argument(help="Item id.")],
    text: Annotated[str, typer.Argument(help="The annotation.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    supersedes: Annotated[int | None, typer.Option(help="Seq of an earlier annotation this corrects.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Append an annotation (never edited; corrections supersede)."""
    from custody.annotate import annotate as annotate_item
    from custody.query import normalise_id

    item = normalise_id(item)
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
    from custody.query import normalise_id
    from custody.records import Provenance

    source = normalise_id(source)
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
    from custody.query import normalise_id
    from custody.similarity import similar_items

    item = normalise_id(item)
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
    app.command()(show)
    app.command()(get)
    app.command()(annotate)
    app.command()(derive)
    app.command()(similar)
