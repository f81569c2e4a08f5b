"""The typer app: global options, the commands and the error boundary."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

import typer

from custody.errors import CustodyError

from . import (
    cmd_actor,
    cmd_agent,
    cmd_archive,
    cmd_bundle,
    cmd_config,
    cmd_find,
    cmd_items,
    cmd_log,
    cmd_report,
    cmd_scale,
)
from .render import error, warn
from .state import STATE

if TYPE_CHECKING:
    from typer._click.core import Command

app = typer.Typer(
    name="custody",
    help="Evidence chain-of-custody archive: signed, hashed, immutable ingest with a verifiable custody log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # `custody --install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
    add_completion=True,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("custody")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        print(f"custody {number}")
        raise typer.Exit(0)


@app.callback()
def _global(
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            envvar="CUSTODY_ARCHIVE",
            help="Archive folder (default: the current folder, if it holds custody.toml).",
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--as", envvar="CUSTODY_ACTOR", help="Act as this actor (default: the OS user)."),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print custody's version and exit."),
    ] = False,
) -> None:
    """Passphrases come from CUSTODY_PASSPHRASE or a prompt."""
    STATE.archive_path = archive
    STATE.actor = actor


cmd_archive.register(app)
cmd_actor.register(app)
cmd_agent.register(app)
cmd_items.register(app)
cmd_find.register(app)
cmd_log.register(app)
cmd_bundle.register(app)
cmd_config.register(app)
cmd_report.register(app)
cmd_scale.register(app)


@functools.cache
def click_command() -> Command:
    """The click command typer builds from ``app``: built once per process (the warm server builds it early)."""
    return typer.main.get_command(app)


_INTERRUPTED = "interrupted; nothing half-written was kept"
_CTRL_C = 130


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected errors become one line on stderr and an exit code."""
    STATE.reset()
    try:
        result = click_command().main(args=argv, prog_name="custody", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == _CTRL_C:
            # typer turns Ctrl-C into a silent exit 130 (no command of ours exits with it); the
            # user is owed the outcome.
            error(_INTERRUPTED)
    except CustodyError as exc:
        error(str(exc))
        code = exc.exit_code
    except typer.Exit as exc:
        code = int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error(_INTERRUPTED)
        code = _CTRL_C
    except typer.TyperException as exc:
        # Usage errors (unknown option, missing argument) show themselves the click way.
        exc.show()  # type: ignore[attr-defined]
        code = int(getattr(exc, "exit_code", 2))
    for notice in STATE.notices():
        warn(notice)
    return code
