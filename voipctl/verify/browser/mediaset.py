"""Which media node carried a test call, asked of the media nodes themselves, and whether every one did.

kamailio spreads calls over the rtpengine set by weight; verify does not trust that to
have happened. Each media node's rtpengine is asked over its private ng socket
(`query` by Call-ID) while a call is up: the node that knows the call carried it.
A media node that carried none of the test calls is a failure naming that node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from secrets import token_hex

from voipctl.plan.model import Plan
from voipctl.probe.ng import BValue
from voipctl.verify.browser.media import ng_query
from voipctl.verify.report.outcome import Status

# kamailio's rtpengine module (hash_algo 0, the default) picks a set member from the Call-ID's
# byte sum modulo 256, then modulo the set's total weight, walking the members in order
_BYTE_SUM_MASK = 0xFF
# rtpengine answers its ng socket on the private network in milliseconds; a stopped one never does
ASK_TIMEOUT = 1.0


@dataclass(frozen=True)
class MediaNode:
    """One member of the rtpengine set: the node, its ng socket, its weight in the set."""

    name: str
    ng: tuple[str, int]
    weight: int = 1


@dataclass(frozen=True)
class Carrier:
    """What asking every media node about one call found: the node that knows it, and its reply."""

    node: str | None
    reply: dict[bytes, BValue]
    why: str  # when no node knows the call: each node's answer


def media_nodes(plan: Plan) -> tuple[MediaNode, ...]:
    """The rtpengine set in the order and with the weights the sip nodes' kamailio uses."""
    by_socket = {n.rtpengine.ng_socket: n for n in plan.nodes if n.rtpengine is not None}
    kam = next((n.kamailio for n in plan.nodes if n.kamailio is not None), None)
    if kam is None:
        return tuple(MediaNode(n.name, (r.ng_address, r.ng_port)) for n in by_socket.values()
                     for r in (n.rtpengine,) if r is not None)
    weights = kam.rtpengine_weights or (1,) * len(kam.rtpengine_sockets)
    out = []
    for sock, weight in zip(kam.rtpengine_sockets, weights, strict=True):
        node = by_socket.get(sock)
        if node is not None and node.rtpengine is not None:
            out.append(MediaNode(node.name, (node.rtpengine.ng_address, node.rtpengine.ng_port), weight))
    return tuple(out)


def find_carrier(nodes: Sequence[MediaNode], netns: Mapping[str, str], call_id: str) -> Carrier:
    """Ask each media node's rtpengine (from its namespace) for the call; the first that knows it carried it."""
    answers = []
    for node in nodes:
        where = netns.get(node.name)
        if where is None:
            answers.append(f"{node.name}: no namespace to ask its ng socket from")
            continue
        try:
            reply = ng_query(where, node.ng, call_id, ASK_TIMEOUT)
        except OSError as exc:
            answers.append(f"{node.name}: ng query failed ({exc})")
            continue
        if reply.get(b"result") == b"ok":
            return Carrier(node.name, reply, "")
        answers.append(f"{node.name}: {reply.get(b'error-reason', reply.get(b'result'))!r}")
    return Carrier(None, {}, "no media node knows the call: " + "; ".join(answers))


def steered_call_id(nodes: Sequence[MediaNode], target: str, prefix: str = "voipctl-verify") -> str:
    """A fresh Call-ID that kamailio's default set selection should hand to `target`.

    Only a preference: which node carried the call is still asked of the nodes.
    """
    total = sum(n.weight for n in nodes)
    low = 0
    for node in nodes:
        if node.name == target:
            break
        low += node.weight
    else:
        return f"{prefix}-{token_hex(8)}"
    while True:
        call_id = f"{prefix}-{token_hex(8)}"
        if low <= (sum(call_id.encode()) & _BYTE_SUM_MASK) % total < low + node.weight:
            return call_id


def coverage(nodes: Sequence[MediaNode], carried: Sequence[str | None]) -> list[tuple[str, Status, str]]:
    """One verdict per media node: passed when at least one test call was carried by it."""
    tally = ", ".join(f"call {i}: {c or 'no media node'}" for i, c in enumerate(carried, start=1))
    out: list[tuple[str, Status, str]] = []
    for node in nodes:
        count = sum(1 for c in carried if c == node.name)
        name = f"media node {node.name} carried a test call (its rtpengine knew the Call-ID)"
        if count:
            out.append((name, "passed", f"{count} of {len(carried)} test calls ({tally})"))
        else:
            out.append((name, "failed", f"media node {node.name} carried none of {len(carried)} test calls "
                                        f"({tally})"))
    return out
