"""The CLI: the only place that prints or exits.

Each `cmd_*.py` module in this package defines `register(group)`; commands
raise `VoipctlError` subclasses and `main` turns them into messages and exit codes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click
from rich.console import Console

from voipctl import __version__
from voipctl.errors import VoipctlError

# Logs and CI are no terminal: give tables room instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
out_console = Console(highlight=False, soft_wrap=True, width=_WIDTH)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voipctl")
def cli() -> None:
    """Render, deploy and verify a WebRTC-to-SIP platform from one site file."""


def _register_commands() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{mod.name}").register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, map VoipctlError to its exit code."""
    try:
        cli.main(args=argv, prog_name="voipctl", standalone_mode=False)
    except VoipctlError as exc:
        for line in exc.lines():
            err_console.print(line, markup=False)
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted", markup=False)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def run() -> None:
    sys.exit(main())
