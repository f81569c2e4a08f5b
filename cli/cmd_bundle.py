"""Bundle commands: export, verify-bundle, import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.errors import InputError

from . import selection
from .cmd_report import ExhibitPrefixOpt, ExhibitsOpt, PaperOpt
from .cmd_verify import TsaCa, read_note
from .progress import bars
from .render import done, out, print_json
from .state import STATE
from .verdict import render_report

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VkeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--vkey",
        help="File with the archive's verifier key (from 'custody checkpoint --vkey'): the bundle must come from it.",
    ),
]


@selection.with_filters
def export(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids to export.")] = None,
    case: Annotated[list[str] | None, typer.Option(help="Export every item of this case (repeatable).")] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Bundle file to write: .zip, or .zip.age with --recipient.")
    ] = None,
    purpose: Annotated[str, typer.Option(help="Why the evidence leaves the archive (logged).")] = "",
    recipient: Annotated[
        list[str] | None, typer.Option("--recipient", help="age X25519 public key to encrypt to (repeatable).")
    ] = None,
    withhold: Annotated[
        str | None,
        typer.Option(
            help="Fields to leave out, e.g. source_path,collected_from ('none' for none); "
            "default: the archive's disclosure.withhold."
        ),
    ] = None,
    request: Annotated[
        int | None, typer.Option(help="Seal this approved export request (event seq from 'custody export-request').")
    ] = None,
    paper: PaperOpt = "a4",
    exhibit_prefix: ExhibitPrefixOpt = None,
    exhibits: ExhibitsOpt = None,
    case_uco: Annotated[
        bool, typer.Option("--case-uco", help="Also seal a CASE/UCO JSON-LD description into the bundle.")
    ] = False,
    filters: selection.Filters = selection.NO_FILTERS,
    yes: selection.YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Export items as a sealed BagIt bundle (zip) with its PDF/HTML report, optionally encrypted with age; logged.

    Items are named, or selected with the filters of 'custody list' (--case, --tag, --type, ..., --exclude);
    a selection by filters shows its count and asks first (--yes skips the question).
    """
    if out_path is None:
        raise InputError("export: --out FILE is required")
    from custody.bundle.export import export_bundle
    from custody.report import ReportOptions
    from custody.roles import Permission

    report = ReportOptions(paper, exhibit_prefix, exhibits, case_uco)
    query = filters.query(items, case)
    if request is not None and (not query.is_empty() or query.exclude):
        # The approved request fixes what leaves: a filter beside it (an --exclude above all) must not be dropped
        # without a word while the items it was meant to hold back go out in the bundle.
        raise InputError(
            f"export --request {request}: the request names the items and purpose; give no item ids or filters "
            "(--case, --exclude, --tag, ...): to export fewer items, make a new request"
        )
    acting = STATE.acting()
    whole_case: str | None = None
    if request is not None or not selection.uses_filters(query):
        # The plain forms: --request, named items, or one --case (its signed membership is checked by the export).
        from custody.query import normalise_id

        whole_case = query.cases[0] if query.cases else None
        chosen = [normalise_id(i) for i in query.items]
    else:
        chosen = selection.select_for(acting, "export", query, yes, Permission.EXPORT)  # checks the cases' membership
    with bars(json_):
        result = export_bundle(
            acting,
            chosen,
            out_path,
            purpose,
            case=whole_case,
            recipients=recipient or [],
            withhold=withhold,
            request=request,
            report=report,
        )
    if json_:
        print_json(result.to_json())
        return
    what = "encrypted bundle" if result.encrypted else "bundle"
    stamped = f", seal timestamped {result.seal_timestamp}" if result.seal_timestamp else ""
    out.print(
        f"Wrote {what} {result.bundle_id} to {result.path} "
        f"({len(result.items)} items, export event {result.export_seq}{stamped})"
    )


def verify_bundle(
    file: Annotated[Path, typer.Argument(help="Bundle file (.zip or age-encrypted).", readable=False)],
    identity: Annotated[Path | None, typer.Option(help="age identity file, for encrypted bundles.")] = None,
    against_checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--against-checkpoint", help="A checkpoint you obtained independently (repeatable)."),
    ] = None,
    tsa_ca: TsaCa = None,
    vkey: VkeyOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Verify a bundle completely, with no archive: bag, seal, signatures, authority, chain, proofs, timestamps.

    Exit 0 all checks passed (warnings are printed), 1 a check failed or the bundle file is not a whole, safe zip
    (truncated, damaged, hostile entries), 2 bad input (a missing file, a wrong identity, an unreadable key file).
    """
    from custody.bundle.check import check_bundle
    from custody.log.note import read_vkey_file

    against = [(str(p), read_note(p)) for p in against_checkpoint or []]
    pinned = read_vkey_file(vkey) if vkey is not None else None
    with bars(json_):
        report = check_bundle(file, identity, against, tsa_ca, pinned)
    render_report(report, json_)


def import_(
    file: Annotated[Path, typer.Argument(help="Bundle file (.zip or age-encrypted).", readable=False)],
    identity: Annotated[Path | None, typer.Option(help="age identity file, for encrypted bundles.")] = None,
    vkey: VkeyOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Verify a bundle, then take its items in with their original records, keys and events."""
    from custody.bundle.receive import import_bundle
    from custody.log.note import read_vkey_file

    pinned = read_vkey_file(vkey) if vkey is not None else None
    acting = STATE.acting()
    with bars(json_):
        result = import_bundle(acting, file, identity, pinned)
    if json_:
        print_json(result.to_json())
        return
    if result.already_imported:
        out.print(f"Bundle {result.bundle_id} was already imported (receipt event {result.receipt_seq}); nothing to do")
        return
    pairs = ", ".join(f"{theirs} -> {ours}" for theirs, ours in result.items.items())
    out.print(f"Imported bundle {result.bundle_id}: {pairs} (receipt event {result.receipt_seq})")


def export_request(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids to export.")] = None,
    case: Annotated[str | None, typer.Option(help="Every item of this case.")] = None,
    purpose: Annotated[str, typer.Option(help="Why the evidence would leave the archive (logged).")] = "",
    recipient: Annotated[
        list[str] | None, typer.Option("--recipient", help="age X25519 public key to encrypt to (repeatable).")
    ] = None,
    withhold: Annotated[str | None, typer.Option(help="Fields to leave out (see export --withhold).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Ask for an export under the two-person rule (export.approvals): a signed request others approve."""
    from custody.bundle.approvals import request_export

    event = request_export(
        STATE.acting(), items or [], purpose, case=case, recipients=recipient or [], withhold=withhold
    )
    if json_:
        print_json(event.to_json())
        return
    n = event.payload["approvals_required"]
    out.print(
        f"Export request {event.seq} logged ({len(event.payload['items'])} items, {n} approval(s) needed): "
        f"'custody approve {event.seq}' by others, then 'custody export --request {event.seq} --out FILE'"
    )


def approve(
    request: Annotated[int, typer.Argument(help="Event seq of the export request.")],
    refuse: Annotated[bool, typer.Option("--refuse", help="Refuse the request instead of approving it.")] = False,
    reason: Annotated[str, typer.Option(help="Why it is refused (required with --refuse).")] = "",
    json_: JsonOpt = False,
) -> None:
    """Approve (or refuse) another actor's export request; logged and carried in the bundle."""
    from custody.bundle.approvals import decide

    event = decide(STATE.acting(), request, not refuse, reason)
    done(event, json_, f"{'Refused' if refuse else 'Approved'} export request {request} (event {event.seq})")


def reveal(
    item: Annotated[str, typer.Argument(help="Item id, e.g. EV-000001.")],
    field: Annotated[str, typer.Option(help="Withheld field to disclose, e.g. source_path or collected_from.")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Reveal file to write (JSON).")] = None,
    purpose: Annotated[str, typer.Option(help="Why the value is disclosed (logged).")] = "",
    json_: JsonOpt = False,
) -> None:
    """Write the salted value of one withheld field, checkable against any bundle carrying the item; logged."""
    if out_path is None:
        raise InputError("reveal: --out FILE is required")
    from custody.query import normalise_id
    from custody.reveal import reveal_field

    item = normalise_id(item)
    result = reveal_field(STATE.acting(), item, field, out_path, purpose)
    if json_:
        print_json(result)
        return
    out.print(f"Wrote the disclosure of {item} {field} to {out_path}; check it with 'custody check-reveal BUNDLE FILE'")


def check_reveal(
    file: Annotated[
        Path, typer.Argument(help="Bundle file carrying the item (.zip or age-encrypted).", readable=False)
    ],
    reveal_file: Annotated[Path, typer.Argument(help="Reveal file from 'custody reveal'.", readable=False)],
    identity: Annotated[Path | None, typer.Option(help="age identity file, for encrypted bundles.")] = None,
    vkey: VkeyOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Verify the bundle, then check a revealed value against the digest the item's signed record commits to.

    Exit 0 the value is the one committed (printed), 1 it is not or the bundle fails, 2 bad input.
    """
    from custody.log.note import read_vkey_file
    from custody.reveal import check_reveal as check

    pinned = read_vkey_file(vkey) if vkey is not None else None
    report, value = check(file, reveal_file, identity, pinned)
    if value is not None and not json_:
        out.print(f"Revealed value: {value}")
    render_report(report, json_)


def register(app: typer.Typer) -> None:
    app.command("export-request")(export_request)
    app.command()(approve)
    app.command()(reveal)
    app.command("check-reveal")(check_reveal)
    app.command()(export)
    app.command("verify-bundle")(verify_bundle)
    app.command("import")(import_)
