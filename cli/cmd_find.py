"""Finding and selecting items: list/search with filters, cases, case add, correct, and bulk selection."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from custody.errors import InputError
from custody.humanize import short_size

from .render import out, print_json, short, table
from .state import STATE

if TYPE_CHECKING:
    from custody.archive import Acting
    from custody.query import Query

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Opt = typer.Option

# The filters shared by list, search, get and export (custody.query).
CaseOpt = Annotated[list[str] | None, Opt("--case", help="Items of this case (repeatable: any of them).")]
TagOpt = Annotated[list[str] | None, Opt("--tag", help="Items tagged so, at ingest or by an annotation (repeatable).")]
TypeOpt = Annotated[
    list[str] | None, Opt("--type", help="Media type, or its major part: image, video/mp4 (repeatable).")
]
FlagOpt = Annotated[list[str] | None, Opt("--flag", help="Items carrying this flag code, e.g. metadata_absent.")]
CollectorOpt = Annotated[str | None, Opt("--collected-by", help="Collector's name contains this text.")]
PlatformOpt = Annotated[str | None, Opt("--platform", help="Platform contains this text (e.g. Telegram).")]
TextOpt = Annotated[str | None, Opt("--text", help="A current annotation contains this text.")]
CapFromOpt = Annotated[str | None, Opt("--captured-from", help="Captured at or after (date or ISO time).")]
CapToOpt = Annotated[str | None, Opt("--captured-to", help="Captured at or before (date: the whole day).")]
IngFromOpt = Annotated[str | None, Opt("--ingested-from", help="Ingested at or after (date or ISO time).")]
IngToOpt = Annotated[str | None, Opt("--ingested-to", help="Ingested at or before (date: the whole day).")]
ExcludeOpt = Annotated[list[str] | None, Opt("--exclude", help="Leave this item out (repeatable).")]
YesOpt = Annotated[bool, Opt("--yes", "-y", help="Do not ask for confirmation of a bulk action.")]


def make_query(
    items: list[str] | None = None,
    case: list[str] | None = None,
    tag: list[str] | None = None,
    media_type: list[str] | None = None,
    flag: list[str] | None = None,
    collected_by: str | None = None,
    platform: str | None = None,
    text: str | None = None,
    captured_from: str | None = None,
    captured_to: str | None = None,
    ingested_from: str | None = None,
    ingested_to: str | None = None,
    exclude: list[str] | None = None,
) -> Query:
    from custody.query import Query

    return Query(
        cases=tuple(case or ()),
        tags=tuple(tag or ()),
        media_types=tuple(media_type or ()),
        flags=tuple(flag or ()),
        collected_by=collected_by,
        platform=platform,
        text=text,
        captured_from=captured_from,
        captured_to=captured_to,
        ingested_from=ingested_from,
        ingested_to=ingested_to,
        items=tuple(items or ()),
        exclude=tuple(exclude or ()),
    )


def uses_filters(query: Query) -> bool:
    """True when more than named items (and one --case, the form scripts have always used) select."""
    from dataclasses import replace

    plain = replace(query, items=(), cases=() if len(query.cases) <= 1 else query.cases)
    return not plain.is_empty() or bool(query.exclude)


def confirm_bulk(what: str, count: int, query: Query, yes: bool) -> None:
    """Show the count and ask before a bulk action selected by filters; refuse without a terminal unless --yes."""
    if yes:
        return
    if not uses_filters(query):
        return
    if not sys.stdin.isatty():
        raise InputError(
            f"{what}: the filters select {count} item(s); there is no terminal to confirm on, pass --yes to proceed"
        )
    if not typer.confirm(f"{what}: {count} item(s) selected by {query.describe()}. Proceed?", default=False):
        raise typer.Exit(1)


def select_for(acting: Acting, what: str, query: Query, yes: bool, permission: Any) -> list[str]:
    """The items a bulk action takes: selected, counted, confirmed."""
    from custody.query import select_items

    if query.is_empty():
        raise InputError(f"{what}: name item ids or give filters (--case, --tag, --type, ...); see --help")
    chosen = select_items(acting, query, permission)
    if not chosen:
        raise InputError(f"{what}: the filters select no items ({query.describe()}); nothing was done")
    confirm_bulk(what, len(chosen), query, yes)
    return chosen


def list_(
    items: Annotated[list[str] | None, typer.Argument(help="Only these item ids.")] = None,
    case: CaseOpt = None,
    tag: TagOpt = None,
    media_type: TypeOpt = None,
    flag: FlagOpt = None,
    collected_by: CollectorOpt = None,
    platform: PlatformOpt = None,
    text: TextOpt = None,
    captured_from: CapFromOpt = None,
    captured_to: CapToOpt = None,
    ingested_from: IngFromOpt = None,
    ingested_to: IngToOpt = None,
    exclude: ExcludeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List items, filtered (every filter given must hold; a repeated one holds for any of its values)."""
    from custody.query import records_of, search

    query = make_query(
        items, case, tag, media_type, flag, collected_by, platform, text,
        captured_from, captured_to, ingested_from, ingested_to, exclude,
    )  # fmt: skip
    acting = STATE.acting()
    entries = records_of(acting, search(acting, query))
    if json_:
        # The signed records, as before (scripts read them); `show --json` has the same record under "record".
        print_json([e["record"] for e in entries])
        return
    table(
        f"Items ({len(entries)})" + ("" if query.is_empty() and not query.exclude else f": {query.describe()}"),
        ["item", "name", "size", "media type", "sha256", "cases"],
        [
            [
                e["record"]["item_id"],
                e["record"]["original_name"],
                short_size(e["record"]["size"]),
                e["record"]["media_type"],
                short(e["record"]["sha256"]),
                ", ".join(e["cases"]),
            ]
            for e in entries
        ],
    )


def cases(json_: JsonOpt = False) -> None:
    """List the cases with their number of items and total size."""
    from custody.query import list_cases

    found = list_cases(STATE.acting())
    if json_:
        print_json([c.to_json() for c in found])
        return
    table(
        f"Cases ({len(found)})",
        ["case", "items", "size"],
        [[c.case, c.items, short_size(c.bytes)] for c in found],
    )


case_app = typer.Typer(help="Case membership after ingest (signed case.add events).", no_args_is_help=True)


@case_app.command("add")
def case_add(
    items: Annotated[list[str], typer.Argument(help="Item ids to put into the case.")],
    case: Annotated[str, Opt("--case", help="The case id.")],
    json_: JsonOpt = False,
) -> None:
    """Put existing items into another case: one signed case.add event per item (needs the ingest permission)."""
    from custody.cases import add_to_case

    done = add_to_case(STATE.acting(), items, case)
    if json_:
        print_json([{"item_id": d.item_id, "case": d.case, "event_seq": d.seq} for d in done])
        return
    for d in done:
        said = f"added (event {d.seq})" if d.seq is not None else "already a member; nothing logged"
        out.print(f"{d.item_id}: case {d.case} {said}", highlight=False)


def correct(
    item: Annotated[str, typer.Argument(help="Item id.")],
    field: Annotated[str, Opt("--field", help="Provenance field, e.g. collected_at.")],
    value: Annotated[str, Opt("--value", help="The correct value.")],
    reason: Annotated[str, Opt("--reason", help="Why (logged and signed).")],
    json_: JsonOpt = False,
) -> None:
    """Correct a provenance value: a signed correct event; the original signed record never changes."""
    from custody.correct import correct as correct_item
    from custody.query import normalise_id

    event = correct_item(STATE.acting(), normalise_id(item), field, value, reason)
    if json_:
        print_json(event.to_json())
        return
    out.print(f"Corrected {field} of {event.item} (event {event.seq}); 'custody show {event.item}' shows the history")


def register(app: typer.Typer) -> None:
    app.command("list")(list_)
    app.command("search", help="The same as list: find items by case, tag, type, flag, collector, text, dates.")(
        list_
    )
    app.command()(cases)
    app.add_typer(case_app, name="case")
    app.command()(correct)
