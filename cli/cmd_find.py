"""Finding items: list/search with the filters of cli.selection, cases, case add, correct."""

from __future__ import annotations

from typing import Annotated

import typer

from custody.humanize import short_size

from .render import out, print_json, short, table
from .selection import NO_FILTERS, CaseOpt, Filters, with_filters
from .state import STATE

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Opt = typer.Option


@with_filters
def list_(
    items: Annotated[list[str] | None, typer.Argument(help="Only these item ids.")] = None,
    case: CaseOpt = None,
    filters: Filters = NO_FILTERS,
    json_: JsonOpt = False,
) -> None:
    """List items, filtered (every filter given must hold; a repeated one holds for any of its values)."""
    from custody.query import records_of, search

    query = filters.query(items, case)
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
