"""Checks over the plan: rules that need derived sockets, reported against the site file."""

from __future__ import annotations

from collections.abc import Callable

from voipctl.errors import Problem
from voipctl.plan.cluster import cluster_socket_private, turn_uri_hosts
from voipctl.plan.model import NodePlan, Plan
from voipctl.site.model import Site

PlanCheck = Callable[[Site, Plan], list[Problem]]


def port_collisions(site: Site, plan: Plan) -> list[Problem]:
    """No two sockets of any daemons may overlap on the same node, address and protocol."""
    out: list[Problem] = []
    for node in plan.nodes:
        seen = node.bindings
        for i, a in enumerate(seen):
            for b in seen[i + 1 :]:
                if a.overlaps(b):
                    out.append(
                        site.problem(
                            b.site_path,
                            f"node {node.name}: {b.what} ({b.proto} {b.address}:{b.ports}) collides with "
                            f"{a.what} ({a.proto} {a.address}:{a.ports})",
                        )
                    )
    return out


def _exposed(node: NodePlan, what: str) -> bool:
    return any(b.public and b.what == what for b in node.bindings)


def private_services(site: Site, plan: Plan) -> list[Problem]:
    """Plain WS and rtpengine's ng control must never face clients unless explicitly asked."""
    out: list[Problem] = []
    ws = site.spec.kamailio.transports.ws
    for node in plan.nodes:
        idx = site.node_index(node.name)
        if node.kamailio is not None and ws.enabled and not ws.public and _exposed(node, "kamailio ws"):
            out.append(
                site.problem(
                    ("kamailio", "transports", "ws", "public"),
                    f"node {node.name}: plain ws would listen on the client-facing address {node.client_address}; "
                    "give the node a public or nat address, or set public: true knowingly",
                )
            )
        if node.openfire is not None and _exposed(node, "openfire admin"):
            out.append(
                site.problem(
                    ("nodes", idx, "private"),
                    f"node {node.name}: the Openfire admin console would listen on the client-facing address "
                    f"{node.openfire.admin_address}; give the node a public or nat address",
                )
            )
        if node.rtpengine is not None and _exposed(node, "rtpengine ng"):
            out.append(
                site.problem(
                    ("nodes", idx, "private"),
                    f"node {node.name}: rtpengine ng control would be reachable by clients on "
                    f"{node.rtpengine.ng_address}; give the media node a public or nat address "
                    "so ng stays on the private network",
                )
            )
    return out


PLAN_CHECKS: tuple[PlanCheck, ...] = (port_collisions, private_services, cluster_socket_private, turn_uri_hosts)


def check_plan(site: Site, plan: Plan, extra: tuple[PlanCheck, ...] = ()) -> list[Problem]:
    problems: list[Problem] = []
    for check in (*PLAN_CHECKS, *extra):
        problems.extend(check(site, plan))
    return problems
