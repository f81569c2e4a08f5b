"""The verify command: whole archive, named items, since a kept checkpoint, rolling fixity, one event's inclusion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from custody.errors import InputError

from .progress import bars
from .render import names_and_zone, out, warn
from .state import STATE
from .verdict import render_report

if TYPE_CHECKING:
    from custody.archive import Acting

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TsaCa = Annotated[
    Path | None,
    typer.Option("--tsa-ca", help="PEM root certificate of the time-stamp authority to check RFC 3161 tokens against."),
]


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
    if save_checkpoint is not None:
        from custody.kept_checkpoint import check_writable

        check_writable(save_checkpoint, STATE.archive().config)  # before the verification is run and logged
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
        # The log as it is verified: read after the run, it would count the run's own event and checkpoint.
        about = [] if json_ else _about_verification(acting, "the whole archive" if all_ else ", ".join(items or []))
        with bars(json_):
            report = verify_archive(acting, None if all_ else items, against, tsa_ca, early, rederive, verified)
    for line in about:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
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
    size = save_checkpoint(path, note_text, STATE.archive().config)
    if not json_:
        out.print(f"Kept the verified checkpoint of {size} events in {path} (next time: verify --since {path})")


def _about_verification(acting: Acting, scope: str) -> list[str]:
    """Which archive, which log (tree size and root), who verified and when: the lines said before the verdict."""
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
    return lines
