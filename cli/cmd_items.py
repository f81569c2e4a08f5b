"""Item commands: show, get, annotate, similar (and the ingest commands of cli.cmd_ingest, registered here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.errors import InputError
from custody.similarity import DEFAULT_THRESHOLD

from . import selection
from .cmd_ingest import derive, ingest
from .item_view import render_item
from .progress import bars
from .render import done, names_and_zone, out, print_json, table
from .state import STATE

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


Opt = typer.Option


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
    render_item(view.to_json(), names, tz)


@selection.with_filters
def get(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids (or select with the filters).")] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="File to write; for several items, an existing folder.")
    ] = None,
    purpose: Annotated[str, typer.Option(help="Why the bytes are taken out (logged).")] = "",
    case: selection.CaseOpt = None,
    filters: selection.Filters = selection.NO_FILTERS,
    yes: selection.YesOpt = False,
) -> None:
    """Copy items' bytes out, re-checking both digests; each copy is logged with the purpose.

    Several items (named, or selected with the filters of 'custody list') go into the folder --out as
    ITEM-ID_NAME; a selection by filters shows its count and asks first (--yes skips the question).
    """
    from custody.items import get_content, parse_name
    from custody.roles import Permission

    if out_path is None:
        raise InputError("get: --out FILE (or FOLDER, for several items) is required")
    query = filters.query(items, case)
    acting = STATE.acting()
    chosen = selection.select_for(acting, "get", query, yes, Permission.ACCESS)
    if len(chosen) == 1 and not selection.uses_filters(query):
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

