"""Address types of the site file, and the special-purpose ranges TURN never relays into.

The ranges are RFC 6890 and successors plus cloud metadata. TURN relays only to
the site's own media addresses and to what `coturn.allowed_peers` adds; those
extra networks must not overlap any special-purpose range.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

SPECIAL_PURPOSE_NETWORKS: dict[str, str] = {
    "0.0.0.0/8": "unspecified, 'this network'",
    "10.0.0.0/8": "RFC 1918 private",
    "100.64.0.0/10": "RFC 6598 carrier-grade NAT",
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local, incl. cloud metadata 169.254.169.254",
    "172.16.0.0/12": "RFC 1918 private",
    "192.0.0.0/24": "IETF protocol assignments",
    "192.0.2.0/24": "documentation",
    "192.88.99.0/24": "6to4 relay anycast",
    "192.168.0.0/16": "RFC 1918 private",
    "198.18.0.0/15": "benchmarking",
    "198.51.100.0/24": "documentation",
    "203.0.113.0/24": "documentation",
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved, incl. broadcast",
    "::/96": "unspecified, loopback and IPv4-compatible",
    "::ffff:0:0/96": "IPv4-mapped",
    "64:ff9b::/96": "NAT64, reaches IPv4 ranges",
    "64:ff9b:1::/48": "local NAT64",
    "100::/64": "discard-only",
    "2001::/23": "IETF protocol assignments, incl. Teredo",
    "2001:db8::/32": "documentation",
    "2002::/16": "6to4, reaches IPv4 ranges",
    "fc00::/7": "unique local, ULA",
    "fe80::/10": "link-local",
    "ff00::/8": "multicast",
}


def special_overlap(net: IPv4Network | IPv6Network) -> tuple[str, str] | None:
    """The first special-purpose range `net` overlaps, with its label; None when it overlaps none."""
    for cidr, label in SPECIAL_PURPOSE_NETWORKS.items():
        special = ip_network(cidr)
        if special.version == net.version and special.overlaps(net):
            return cidr, label
    return None


def _ip(value: Any) -> IPv4Address | IPv6Address:
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address (write it as a string)")
    try:
        return ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 or IPv6 address") from None


IPAddress = Annotated[
    IPv4Address | IPv6Address,
    PlainValidator(_ip),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "ip-address"}),
]


def _peer_network(value: Any) -> IPv4Network | IPv6Network:
    """An extra TURN peer range: CIDR, no host bits, clear of every special-purpose range."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a network (write it as a string, address/prefix)")
    try:
        net = ip_network(value, strict=True)
    except ValueError as exc:
        if "host bits" in str(exc):
            fixed = ip_network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set (the network is {fixed})") from None
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 network (address/prefix)") from None
    special = special_overlap(net)
    if special is not None:
        raise ValueError(f"{net} overlaps {special[0]} ({special[1]}): TURN never relays there")
    return net


PeerNetwork = Annotated[
    IPv4Network | IPv6Network,
    PlainValidator(_peer_network),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "ip-network"}),
]


def bounded_network(value: Any, too_wide: str) -> IPv4Network | IPv6Network:
    """An address or network given as a string, at most /8 (IPv6 /32) wide: never a large slice
    of the internet. `too_wide` says what such a slice would cause, for the error."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an address or network (write it as a string)")
    try:
        net = ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or network ({exc})") from None
    widest = 8 if net.version == 4 else 32
    if net.prefixlen < widest:
        raise ValueError(f"{value!r} is wider than /{widest}: {too_wide}")
    return net


def _management_network(value: Any) -> str:
    """A network allowed to reach SSH and admin consoles."""
    return str(bounded_network(value, "SSH and admin consoles would face a large part of the internet"))


ManagementNetwork = Annotated[
    str, PlainValidator(_management_network), WithJsonSchema({"type": "string", "format": "ip-network"})
]


def uri_host(address: str) -> str:
    """An address as it goes in a URI or before `:port` (RFC 3986): IPv6 in brackets, anything else as is.

    kamailio listen/advertise, rtpengine listen-*, SIP URIs, Via and ssh/testinfra host specs all parse
    it this way, so every one of them uses this helper.
    """
    return f"[{address}]" if ":" in address else address


def host_port(address: str, port: int) -> str:
    """`address:port` with IPv6 bracketed."""
    return f"{uri_host(address)}:{port}"


def socket_family(address: str) -> socket.AddressFamily:
    """The socket family that reaches an address literal (IPv6 has a colon, IPv4 and names do not)."""
    return socket.AF_INET6 if ":" in address else socket.AF_INET
