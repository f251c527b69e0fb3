"""`lab up|down|status`: real hosts for a site on this machine (systemd-nspawn)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from voipctl import pipeline
from voipctl.cli import err_console, out_console
from voipctl.cli.options import SITE_ARG
from voipctl.errors import ToolError, UsageError
from voipctl.lab import lifecycle

_SITE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@click.group()
def lab() -> None:
    """Bring up, inspect and remove the on-machine lab (one nspawn host per node; needs root)."""


@lab.command()
@SITE_ARG
@click.option("--cold", is_flag=True, help="Boot an image without the VoIP packages, so deploy installs them.")
def up(site: Path, cold: bool) -> None:
    """Start the lab of SITE: hosts, bridges, resolver, apt proxy, NAT gateway, clients."""
    _, plan = pipeline.load_and_plan(site)
    result = lifecycle.up(plan, cold)
    if result.already_up:
        out_console.print(f"lab {plan.site} is already up ({result.image} image); nothing to do", markup=False)
        return
    topo = result.topology
    for node, system in result.systems.items():
        host = topo.host(node)
        out_console.print(f"  {node:12} {host.private:15} {host.public or '-':15} {system}", markup=False)
        if system != "running":
            err_console.print(f"note: {node} is {system}: `voipctl lab status {site}` names the failed units",
                              markup=False)
    timings = ", ".join(f"{k} {v}s" for k, v in result.timings.items())
    a = topo.addresses
    out_console.print(
        f"lab {plan.site} up ({result.image} image{', built' if result.image_built else ''}): {timings}\n"
        f"  inventory:   {result.paths.inventory}\n"
        f"  ssh:         ssh -i {result.paths.ssh_key} root@ADDRESS\n"
        f"  resolver:    {', '.join(a.resolvers)}   apt proxy: {a.apt_proxy_url}\n"
        f"  clients:     ip netns exec {topo.public_client_netns} ... ({a.public_client}),"
        f" ip netns exec {topo.nat_client_netns} ... ({a.nat_client} behind NAT {a.gateway_public})",
        markup=False,
    )


@lab.command()
@click.argument("site")
def down(site: str) -> None:
    """Remove everything the lab of SITE created (SITE: the site file, or the site's name)."""
    name = _site_name(site)
    if lifecycle.down(name):
        out_console.print(f"lab {name} removed", markup=False)
    else:
        out_console.print(f"lab {name} is not up; nothing to do", markup=False)


@lab.command()
@SITE_ARG
def status(site: Path) -> None:
    """Show the lab's hosts and whether they answer (SSH, systemd state); exit 1 if not all do."""
    _, plan = pipeline.load_and_plan(site)
    result = lifecycle.status(plan)
    if result is None:
        raise UsageError(f"lab {plan.site} is not up")
    bad = [name for name, ok in result.services.items() if not ok]
    out_console.print(f"lab {result.site}: {result.status}", markup=False)
    for name, ok in result.services.items():
        out_console.print(f"  {name:14} {'running' if ok else 'STOPPED'}", markup=False)
    for h in result.hosts:
        failed = f" (failed: {', '.join(h.failed_units)})" if h.failed_units else ""
        state = "running" if h.running else "STOPPED"
        ssh = "ssh ok" if h.ssh else "NO SSH"
        out_console.print(f"  {h.node:14} {h.address:15} {state:8} {ssh:7} {h.system}{failed}", markup=False)
        if not (h.running and h.ssh and h.system in ("running", "degraded")):
            bad.append(h.node)
    if bad or result.status != "up":
        raise ToolError(f"lab {result.site} is not healthy: {', '.join(bad) or result.status}")


def _site_name(site: str) -> str:
    """A site file's site name, or SITE itself when it names a site (so `down` works without the file)."""
    path = Path(site)
    if path.is_file():
        loaded, _ = pipeline.load_and_plan(path)
        return loaded.name
    if _SITE_NAME.match(site):
        return site
    raise UsageError(f"{site} is neither a site file nor a site name")


def register(group: click.Group) -> None:
    group.add_command(lab)
