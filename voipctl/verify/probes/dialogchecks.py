"""Verdicts for the call-path attacks: the in-dialog relay attempt and topology hiding (pure).

The relay check passes only on positive evidence: the victim listener proved it can
receive, every request that expects an answer got 403 or 404, and nothing arrived.
The topology check passes only when a call was set up and every message the callee
received names no private address of a node or of the calling client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import ip_address, ip_network
from typing import Any

from voipctl.verify.probes.build import Probe
from voipctl.verify.report.outcome import Status

Raw = Mapping[str, Any]

# Address ranges no client may learn from a message: RFC 1918, CGNAT, IPv6 ULA and link-local.
PRIVATE_NETWORKS = tuple(ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10",
))
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])")


def addresses_in(text: str) -> set[str]:
    """Every IP address literal in a message (IPv6 candidates that do not parse are ignored)."""
    found = set()
    for match in [*_IPV4.findall(text), *_IPV6.findall(text)]:
        try:
            found.add(str(ip_address(match)))
        except ValueError:
            continue
    return found


def leaked(texts: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """Addresses in `texts` that are private or listed in `forbidden`, sorted."""
    banned = {str(ip_address(a)) for a in forbidden}
    out = set()
    for text in texts:
        for addr in addresses_in(text):
            ip = ip_address(addr)
            if addr in banned or any(ip.version == n.version and ip in n for n in PRIVATE_NETWORKS):
                out.add(addr)
    return sorted(out)


def judge_relay(p: Probe, raw: Raw) -> tuple[Status, str]:
    if raw.get("error"):
        return "failed", f"the attack could not be run: {raw['error']}"
    details = raw.get("details") or {}
    if not details.get("control_received"):
        return "failed", "the victim listener never received its control packet: nothing was proven"
    delivered = details.get("delivered") or []
    if delivered:
        return "failed", f"relayed to the attacker's listener: {', '.join(delivered[:4])}"
    attempts = [a for a in details.get("attempts") or [] if a.get("method") != "ACK"]
    if not attempts:
        return "failed", "no attempt was made"
    wrong = [f"{a['method']}/{a['variant']}: {a.get('status') or 'no answer'}" for a in attempts
             if a.get("status") not in (403, 404)]
    if wrong:
        return "failed", "not refused with 403/404: " + "; ".join(wrong[:4])
    return "passed", f"{len(attempts)} forged in-dialog requests refused (403/404), none delivered"


def judge_topology(p: Probe, raw: Raw) -> tuple[Status, str]:
    details = raw.get("details") or {}
    received = details.get("callee_received") or []
    if raw.get("status") != 200 or not received:
        why = raw.get("error") or f"answer {raw.get('status')}"
        return "failed", f"no call reached the callee to inspect ({why})"
    # the start line names the callee's own contact; every other line comes from elsewhere
    leaks = leaked((text.partition("\r\n")[2] for text in received), p.expect.get("forbidden", ()))
    if leaks:
        return "failed", "the callee received private addresses: " + ", ".join(leaks)
    return "passed", f"{len(received)} messages the callee received name no private address"
