"""coturn's turnserver.conf and Debian's defaults file for one TURN node."""

from __future__ import annotations

from ipaddress import ip_network

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, Plan
from voipctl.render.engine import provenance, render, render_traced
from voipctl.render.tree import PlannedFile
from voipctl.secrets import Secrets

DEFAULTS_PATH = "/etc/default/coturn"


def peer_range(network: str) -> str:
    """A CIDR network as coturn 4.6.1 accepts it: `first-last`, or one address.

    coturn 4.6.1 rejects CIDR in denied-peer-ip/allowed-peer-ip ("Wrong address
    format") and would silently deny nothing for that line. Its IPv6 range test
    compares byte by byte, which is exact for ranges that come from a CIDR prefix;
    a bound of 0.0.0.0 or :: means "any address of either family" (measured), so
    only the deny-all lines may start there (allowed ranges are validated).
    """
    net = ip_network(network, strict=True)
    first, last = net[0], net[-1]
    return str(first) if first == last else f"{first}-{last}"


def render_coturn(plan: Plan, node: NodePlan, secrets: Secrets) -> list[PlannedFile]:
    """turnserver.conf (secret inside, so group turnserver only) and /etc/default/coturn."""
    turn = node.coturn
    if turn is None:
        raise RenderError(f"node {node.name} has no coturn in the plan")
    secret = secrets["turn_secret"]
    if any(c in secret for c in "\r\n\"'#") or secret != secret.strip():
        raise RenderError("secret turn_secret contains characters coturn's config parser would cut")
    header = provenance("#", plan.site, plan.model_hash)
    conf, controls = render_traced(
        "coturn/turnserver.conf.j2",
        header=header,
        node=node,
        turn=turn,
        tls=turn.tls,
        cert=turn.tls.cert,
        secret=secret,
        denied=[peer_range(n) for n in turn.denied_peers],
        allowed=[peer_range(n) for n in turn.allowed_peers],
    )
    defaults = render("coturn/coturn.default.j2", header=header)
    return [
        PlannedFile(node.name, turn.conf_path, "root", "turnserver", 0o640, conf.encode(), "coturn", sensitive=True,
                    controls=controls),
        PlannedFile(node.name, DEFAULTS_PATH, "root", "root", 0o644, defaults.encode(), "coturn"),
    ]
