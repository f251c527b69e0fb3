"""The DNS records a site needs in real DNS, as zone-file lines (what the lab resolver serves).

Printed by `voipctl dns SITE` for the operator's DNS: A/AAAA of every node at the address
clients reach, SIP SRV over the sip nodes (priority, weight), NAPTR (TLS preferred), XMPP SRV.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

from voipctl.plan.model import Plan


def _name(name: str) -> str:
    return name.rstrip(".") + "."


def zone_lines(plan: Plan, hosts: Sequence[tuple[str, Sequence[str]]], ttl: int = 300) -> list[str]:
    """`hosts`: (address, names) pairs, e.g. the lab resolver's host records (node and service names)."""
    out = [f"; DNS records of site {plan.site} ({plan.domain}), from voipctl's plan {plan.model_hash[:12]}"]
    for address, names in hosts:
        rtype = "AAAA" if ip_address(address).version == 6 else "A"
        out += [f"{_name(name)}\t{ttl}\tIN\t{rtype}\t{address}" for name in names]
    for n in plan.naptr:
        out.append(f'{_name(n.domain)}\t{ttl}\tIN\tNAPTR\t{n.order} {n.preference} "s" "{n.service}" "" '
                   f"{_name(n.replacement)}")
    for r in plan.srv:
        out.append(f"{_name(r.service)}\t{ttl}\tIN\tSRV\t{r.priority} {r.weight} {r.port} {_name(r.target)}")
    out += [f"; TURN URI for clients: {uri}" for uri in plan.turn_uris]
    return out
