"""Where the functional probes run from: the lab's client namespaces, a namespace named on the
command line, or this machine.

A vantage only says how to start a process there (`wrap`) and, when known, its
own address and the address servers should see it as (behind NAT: the NAT's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import UsageError
from voipctl.lab.state import running_lab
from voipctl.lab.topology import lab_topology
from voipctl.plan.model import Plan
from voipctl.proc import in_netns, run

LOCAL = "local"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SRC = re.compile(r"\bsrc\s+(\S+)")


@dataclass(frozen=True)
class Vantage:
    name: str
    netns: str | None = None
    address: str | None = None
    mapped: str | None = None
    neighbour: bool = False  # on the nodes' public segment, with routes to their private addresses

    def wrap(self, argv: list[str]) -> list[str]:
        """argv run inside this vantage's network namespace."""
        return in_netns(self.netns, argv)


def parse_vantage(text: str) -> Vantage:
    """`local`, `NETNS` or `NAME=NETNS` from the command line."""
    name, sep, netns = text.partition("=")
    if not sep:
        name, netns = text, text
    if not _NAME.match(name) or not _NAME.match(netns):
        raise UsageError(f"--vantage {text!r}: use local, NETNS or NAME=NETNS")
    if netns == LOCAL:
        return Vantage(name)
    if not Path(f"/run/netns/{netns}").exists():
        raise UsageError(f"--vantage {text}: there is no network namespace {netns}")
    return Vantage(name, netns)


def _lab_up(plan: Plan, root: Path | None) -> bool:
    return (running_lab(plan.site) if root is None else running_lab(plan.site, root)) is not None


def lab_node_netns(plan: Plan, root: Path | None = None) -> dict[str, str]:
    """node -> its namespace in the running lab (empty without a lab): where private sockets can be asked."""
    return {h.node: h.netns for h in lab_topology(plan).hosts} if _lab_up(plan, root) else {}


def lab_vantages(plan: Plan, root: Path | None = None) -> tuple[Vantage, ...] | None:
    """The running lab's two clients (public first, then the one behind NAT), or None if no lab is up.

    The public client is also a neighbour on the public segment (`lab up` routes the nodes' private
    addresses via their public ones there), so its control-socket probes cross the public interface.
    """
    if not _lab_up(plan, root):
        return None
    topo = lab_topology(plan)
    a = topo.addresses
    return (
        Vantage("public", topo.public_client_netns, a.public_client, a.public_client, neighbour=True),
        Vantage("nat", topo.nat_client_netns, a.nat_client, a.gateway_public),
    )


def lab_private_neighbour(plan: Plan, root: Path | None = None) -> Vantage | None:
    """A host on the lab's private segment that is no node (the resolver's namespace): in the default
    management network, never a SIP node. None without a lab."""
    if not _lab_up(plan, root):
        return None
    topo = lab_topology(plan)
    return Vantage("private", topo.resolver_netns, topo.addresses.resolver_private)


def route_src_argv(vantage: Vantage, destination: str) -> list[str]:
    return vantage.wrap(["ip", "route", "get", destination])


def parse_route_src(output: str) -> str | None:
    """The `src` of `ip route get` output: the address this vantage sends from."""
    found = _SRC.search(output)
    return found.group(1) if found else None


def source_address(vantage: Vantage, destination: str) -> str | None:
    """This vantage's own address towards `destination` (known for lab clients, else asked of the kernel)."""
    if vantage.address is not None:
        return vantage.address
    res = run(route_src_argv(vantage, destination), timeout=10)
    return parse_route_src(res.stdout) if res.ok else None
