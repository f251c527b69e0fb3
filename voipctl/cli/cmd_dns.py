"""`dns`: the records to publish in the site's real DNS (SRV/NAPTR over the sip nodes, A/AAAA)."""

from __future__ import annotations

from pathlib import Path

import click

from voipctl import pipeline
from voipctl.cli.options import SITE_ARG
from voipctl.lab.resolver import dns_records
from voipctl.plan.zone import zone_lines


@click.command()
@SITE_ARG
@click.option("--ttl", type=click.IntRange(min=30, max=86400), default=300, show_default=True)
def dns(site: Path, ttl: int) -> None:
    """Print SITE's DNS records in zone-file syntax (the lab resolver serves the same)."""
    _, plan = pipeline.load_and_plan(site)
    hosts = [(h.address, h.names) for h in dns_records(plan).hosts]
    for line in zone_lines(plan, hosts, ttl):
        click.echo(line)  # tabs kept as they are (zone-file syntax), unlike the rich console


def register(group: click.Group) -> None:
    group.add_command(dns, name="dns")
