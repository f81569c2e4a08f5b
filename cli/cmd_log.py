"""Log commands: log, verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from custody.errors import InputError

from .progress import bars
from .render import names_and_zone, out, print_json, styled, table, warn
from .state import STATE

if TYPE_CHECKING:
    from custody.archive import Acting
    from custody.checks import Report

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TsaCa = Annotated[
    Path | None,
    typer.Option("--tsa-ca", help="PEM root certificate of the time-stamp authority to check RFC 3161 tokens against."),
]


def log(
    item: Annotated[str | None, typer.Argument(help="Only this item's events.")] = None,
    key_ids: Annotated[bool, typer.Option("--key-ids", help="Show each actor's key id beside the name.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Print the custody log (every event, or one item's)."""
    from custody.items import history
    from custody.query import normalise_id

    events = history(STATE.acting(), None if item is None else normalise_id(item))
    if json_:
        print_json([e.to_json() for e in events])
        return
    from custody import humanize as h

    names, tz = names_and_zone(STATE.archive(), key_ids)
    table(
        "Custody log",
        ["seq", "time", "actor", "action", "item", "what happened"],
        [
            [
                e.seq,
                h.utc(e.time) + (f"\n{h.local(e.time, tz)}" if tz else ""),
                h.actor(e.actor, names),
                h.action(e.action),
                e.item,
                _brief(h.describe_event(e.to_json(), names)),
            ]
            for e in events
        ],
    )


def _brief(text: str) -> str:
    return text if len(text) < 160 else text[:157] + "…"


def _verdict(ok: bool, warning: bool) -> Any:
    if not ok:
        return styled("[red]FAIL[/]")
    return styled("[yellow]WARN[/]") if warning else styled("[green]PASS[/]")


def render_report(report: Report, json_: bool, names: dict[str, str] | None = None) -> None:
    """Failures and warnings one per line, passes summarised per check; exit 1 on any failure.

    ``names`` (key id -> actor name) lets the text name the people behind key ids.
    """
    from custody.humanize import readable

    if json_:
        print_json(report.to_json())
    else:
        if report.summary:
            from custody.bundle.summary import describe

            for line in describe(report.summary):
                out.print(line, markup=False, highlight=False, soft_wrap=True)  # key ids and paths stay whole
        summary: dict[str, list[int]] = {}
        passed_detail: dict[str, list[str]] = {}
        for c in report.checks:
            counts = summary.setdefault(c.check, [0, 0, 0])
            counts[2 if not c.ok else 1 if c.warning else 0] += 1
            if c.ok and not c.warning:
                passed_detail.setdefault(c.check, []).append(c.detail)
        rows = [
            [
                name,
                f"{ok} passed" if ok else "",
                styled(f"[yellow]{warned} warning(s)[/]") if warned else "",
                styled(f"[red]{bad} failed[/]") if bad else "",
                # One pass may stand for many (e.g. "44 event signatures verify"): say what it covered.
                readable(passed_detail[name][0], names or {}) if ok == 1 else f"{ok} subjects",
            ]
            for name, (ok, warned, bad) in summary.items()
        ]
        table("Verification", ["check", "passed", "warnings", "failed", "what was checked"], rows)
        notable = [c for c in report.checks if not c.ok or c.warning]
        if notable:
            table(
                "Failures and warnings",
                ["check", "subject", "result", "detail"],
                [
                    [
                        c.check,
                        readable(c.subject, names or {}),
                        _verdict(c.ok, c.warning),
                        readable(c.detail, names or {}),
                    ]
                    for c in notable
                ],
            )
        from custody.log.authority import IDENTITY_CHECK

        unidentified = [c for c in report.checks if c.check == IDENTITY_CHECK and c.warning]
        verdict = "[green]ALL CHECKS PASSED[/]" if report.ok else f"[red]{len(report.failures)} CHECK(S) FAILED[/]"
        if unidentified:
            verdict += " [yellow](the archive's identity was NOT checked)[/]"
        out.print(verdict)
        for c in unidentified:
            # Said in plain words, outside the table: a pass here does not say whose bundle this is.
            warn(c.detail)
    raise typer.Exit(0 if report.ok else 1)


def read_note(path: Path) -> str:
    """A checkpoint note file's text (a one-line error if unreadable)."""
    from custody.log.note import read_note_file

    return read_note_file(path)


def verify(
    items: Annotated[list[str] | None, typer.Argument(help="Item ids to verify.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Verify every item, the log, tree and checkpoints.")] = False,
    rederive: Annotated[
        bool, typer.Option("--rederive", help="Re-make reproducible working copies (ffmpeg) and compare the bytes.")
    ] = False,
    against_checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--against-checkpoint", help="A published checkpoint note the log must extend (repeatable)."),
    ] = None,
    event: Annotated[
        int | None, typer.Option("--event", help="Verify this event's inclusion (with --checkpoint).")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="Checkpoint note file for --event.")] = None,
    tsa_ca: TsaCa = None,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="A checkpoint note kept from an earlier verification (or received as a witness): prove the log "
            "extends it, then check only the events, records and blobs added since.",
        ),
    ] = None,
    save_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--save-checkpoint",
            help="With --all or --since: when every check passes, write the checkpoint just verified to FILE, "
            "for the next 'verify --since FILE'.",
        ),
    ] = None,
    fixity_budget: Annotated[
        str | None,
        typer.Option(
            "--fixity-budget",
            help="Rolling fixity: re-hash the blobs whose last check is oldest for this long (30m, 2h) or this much "
            "(500G, 1TiB), record each check in the log and report coverage. Alone or with --since.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Re-hash stored bytes and check every signature, the whole log and its timestamps; exit 1 on any failure.

    With --all, each checkpoint's RFC 3161 token is checked against --tsa-ca (default: the configured TSA root)
    and the attested time is reported. With --since FILE only what was added after that checkpoint is checked.
    """
    if event is not None:
        from custody.checks import Report
        from custody.proofs import verify_event_inclusion

        if checkpoint is None:
            raise InputError(
                "verify --event needs --checkpoint FILE (a checkpoint note, e.g. from 'custody checkpoint --export')"
            )
        report = Report([verify_event_inclusion(STATE.acting(), event, read_note(checkpoint))])
        render_report(report, json_)
    if fixity_budget is not None or since is not None:
        if bool(items) or all_ or rederive or bool(against_checkpoint):
            raise InputError(
                "verify --since and --fixity-budget check what is new or least recently checked; drop item ids, "
                "--all, --rederive and --against-checkpoint (run them separately)"
            )
        _verify_rolling(since, save_checkpoint, fixity_budget, json_)
        return
    if not items and not all_:
        raise InputError("verify: name item ids or pass --all")
    if save_checkpoint is not None and not all_:
        raise InputError("verify --save-checkpoint needs --all or --since: only a whole log's checkpoint is kept")
    against = [(str(p), read_note(p)) for p in against_checkpoint or []]
    from custody.rehash import early_rehash

    verified: list[str] = []
    # Stored bytes start re-hashing on the other cores before the database layer is even imported.
    with early_rehash(STATE.archive_path, enabled=all_) as early:
        from custody.verify import verify_archive

        acting = STATE.acting()
        with bars(json_):
            report = verify_archive(acting, None if all_ else items, against, tsa_ca, early, rederive, verified)
    if not json_:
        _about_verification(acting, "the whole archive" if all_ else ", ".join(items or []))
    if save_checkpoint is not None:
        _keep(report.ok, verified[0] if verified else None, save_checkpoint, json_)
    render_report(report, json_, None if json_ else names_and_zone(STATE.archive())[0])


def _verify_rolling(since: Path | None, save: Path | None, budget_text: str | None, json_: bool) -> None:
    from custody.checks import Report

    budget = None
    if budget_text is not None:
        from custody.fixity import parse_budget

        budget = parse_budget(budget_text)
    if save is not None and since is None:
        raise InputError("verify --save-checkpoint needs --all or --since: only a whole log's checkpoint is kept")
    report = Report()
    if since is not None:
        from custody.incremental import verify_since

        result = verify_since(STATE.acting(), read_note(since), str(since))
        report = result.report
        if save is not None:
            _keep(report.ok, result.verified_note, save, json_)
    if budget is not None:
        from custody.fixity import run_fixity

        run_fixity(STATE.acting(), budget, report)
    render_report(report, json_, None if json_ else names_and_zone(STATE.archive())[0])


def _keep(ok: bool, note_text: str | None, path: Path, json_: bool) -> None:
    from custody.incremental import save_checkpoint

    if not ok or note_text is None:
        warn(f"{path} not written: only a checkpoint whose verification passed is kept")
        return
    size = save_checkpoint(path, note_text)
    if not json_:
        out.print(f"Kept the verified checkpoint of {size} events in {path} (next time: verify --since {path})")


def _about_verification(acting: Acting, scope: str) -> None:
    """Which archive, which log (tree size and root), who verified and when: said before the verdict."""
    from custody import humanize as h
    from custody.status import log_head
    from custody.timeutil import iso, utc_now

    data = log_head(acting)
    names, tz = names_and_zone(acting.archive)
    cp = data["latest_checkpoint"]
    lines = [
        f"Archive {data['archive']['origin']} (id {data['archive']['id']}); scope: {scope}",
        f"Log: {data['events']} events; "
        + ("no checkpoint yet" if cp is None else f"latest checkpoint #{cp['number']}: tree size {cp['size']}, "
           f"root {cp['root']}"),
        f"Verified by {h.actor_with_key(acting.key_id, names)} at {h.utc_and_local(iso(utc_now()), tz)}",
    ]  # fmt: skip
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def checkpoint(
    export: Annotated[Path | None, typer.Option("--export", help="Write the latest checkpoint note to FILE.")] = None,
    vkey: Annotated[bool, typer.Option("--vkey", help="Print the archive's C2SP verifier key.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Sign the current tree head (if needed) and print, export or describe checkpoints."""
    from custody.proofs import archive_vkey, checkpoint_json, latest_note, sign_checkpoint

    if vkey:
        typer.echo(archive_vkey(STATE.archive()))
        return
    if export is not None:
        note_text = latest_note(STATE.archive())
        export.write_text(note_text, encoding="utf-8")
        out.print(f"Wrote the latest checkpoint to {export}")
        return
    acting = STATE.acting()
    row = sign_checkpoint(acting)
    if json_:
        print_json(checkpoint_json(acting.archive, row))
        return
    typer.echo(row.note, nl=False)


def timestamp(
    pending: Annotated[
        bool, typer.Option("--pending", help="Fetch tokens for every checkpoint that has none yet.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Fetch RFC 3161 tokens from the configured TSA for untimestamped checkpoints."""
    if not pending:
        raise InputError("timestamp: pass --pending to fetch tokens for untimestamped checkpoints")
    from custody.timestamp.stamps import stamp_pending

    result = stamp_pending(STATE.acting())
    if json_:
        print_json(result.to_json())
        return
    if not result.stamped:
        out.print("Every checkpoint already has a timestamp")
        return
    for num, size, when in result.stamped:
        out.print(f"checkpoint #{num} (tree size {size}): attested {when}")


def proof(
    event: Annotated[int | None, typer.Option("--event", help="Inclusion proof of this event's seq.")] = None,
    consistency_from: Annotated[
        int | None, typer.Option("--consistency", help="Consistency proof from this old tree size.")
    ] = None,
    to: Annotated[int | None, typer.Option("--to", help="New tree size (default: latest checkpoint).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Print an inclusion proof (--event) or a consistency proof (--consistency)."""
    if (event is None) == (consistency_from is None):
        raise InputError("proof: give exactly one of --event SEQ or --consistency OLD_SIZE")
    from custody.proofs import consistency, inclusion

    acting = STATE.acting()
    data = (
        inclusion(acting, event).to_json()
        if event is not None
        else consistency(acting, consistency_from or 0, to).to_json()
    )
    if json_:
        print_json(data)
        return
    table(
        "Proof",
        ["field", "value"],
        [[k, "\n".join(v) if isinstance(v, list) else v] for k, v in data.items() if k != "event"],
    )


def register(app: typer.Typer) -> None:
    app.command()(log)
    app.command()(verify)
    app.command()(checkpoint)
    app.command()(proof)
    app.command()(timestamp)
