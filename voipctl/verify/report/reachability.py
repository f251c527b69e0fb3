"""Who may reach what, node by node, as the firewall opens it: the audit part of verify's report.

Read from the plan's firewall rules (the same ones the ruleset is rendered from),
so the listing and the loaded ruleset cannot disagree.
"""

from __future__ import annotations

from typing import Any

from voipctl.plan.model import Plan


def reachability(plan: Plan) -> list[dict[str, Any]]:
    """One entry per opening: node, what, proto, address (or any of the node's), ports, and from whom."""
    rows: list[dict[str, Any]] = []
    for node in plan.nodes:
        if node.firewall is None:
            continue
        for rule in node.firewall.rules:
            ports = str(rule.port_min) if rule.port_min == rule.port_max else f"{rule.port_min}-{rule.port_max}"
            rows.append({"node": node.name, "what": rule.what, "proto": rule.proto,
                         "address": rule.address or "any", "ports": ports,
                         "from": list(rule.sources) or ["anyone"]})
        rows.append({"node": node.name, "what": "everything else", "proto": "any", "address": "any",
                     "ports": "any", "from": ["nobody (dropped; loopback and replies excepted)"]})
    return rows
