"""The unlock agent: unlock, lock."""

from __future__ import annotations

from typing import Annotated

import typer

from .render import out
from .state import STATE


def unlock(
    for_: Annotated[str, typer.Option("--for", help="How long: 90s, 30m, 8h, 1d (default 30m).")] = "30m",
) -> None:
    """Keep your unlocked keys in a background agent so commands need no passphrase (like ssh-agent)."""
    from custody.agent import parse_duration
    from custody.unlock import unlock as start

    seconds = parse_duration(for_)
    acting = STATE.acting()
    path = start(acting, seconds)
    out.print(f"Unlocked {acting.name}'s keys for {for_} (agent socket {path}); 'custody lock' ends it")


def lock() -> None:
    """End your unlock agent: commands ask for the passphrase again."""
    from custody.agent import lock as stop

    archive = STATE.archive()
    name = STATE.actor_name()
    if stop(archive.config.root, name):
        out.print(f"Locked: {name}'s agent has ended")
    else:
        out.print(f"No agent was running for {name}")


def register(app: typer.Typer) -> None:
    app.command("unlock")(unlock)
    app.command("lock")(lock)
