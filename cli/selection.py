"""Selecting items by the filters of 'custody list': the options (declared once for every command that takes
them), the query they make, and the count-and-confirm step of a bulk action."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from custody.errors import InputError

if TYPE_CHECKING:
    from custody.archive import Acting
    from custody.query import Query

Opt = typer.Option

# The filters shared by list, search, get and export (custody.query).
CaseOpt = Annotated[list[str] | None, Opt("--case", help="Items of this case (repeatable: any of them).")]
YesOpt = Annotated[bool, Opt("--yes", "-y", help="Do not ask for confirmation of a bulk action.")]
_OPTIONS: dict[str, Any] = {
    "tag": Annotated[
        list[str] | None, Opt("--tag", help="Items tagged so, at ingest or by an annotation (repeatable).")
    ],
    "media_type": Annotated[
        list[str] | None, Opt("--type", help="Media type, or its major part: image, video/mp4 (repeatable).")
    ],
    "flag": Annotated[
        list[str] | None,
        Opt("--flag", help="Items carrying this flag code, e.g. metadata_absent (an unknown code is an error)."),
    ],
    "collected_by": Annotated[str | None, Opt("--collected-by", help="Collector's name contains this text.")],
    "platform": Annotated[str | None, Opt("--platform", help="Platform contains this text (e.g. Telegram).")],
    "text": Annotated[str | None, Opt("--text", help="A current annotation contains this text.")],
    "captured_from": Annotated[str | None, Opt("--captured-from", help="Captured at or after (date or ISO time).")],
    "captured_to": Annotated[str | None, Opt("--captured-to", help="Captured at or before (date: the whole day).")],
    "ingested_from": Annotated[str | None, Opt("--ingested-from", help="Ingested at or after (date or ISO time).")],
    "ingested_to": Annotated[str | None, Opt("--ingested-to", help="Ingested at or before (date: the whole day).")],
    "exclude": Annotated[list[str] | None, Opt("--exclude", help="Leave this item out (repeatable).")],
}


class Filters:
    """The filter options a command was given, by parameter name (None: not given)."""

    def __init__(self, given: dict[str, Any]) -> None:
        self._given = {name: given.get(name) for name in _OPTIONS}

    def query(self, items: list[str] | None, cases: list[str] | None) -> Query:
        """The query of these filters with the named ``items`` and ``cases``."""
        from custody.query import Query

        given = self._given
        return Query(
            cases=tuple(cases or ()),
            tags=tuple(given["tag"] or ()),
            media_types=tuple(given["media_type"] or ()),
            flags=tuple(given["flag"] or ()),
            collected_by=given["collected_by"],
            platform=given["platform"],
            text=given["text"],
            captured_from=given["captured_from"],
            captured_to=given["captured_to"],
            ingested_from=given["ingested_from"],
            ingested_to=given["ingested_to"],
            items=tuple(items or ()),
            exclude=tuple(given["exclude"] or ()),
        )


# The default of a command's ``filters`` parameter (with_filters passes the options given in its place).
NO_FILTERS = Filters({})


def with_filters(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` as typer sees it: the filter options (--tag ... --exclude) stand where its ``filters``
    parameter stands, and reach it as one ``Filters``."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name != "filters":
            parameters.append(parameter)
            continue
        parameters += [
            inspect.Parameter(name, parameter.kind, default=None, annotation=option)
            for name, option in _OPTIONS.items()
        ]

    @functools.wraps(command)
    def run(**given: Any) -> None:
        chosen = {name: given.pop(name) for name in _OPTIONS}
        command(filters=Filters(chosen), **given)

    # typer reads the options from the signature and the type hints: both name the filters one by one.
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return run


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
    if query.cases:
        # Membership read from table item_cases alone would let one row added to it carry an item out with the
        # case (a bulk get writes the bytes out as an export does): it must be what the signed data says.
        from custody.query import check_signed_cases

        check_signed_cases(acting, query.cases)
    confirm_bulk(what, len(chosen), query, yes)
    return chosen
