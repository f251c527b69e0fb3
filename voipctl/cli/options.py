"""Arguments and options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path

import click

SITE_ARG = click.argument("site", type=click.Path(path_type=Path, dir_okay=True))
PKI_OPT = click.option(
    "--pki-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("pki"), show_default=True,
    help="PKI root; material of site S lives in DIR/S (keep it private, never commit it).",
)
