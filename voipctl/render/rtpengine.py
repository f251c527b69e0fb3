"""rtpengine.conf and Debian's service defaults for one media node."""

from __future__ import annotations

from voipctl.errors import RenderError
from voipctl.plan.model import NodePlan, Plan
from voipctl.plan.services import RtpenginePlan
from voipctl.render.engine import provenance, render, render_traced
from voipctl.render.tree import PlannedFile
from voipctl.site.addresses import host_port

DEFAULTS_PATH = "/etc/default/rtpengine-daemon"


def interface_spec(rtp: RtpenginePlan) -> str:
    """`local` or `local!advertised`: rtpengine writes the part after `!` into SDP."""
    if rtp.advertise is None:
        return rtp.interface_address
    return f"{rtp.interface_address}!{rtp.advertise}"


def render_rtpengine(plan: Plan, node: NodePlan) -> list[PlannedFile]:
    """rtpengine's config (no secrets: world-readable like Debian's) and /etc/default file."""
    rtp = node.rtpengine
    if rtp is None:
        raise RenderError(f"node {node.name} has no rtpengine in the plan")
    header = provenance("#", plan.site, plan.model_hash)
    conf, controls = render_traced(
        "rtpengine/rtpengine.conf.j2",
        header=header,
        node=node,
        rtp=rtp,
        interface=interface_spec(rtp),
        ng_listen=host_port(rtp.ng_address, rtp.ng_port),
        cli_listen=host_port("127.0.0.1", rtp.cli_port),
    )
    defaults = render("rtpengine/rtpengine-daemon.default.j2", header=header, rtp=rtp)
    return [
        PlannedFile(node.name, rtp.conf_path, "root", "root", 0o644, conf.encode(), "rtpengine",
                    controls=controls),
        PlannedFile(node.name, DEFAULTS_PATH, "root", "root", 0o644, defaults.encode(), "rtpengine"),
    ]
