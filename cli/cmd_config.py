"""Settings commands: config show, config set, config unset."""

from __future__ import annotations

from typing import Annotated

import typer

from custody.config import SETTINGS

from .render import out, print_json, table
from .state import STATE

config_app = typer.Typer(
    name="config",
    help="Show or change archive settings (time-stamp authority, organisation, time zone); changes are logged.",
    no_args_is_help=True,
)

_KEYS_HELP = "; ".join(f"{k}: {v}" for k, v in SETTINGS.items())


@config_app.command("show")
def show(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the settings 'config set' manages."""
    from custody.configure import show_settings

    data = show_settings(STATE.archive())
    if json_:
        print_json(data)
        return
    table("Settings", ["setting", "value", "meaning"], [[k, v, SETTINGS[k]] for k, v in data.items()])


@config_app.command("set", help=f"Set one setting (admins only; logged). Settings: {_KEYS_HELP}.")
def set_(
    key: Annotated[str, typer.Argument(help="Setting name, e.g. tsa.url.")],
    value: Annotated[str, typer.Argument(help="New value (for tsa.ca: a PEM file).")],
) -> None:
    from custody.configure import set_setting

    data = set_setting(STATE.acting(), key, value)
    out.print(f"{key} = {data[key]}")


@config_app.command("unset")
def unset(key: Annotated[str, typer.Argument(help="Setting name; unsetting tsa.url removes the TSA.")]) -> None:
    """Remove one setting (admins only; logged)."""
    from custody.configure import set_setting

    set_setting(STATE.acting(), key, None)
    out.print(f"{key} removed")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app)
