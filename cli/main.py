"""Entry point of the ``custody`` command.

A command first tries the fast path (``cli.forward``): when the user's unlock agent runs a warm command
server for this archive and actor, the command runs there, already imported. Otherwise the typer app
(``cli.app``) runs it in this process. Nothing heavy is imported before that choice.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process; expected errors become one line on stderr and an exit code."""
    from .app import main as run_in_process

    return run_in_process(argv)


def run() -> None:
    """Console-script entry point."""
    from .forward import forward

    code = forward(sys.argv[1:])
    if code is None:
        code = main()
        # Spare the exit a collection over every object the command made: the process ends anyway.
        import gc

        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
