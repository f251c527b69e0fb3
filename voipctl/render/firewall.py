"""The host firewall (nftables) of one node and the unit that loads it at boot."""

from __future__ import annotations

from voipctl.errors import RenderError
from voipctl.plan.model import FirewallRule, NodePlan, Plan
from voipctl.render.engine import provenance, render
from voipctl.render.tree import PlannedFile

_FAMILY = {4: "ip", 6: "ip6"}


def _family(address_or_network: str) -> int:
    """4 or 6 without parsing: every IPv6 text form has a colon, no IPv4 one does (sources are plan-validated)."""
    return 6 if ":" in address_or_network else 4


def rule_lines(rule: FirewallRule) -> list[str]:
    """nft statements accepting `rule`, one per address family it applies to.

    A rule limited to sources none of which has the destination's family opens
    nothing for that family (no line), never everything.
    """
    ports = str(rule.port_min) if rule.port_min == rule.port_max else f"{rule.port_min}-{rule.port_max}"
    tail = f'{rule.proto} dport {ports} accept comment "{rule.what}"'
    if rule.address is None and not rule.sources:
        return [tail]
    families = (_family(rule.address),) if rule.address is not None else (4, 6)
    lines = []
    for family in families:
        key = _FAMILY[family]
        match = [f"{key} daddr {rule.address}"] if rule.address is not None else []
        if rule.sources:
            nets = [s for s in rule.sources if _family(s) == family]
            if not nets:
                continue
            match.append(f"{key} saddr {{ {', '.join(nets)} }}")
        lines.append(" ".join([*match, tail]))
    return lines


def render_firewall(plan: Plan, node: NodePlan) -> list[PlannedFile]:
    """The ruleset (no secrets, 0644 so deploy can show its diff) and its boot unit."""
    fw = node.firewall
    if fw is None:
        raise RenderError(f"node {node.name} has no firewall in the plan")
    header = provenance("#", plan.site, plan.model_hash)
    lines = [line for rule in fw.rules for line in rule_lines(rule)]
    ruleset = render("firewall/voipctl.nft.j2", header=header, node=node, fw=fw, rules=lines)
    unit = render("firewall/voipctl-firewall.service.j2", header=header, node=node, fw=fw)
    return [
        PlannedFile(node.name, fw.path, "root", "root", 0o644, ruleset.encode(), "firewall"),
        PlannedFile(node.name, fw.unit_path, "root", "root", 0o644, unit.encode(), "firewall"),
    ]
