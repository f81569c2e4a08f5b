"""Report commands: a court-ready report or a CASE/UCO export of items, straight from the archive (logged)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.errors import InputError

from .render import out, print_json
from .state import STATE

PaperOpt = Annotated[str, typer.Option("--paper", help="Page size of the PDF report: A4 or Letter.")]
ExhibitPrefixOpt = Annotated[
    str | None, typer.Option("--exhibit-prefix", help="Number exhibits PREFIX001, PREFIX002, ... in item order.")
]
ExhibitsOpt = Annotated[
    Path | None,
    typer.Option("--exhibits", help="CSV mapping item ids to exhibit numbers/ERNs (columns item,exhibit)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _produce(
    items: list[str] | None,
    case: str | None,
    out_path: Path | None,
    purpose: str,
    paper: str,
    exhibit_prefix: str | None,
    exhibits: Path | None,
    json_: bool,
    what: str,
) -> None:
    if out_path is None:
        raise InputError(f"{what}: --out FILE is required")
    from custody.report import ReportOptions
    from custody.report.ondemand import FORMATS, produce

    kind = FORMATS.get(out_path.suffix.lower())
    if what == "case-uco" and kind != "case-uco":
        raise InputError(f"{out_path}: name the CASE/UCO output .jsonld (or .json)")
    result = produce(
        STATE.acting(),
        items or [],
        out_path,
        purpose,
        case=case,
        options=ReportOptions(paper, exhibit_prefix, exhibits),
    )
    if json_:
        print_json(result.to_json())
        return
    out.print(
        f"Wrote {result.format} report of {len(result.items)} item(s) to {result.path} "
        f"(sha256 {result.sha256[:16]}, logged as event {result.event_seq})"
    )


def report(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids to report on.")] = None,
    case: Annotated[str | None, typer.Option(help="Report on every item of this case.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="File to write: .pdf, .html or .jsonld.")] = None,
    purpose: Annotated[str, typer.Option(help="Why the records are disclosed (logged).")] = "",
    paper: PaperOpt = "a4",
    exhibit_prefix: ExhibitPrefixOpt = None,
    exhibits: ExhibitsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a chain-of-custody report (PDF or HTML) of items or a case; logged as a 'report' event."""
    _produce(items, case, out_path, purpose, paper, exhibit_prefix, exhibits, json_, "report")


def case_uco(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids to describe.")] = None,
    case: Annotated[str | None, typer.Option(help="Every item of this case.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON-LD file to write (.jsonld).")] = None,
    purpose: Annotated[str, typer.Option(help="Why the records are disclosed (logged).")] = "",
    exhibit_prefix: ExhibitPrefixOpt = None,
    exhibits: ExhibitsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write items, hashes, provenance, metadata and custody events as CASE/UCO JSON-LD; logged."""
    _produce(items, case, out_path, purpose, "a4", exhibit_prefix, exhibits, json_, "case-uco")


def register(app: typer.Typer) -> None:
    app.command()(report)
    app.command("case-uco")(case_uco)
