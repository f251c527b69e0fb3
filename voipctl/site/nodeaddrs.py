"""Rules on the nodes' addresses: what clients can reach, and which families the daemons can use together.

One address per role means one address family per path. Refused are exactly the
mixes that break a path:
- backend: kamailio sends ng commands to rtpengine on the media node's private
  address from its own private network, so both private addresses share a family
  (unless ng is on loopback, i.e. kamailio runs on the media node);
- clients: a client that reaches kamailio over one family gets SDP with
  rtpengine's address and relays from coturn; rtpengine's SDP address and
  coturn's client address must be of that family (coturn relays within a family
  and answers 443 to a peer of the other one);
- 1:1 NAT keeps the family: coturn's external-ip, rtpengine's advertised address
  and kamailio's advertise would otherwise name a family the socket lacks.
A node's private and public address may differ in family (a dual-stack host).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from voipctl.errors import Problem
from voipctl.site.spec import NodeSpec, SiteSpec
from voipctl.site.yamlsource import SourceMap

_KEYS = ("private", "public", "nat")


def _unreachable(addr: IPv4Address | IPv6Address) -> str | None:
    """Why clients could never reach `addr`, if so."""
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return f"IPv4-mapped (write {addr.ipv4_mapped})"
    return None


def _advertised_key(node: NodeSpec) -> str:
    """The key holding what clients are told: nat, else public, else private."""
    return "nat" if node.nat is not None else "public" if node.public is not None else "private"


def _family(addr: IPv4Address | IPv6Address) -> str:
    return f"IPv{addr.version}"


def host_problems(spec: SiteSpec, source: SourceMap) -> list[Problem]:
    """Per node: every address a host address, public/nat reachable by clients, NAT within one family."""
    out: list[Problem] = []
    for i, node in enumerate(spec.nodes):
        for key in _KEYS:
            addr = getattr(node, key)
            if addr is None:
                continue
            if addr.is_unspecified or addr.is_multicast:
                out.append(source.problem(("nodes", i, key), f"{addr} cannot be a host address"))
            elif key != "private" and (why := _unreachable(addr)) is not None:
                out.append(source.problem(("nodes", i, key),
                                          f"{addr} is {why}: {key} must be an address clients can reach"))
        if node.nat is not None and node.nat.version != node.private.version:
            out.append(source.problem(("nodes", i, "nat"),
                                      f"{node.nat} is {_family(node.nat)} but private {node.private} is "
                                      f"{_family(node.private)}: a 1:1 NAT keeps the address family"))
    return out


def family_problems(spec: SiteSpec, source: SourceMap) -> list[Problem]:
    """Across nodes: ng over the private network and the client path each within one family."""
    sip = next((n for n in spec.nodes if "sip" in n.roles), None)
    if sip is None:
        return []
    out: list[Problem] = []
    sip_key = _advertised_key(sip)
    sip_addr = getattr(sip, sip_key)
    for i, node in enumerate(spec.nodes):
        if node is sip:
            continue
        if "media" in node.roles and node.private.version != sip.private.version:
            out.append(source.problem(("nodes", i, "private"),
                                      f"{node.private} is {_family(node.private)} but SIP node {sip.name}'s private "
                                      f"address {sip.private} is {_family(sip.private)}: kamailio reaches "
                                      "rtpengine's ng control on the private network"))
        key = _advertised_key(node)
        addr = getattr(node, key)
        roles = [r for r in ("media", "turn") if r in node.roles]
        if roles and addr.version != sip_addr.version:
            what = " and ".join({"media": "rtpengine's SDP address", "turn": "coturn's relay"}[r] for r in roles)
            out.append(source.problem(("nodes", i, key),
                                      f"{addr} is {_family(addr)} but clients reach SIP node {sip.name} at "
                                      f"{sip_addr} ({_family(sip_addr)}): {what} must be of the clients' family"))
    return out
