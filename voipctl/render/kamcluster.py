"""The kamailio cluster bits of kamailio.cfg: DMQ replication, Path, peer hand-over, the weighted set.

Decided here from the plan and printed by the templates only when the node is in a
cluster, so a single sip node's kamailio.cfg stays exactly what it was.

How a request reaches the node holding a client's connection: at REGISTER a node
replaces any Path the client sent with its own cluster URI, carrying the client's
source (`received`) and a marker parameter; dmq_usrloc copies the binding to every
peer. A peer's lookup() then sets the next hop to that URI (registrar use_path;
path_check_local drops it on the node itself, which uses `received` as before), the
peer anchors the media and sends the request from its cluster socket; the holder takes
the client's address from the Route, record-routes and seals the dialog and relays
without touching media. In-dialog requests follow both nodes' Record-Route.
"""

from __future__ import annotations

from typing import Any

from voipctl.plan.services import KamailioPlan, SipClusterPlan

# Marker parameter of our Path URIs: a next hop carrying it is a peer's cluster socket.
PEER_PARAM = "vcl"
# Record-Route parameter of a dialog handed over by a peer: the peer anchors its media.
HANDOVER_PARAM = "vho"
# Transaction flag of such a dialog's requests (kamailio.cfg's own flags end at 8).
HANDOVER_FLAG = 9
CLUSTER_MODULES = ("textopsx", "dmq", "dmq_usrloc")


def cluster_modules(kam: KamailioPlan) -> tuple[str, ...]:
    """Loaded after usrloc and tm (dmq_usrloc binds both)."""
    return CLUSTER_MODULES if kam.cluster is not None else ()


def rtpengine_set(kam: KamailioPlan) -> str:
    """rtpengine_sock: the set's sockets, with `=weight` only when the weights differ from 1."""
    weights = kam.rtpengine_weights or (1,) * len(kam.rtpengine_sockets)
    if all(w == 1 for w in weights):
        return " ".join(kam.rtpengine_sockets)
    return " ".join(f"{sock}={weight}" for sock, weight in zip(kam.rtpengine_sockets, weights, strict=True))


def _peer_expr(cluster: SipClusterPlan) -> str:
    return " || ".join(f'$si == "{peer}"' for peer in cluster.peers)


def _udp_socket(kam: KamailioPlan) -> str | None:
    """The client-facing UDP listener: what a handed-over request to a UDP client leaves from
    (else kamailio would send from the cluster socket it came in on, which clients cannot answer)."""
    lst = next((x for x in kam.listeners if x.proto == "udp"), None)
    return lst.socket if lst is not None else None


def cluster_context(kam: KamailioPlan) -> dict[str, Any]:
    """`cluster` for the templates (None: a single sip node) and NATMANAGE's next-hop test."""
    cluster = kam.cluster
    if cluster is None:
        return {"cluster": None, "next_hop_is_client": "isdsturiset()"}
    return {
        "cluster": {
            "socket": cluster.socket,
            "server_id": cluster.server_id,
            "address": cluster.address,
            "port": cluster.port,
            "server_uri": cluster.server_uri,
            "peer_uris": cluster.peer_uris,
            "peer_expr": _peer_expr(cluster),
            "client_udp_socket": _udp_socket(kam),
            "peer_param": PEER_PARAM,
            "handover_param": HANDOVER_PARAM,
            "handover_flag": HANDOVER_FLAG,
        },
        # a peer's cluster URI as next hop says nothing about the client's transport: the R-URI does
        "next_hop_is_client": f'isdsturiset() && $(du{{uri.param,{PEER_PARAM}}}) != "1"',
    }
