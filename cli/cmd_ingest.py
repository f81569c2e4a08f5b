"""Ingest commands: ingest (files, folders or a manifest) and derive (a working copy of an item)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from custody.errors import InputError
from custody.humanize import short_size
from custody.timeutil import parse_iso

from .render import done, err, out, print_json, short, table
from .state import STATE

if TYPE_CHECKING:
    from custody.ingest import IngestResult, Source

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
    started: list[bool] = []

    def on_start(sources: list[Source]) -> None:
        # Started here, not before: the library may fork its store workers first, while no
        # thread (such as the bar's refresh thread) runs.
        progress.update(task, total=sum(s.path.stat().st_size for s in sources))
        progress.start()
        started.append(True)

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
        if started:  # stopping a bar never started prints a stray blank line before a one-line error
            progress.stop()
    if json_:
        print_json([r.to_json() for r in results])
        return
    _show_ingested(results)


def _show_ingested(results: list[IngestResult]) -> None:
    """Each file in a table; past a few dozen, one row per media type (new items, acquisitions, bytes)."""
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

