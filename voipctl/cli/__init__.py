"""The CLI: the only place that prints or exits.

Each `cmd_*.py` module in this package defines `register(group)`; commands
raise `VoipctlError` subclasses and `main` turns them into messages and exit codes.
A command's module is imported only when that command runs (or help lists them all):
`render` need not load verify, pytest and the audit (a third of its start-up time).
"""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console

from voipctl import __version__
from voipctl.errors import VoipctlError

# Logs and CI are no terminal: give tables room instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
out_console = Console(highlight=False, soft_wrap=True, width=_WIDTH)


# command name -> the cmd_* module that registers it (tests/unit/test_cli_lazy.py checks the map)
COMMANDS = {
    "audit": "cmd_audit", "explain": "cmd_audit", "check": "cmd_check", "deploy": "cmd_deploy",
    "dns": "cmd_dns", "lab": "cmd_lab", "pki": "cmd_pki", "render": "cmd_site", "schema": "cmd_site",
    "validate": "cmd_site", "verify": "cmd_verify",
}


class _LazyGroup(click.Group):
    """A group that imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}").register(self)
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voipctl")
def cli() -> None:
    """Render, deploy and verify a WebRTC-to-SIP platform from one site file."""


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
