"""The CLI's lazy command map names every command of every cmd_* module, and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click

import voipctl.cli
from voipctl.cli import COMMANDS


def test_command_map_matches_what_the_modules_register() -> None:
    found: dict[str, str] = {}
    for mod in pkgutil.iter_modules(voipctl.cli.__path__):
        if mod.name.startswith("cmd_"):
            group = click.Group()
            importlib.import_module(f"voipctl.cli.{mod.name}").register(group)
            found |= dict.fromkeys(group.commands, mod.name)
    assert found == COMMANDS


def test_render_does_not_import_verify_or_the_audit() -> None:
    code = ("import sys\nimport click\nfrom voipctl.cli import cli\ncli.get_command(click.Context(cli), 'render')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('voipctl.verify', 'voipctl.audit', 'pytest'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "voipctl", "--help"], capture_output=True, text=True,
                               check=True).stdout
    assert all(name in help_text for name in COMMANDS)
