"""The bed's namespaces and links: pure step lists, then run, then removed in full."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from voipctl.lab.topology import LabAddresses, lab_addresses
from voipctl.netns import NETNS_ETC, NO_RESOLVER
from voipctl.plan.model import Plan
from voipctl.proc import in_netns, must, run
from voipctl.proc.daemon import kill_netns

NAT_TABLE = "vb_nat"
ROLES = ("sw", "srv", "gw", "nat", "pub")


@dataclass(frozen=True)
class BedNames:
    """Namespace names of one bed: vb-<pid>-<role>."""

    tag: str

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(self.ns(r) for r in ROLES)


@dataclass(frozen=True)
class Step:
    argv: list[str]
    stdin: str | None = None


def new_names(prefix: str = "vb") -> BedNames:
    return BedNames(f"{prefix}-{os.getpid()}")


def nat_ruleset(client_net: str) -> str:
    """Masquerade the client net out of the gateway, rewriting ports too (a hostile NAT)."""
    return "\n".join([
        f"table ip {NAT_TABLE} {{",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    ip saddr {client_net} oifname "eth0" masquerade fully-random',
        "  }",
        "}",
        "",
    ])


def _veth(ns_a: str, if_a: str, ns_b: str, if_b: str) -> list[Step]:
    return [
        Step(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b]),
        Step(["ip", "-n", ns_a, "link", "set", if_a, "up"]),
        Step(["ip", "-n", ns_b, "link", "set", if_b, "up"]),
    ]


def _addr(ns: str, cidr: str, dev: str) -> Step:
    return Step(["ip", "-n", ns, "addr", "add", cidr, "dev", dev])


def server_addresses(plan: Plan) -> tuple[list[str], list[str]]:
    """(public, private) addresses of every node, all carried by the one server namespace."""
    public = [n.public for n in plan.nodes if n.public is not None]
    private = [n.private for n in plan.nodes]
    return list(dict.fromkeys(public)), list(dict.fromkeys(private))


def bed_steps(names: BedNames, plan: Plan, a: LabAddresses) -> list[Step]:
    """Every command building the bed, in order (the switch namespace holds the bridge)."""
    sw, srv, gw, nat, pub = (names.ns(r) for r in ROLES)
    steps = [Step(["ip", "netns", "add", ns]) for ns in names.all]
    steps += [Step(["ip", "-n", ns, "link", "set", "lo", "up"]) for ns in names.all]
    steps += [Step(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"]),
              Step(["ip", "-n", sw, "link", "set", "br0", "up"])]
    for port, ns in (("p-srv", srv), ("p-gw", gw), ("p-pub", pub)):
        steps += _veth(sw, port, ns, "eth0")
        steps.append(Step(["ip", "-n", sw, "link", "set", port, "master", "br0"]))
    public, private = server_addresses(plan)
    steps += [_addr(srv, a.cidr(addr), "eth0") for addr in public]
    steps += [_addr(srv, f"{addr}/32", "lo") for addr in private]
    steps += [_addr(gw, a.cidr(a.gateway_public), "eth0"), _addr(pub, a.cidr(a.public_client), "eth0")]
    steps += _veth(gw, "eth1", nat, "eth0")
    steps += [
        _addr(gw, a.cidr(a.gateway_inner), "eth1"),
        _addr(nat, a.cidr(a.nat_client), "eth0"),
        Step(["ip", "-n", nat, "route", "add", "default", "via", a.gateway_inner]),
        Step(in_netns(gw, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])),
        Step(in_netns(gw, ["nft", "-f", "-"]), stdin=nat_ruleset(a.client_net)),
    ]
    return steps


def bring_up(names: BedNames, plan: Plan) -> LabAddresses:
    addresses = lab_addresses(plan)
    for ns in names.all:
        etc = NETNS_ETC / ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(NO_RESOLVER)
    for step in bed_steps(names, plan, addresses):
        must(step.argv, stdin=step.stdin, timeout=30)
    return addresses


def tear_down(names: BedNames) -> None:
    """Kill whatever still runs in the bed's namespaces, delete them (links go with them)."""
    for ns in names.all:
        kill_netns(ns)
    for ns in names.all:
        if Path(f"/run/netns/{ns}").exists():
            run(["ip", "netns", "delete", ns], timeout=30)
        shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
