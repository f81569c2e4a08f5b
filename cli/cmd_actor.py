"""Actor commands: add, list, export-public, revoke, rotate, role, passphrase."""

from __future__ import annotations

from typing import Annotated

import typer

from .render import out, print_json, short, table
from .state import STATE, ask_new_passphrase, ask_old_passphrase, ask_passphrase, path_arg

actor_app = typer.Typer(help="Manage the people who act on the archive.", no_args_is_help=True)


@actor_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="New actor's name.")],
    role: Annotated[str, typer.Option(help="admin | archivist | analyst | reviewer")],
    display_name: Annotated[str, typer.Option("--display-name", help="Full name, spaces allowed (logged).")] = "",
    affiliation: Annotated[str, typer.Option(help="Organisation or unit (logged).")] = "",
) -> None:
    """Register an actor with a new Ed25519 key pair (admins only)."""
    from custody.actors import add_actor

    info = add_actor(STATE.acting(), name, role, ask_new_passphrase, display_name, affiliation)
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
        ["name", "display name", "affiliation", "role", "status", "key id", "registered at event"],
        [[a.name, a.display_name, a.affiliation, a.role, a.status, short(a.key_id), a.registered_seq] for a in actors],
    )


@actor_app.command("export-public")
def export_public(name: Annotated[str, typer.Argument(help="Actor name.")]) -> None:
    """Print an actor's public key (PEM)."""
    from custody.actors import public_key_of

    typer.echo(public_key_of(STATE.archive(), name), nl=False)


@actor_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Actor whose key is revoked.")],
    reason: Annotated[str, typer.Option(help="Why (logged), e.g. 'left the organisation', 'laptop stolen'.")],
    compromised_since: Annotated[
        str | None,
        typer.Option(
            "--compromised-since",
            help="Event number or ISO-8601 UTC time from which the key may have been in other hands.",
        ),
    ] = None,
) -> None:
    """Revoke an actor's key (admins only): it signs nothing valid after this event."""
    from custody.actors import revoke_actor

    seq = revoke_actor(STATE.acting(), name, reason, compromised_since)
    out.print(f"Revoked {name} at event {seq}")


@actor_app.command("rotate")
def rotate(name: Annotated[str, typer.Argument(help="Actor who gets a new key.")]) -> None:
    """Give an actor a new key pair (admins only); the old key may sign nothing after this event.

    The current key endorses the rotation when its passphrase is given (CUSTODY_OLD_PASSPHRASE or the prompt).
    """
    from custody.actors import rotate_actor

    info = rotate_actor(STATE.acting(), name, ask_new_passphrase, ask_old_passphrase)
    out.print(f"Rotated {info.name}'s key; new key id {info.key_id}")


@actor_app.command("role")
def role(
    name: Annotated[str, typer.Argument(help="Actor name.")],
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help="admin | archivist | analyst | reviewer")],
) -> None:
    """Change an actor's role from the next event on (admins only)."""
    from custody.actors import change_role

    info = change_role(STATE.acting(), name, new_role)
    out.print(f"{info.name} now has role {info.role}")


@actor_app.command("passphrase")
def passphrase(name: Annotated[str, typer.Argument(help="Actor whose key files are re-encrypted.")]) -> None:
    """Re-encrypt an actor's key files on this machine under a new passphrase (not logged)."""
    from custody.actors import change_passphrase

    change_passphrase(STATE.archive(), name, ask_passphrase, ask_new_passphrase)
    out.print(f"Re-encrypted {name}'s keys")


@actor_app.command("backup")
def backup(
    name: Annotated[str, typer.Argument(help="Actor whose key files are backed up.")],
    recipient: Annotated[list[str], typer.Option(help="Recovery holder's age public key (age1...); repeatable.")],
    out_file: Annotated[str, typer.Option("--out", help="Backup file to write (never overwritten).")],
) -> None:
    """Write an actor's key files, age-encrypted, for an offline recovery holder (not logged)."""
    from custody.backup import backup as write

    key_id = write(STATE.archive(), name, recipient, path_arg(out_file))
    out.print(f"Backed up {name}'s key {short(key_id)} to {out_file}; keep it offline")


@actor_app.command("restore")
def restore(
    backup_file: Annotated[str, typer.Argument(metavar="FILE", help="A file written by 'actor backup'.")],
    identity: Annotated[str, typer.Option(help="The recovery holder's age identity file.")],
) -> None:
    """Put back an actor's key files from a backup (the actor's passphrase still opens them)."""
    from custody.backup import restore as read

    restored = read(STATE.archive(), path_arg(backup_file), path_arg(identity))
    out.print(f"Restored {restored.actor}'s key {short(restored.key_id)}: {', '.join(map(str, restored.files))}")


def register(app: typer.Typer) -> None:
    app.add_typer(actor_app, name="actor")
