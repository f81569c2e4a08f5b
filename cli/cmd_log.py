"""Log commands: log, checkpoint, proof, timestamp (and verify, of cli.cmd_verify, registered here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.errors import InputError

from .cmd_verify import verify
from .render import names_and_zone, out, print_json, table
from .state import STATE

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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


def checkpoint(
    export: Annotated[Path | None, typer.Option("--export", help="Write the latest checkpoint note to FILE.")] = None,
    vkey: Annotated[bool, typer.Option("--vkey", help="Print the archive's C2SP verifier key.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Sign the current tree head (if needed) and print, export or describe checkpoints."""
    from custody.kept_checkpoint import save_checkpoint
    from custody.proofs import archive_vkey, checkpoint_json, latest_note, sign_checkpoint

    if vkey:
        typer.echo(archive_vkey(STATE.archive()))
        return
    if export is not None:
        # Written whole (temp file, then rename), with a one-line error naming the file when it cannot be.
        archive = STATE.archive()
        save_checkpoint(export, latest_note(archive), archive.config)
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
