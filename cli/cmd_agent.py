"""The unlock agent: unlock, lock."""

from __future__ import annotations

from typing import Annotated

import typer

from .render import out, warn
from .state import STATE


def unlock(
    for_: Annotated[str, typer.Option("--for", help="How long: 90s, 30m, 8h, 1d; at most 7 days.")] = "30m",
) -> None:
    """Keep your unlocked keys in a background agent so commands need no passphrase (like ssh-agent).

    The agent also keeps custody loaded in a command server, so everyday commands (show, list, log,
    annotate, status, get, export, verify...) start at once while it runs.
    """
    from custody.agent import parse_duration
    from custody.agent_paths import command_socket_path
    from custody.errors import KeyFileError
    from custody.unlock import unlock as start

    from . import server

    seconds = parse_duration(for_)
    acting = STATE.acting()
    path = start(acting, seconds)
    try:
        server.start(command_socket_path(acting.archive.config.root, acting.name), path, seconds)
    except KeyFileError as exc:
        warn(f"{exc}; commands will work, but each will load custody itself")
    out.print(f"Unlocked {acting.name}'s keys for {for_} (agent socket {path}); 'custody lock' ends it")


def lock() -> None:
    """End your unlock agent: commands ask for the passphrase again."""
    from custody.agent import lock as stop
    from custody.agent_paths import command_socket_path

    from . import server

    archive = STATE.archive()
    name = STATE.actor_name()
    server.stop(command_socket_path(archive.config.root, name))
    if stop(archive.config.root, name):
        out.print(f"Locked: {name}'s agent has ended")
    else:
        out.print(f"No agent was running for {name}")


def register(app: typer.Typer) -> None:
    app.command("unlock")(unlock)
    app.command("lock")(lock)
