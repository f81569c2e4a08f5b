"""Actor commands: add, list, export-public."""

from __future__ import annotations

from typing import Annotated

import typer

from .render import out, print_json, short, table
from .state import STATE, ask_new_passphrase

actor_app = typer.Typer(help="Manage the people who act on the archive.", no_args_is_help=True)


@actor_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="New actor's name.")],
    role: Annotated[str, typer.Option(help="admin | archivist | analyst | reviewer")],
) -> None:
    """Register an actor with a new Ed25519 key pair (admins only)."""
    from custody.actors import add_actor

    info = add_actor(STATE.acting(), name, role, ask_new_passphrase)
    out.print(f"Added {info.name} ({info.role}), key id {info.key_id}")


@actor_app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List registered actors."""
    from custody.actors import list_actors

    actors = list_actors(STATE.archive())
    if json_:
        print_json([a.to_json() for a in actors])
        return
    table(
        "Actors",
        ["name", "role", "key id", "registered at event"],
        [[a.name, a.role, short(a.key_id), a.registered_seq] for a in actors],
    )


@actor_app.command("export-public")
def export_public(name: Annotated[str, typer.Argument(help="Actor name.")]) -> None:
    """Print an actor's public key (PEM)."""
    from custody.actors import public_key_of

    typer.echo(public_key_of(STATE.archive(), name), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(actor_app, name="actor")
