"""Media evidence from rtpengine (ng `query`) and from coturn's side (relay sockets, its log).

The parsing functions are pure; the I/O ones take namespace names and run the
request or `ss` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from voipctl.check.netns_socket import socket_in_netns
from voipctl.probe import ng
from voipctl.probe.ng import BValue
from voipctl.proc import in_netns, run
from voipctl.site.addresses import socket_family
from voipctl.verify.browser import argv


@dataclass(frozen=True)
class LegFlow:
    """One party of a call as rtpengine sees it: where its RTP comes from and how many packets came.

    rtpengine 10.5's `query` counts, per stream, only packets received from that
    endpoint; what it sent is shown by the receivers (the browser's getStats, the
    phone's echo, which only ever returns packets it received).
    """

    tag: str
    protocol: str
    address: str | None
    port: int | None
    packets: int

    @property
    def webrtc(self) -> bool:
        return "SAVPF" in self.protocol or "TLS" in self.protocol

    def describe(self) -> str:
        where = f"{self.address}:{self.port}" if self.address else "no endpoint"
        return f"{self.protocol} from {where}: {self.packets} RTP packets in"


def ng_query(netns: str, server: tuple[str, int], call_id: str, timeout: float = 3.0) -> dict[bytes, BValue]:
    """rtpengine's `query` for one call, asked from inside `netns`."""
    with socket_in_netns(netns, socket_family(server[0])) as sock:
        return ng.ng_request(sock, server, {"command": "query", "call-id": call_id}, timeout)


def _text(value: BValue | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def _int(value: BValue | None) -> int:
    return value if isinstance(value, int) else 0


def _dict(value: BValue | None) -> dict[bytes, BValue]:
    return value if isinstance(value, dict) else {}


def _list(value: BValue | None) -> list[BValue]:
    return value if isinstance(value, list) else []


def _packets(stats: BValue | None) -> int:
    return _int(_dict(stats).get(b"packets"))


def _flags(stream: dict[bytes, BValue]) -> list[str]:
    return [_text(f) for f in _list(stream.get(b"flags"))]


def leg_flows(reply: dict[bytes, BValue]) -> list[LegFlow]:
    """Per party (tag): its first audio media's RTP stream (endpoint and packets received)."""
    flows = []
    for tag, party in sorted(_dict(reply.get(b"tags")).items()):
        for media in _list(_dict(party).get(b"medias")):
            m = _dict(media)
            if _text(m.get(b"type")) != "audio":
                continue
            streams = [_dict(s) for s in _list(m.get(b"streams"))]
            rtp = next((s for s in streams if "RTP" in _flags(s)), streams[0] if streams else None)
            if rtp is None:
                continue
            ep = _dict(rtp.get(b"endpoint"))
            flows.append(LegFlow(
                tag=_text(tag), protocol=_text(m.get(b"protocol")),
                address=_text(ep.get(b"address")) or None, port=_int(ep.get(b"port")) or None,
                packets=_int(_dict(rtp.get(b"stats")).get(b"packets")),
            ))
            break
    return flows


# 20 ms packetisation: 50 RTP packets a second each way. A leg passes with half of that (setup, jitter).
PACKETS_PER_SECOND = 50


def min_packets(seconds: float, pps: float = PACKETS_PER_SECOND) -> int:
    """At least half the packets `seconds` of media at `pps` carry (never less than one)."""
    return max(1, int(pps * seconds / 2))


@dataclass(frozen=True)
class FlowSnapshot:
    """rtpengine's per-party counts, `at` seconds after the call was answered."""

    at: float
    flows: tuple[LegFlow, ...]


def flow_problems(first: FlowSnapshot, second: FlowSnapshot, pps: float = PACKETS_PER_SECOND) -> list[str]:
    """Why two queries do not show live media from every party: each must have sent at least half of
    what the time since the answer implies, and half of what the time between the queries implies."""
    before = {f.tag: f.packets for f in first.flows}
    need, need_rise = min_packets(second.at, pps), min_packets(second.at - first.at, pps)
    problems = []
    for f in second.flows:
        if f.packets < need:
            problems.append(f"{f.tag}: {f.packets} packets in {second.at:.1f} s (< {need})")
        if f.tag not in before:
            problems.append(f"{f.tag}: missing from the first query")
        elif f.packets - before[f.tag] < need_rise:
            problems.append(f"{f.tag}: {f.packets - before[f.tag]} more packets in "
                            f"{second.at - first.at:.1f} s (< {need_rise})")
    return problems


def in_relay_range(flow: LegFlow, relay_address: str, relay_min: int, relay_max: int) -> bool:
    """Whether rtpengine saw this party's media coming from coturn's relay range."""
    if flow.address is None or flow.port is None:
        return False
    return ip_address(flow.address) == ip_address(relay_address) and relay_min <= flow.port <= relay_max


def count_relay_sockets(ss_output: str) -> int:
    """Lines of `ss -p` output that are sockets of turnserver (coturn's process name)."""
    return len([ln for ln in ss_output.splitlines() if '"turnserver"' in ln])


def relay_socket_count(netns: str, address: str, port_min: int, port_max: int) -> int:
    """UDP sockets coturn holds in its relay range: one per live allocation, coturn's own count."""
    res = run(in_netns(netns, argv.relay_sockets_argv(address, port_min, port_max)), timeout=10)
    return count_relay_sockets(res.stdout)


def udp_bound(netns: str, address: str, port: int) -> bool:
    """Whether something has bound udp `address:port` in `netns` (a SIPp about to take calls)."""
    res = run(in_netns(netns, ["ss", "-H", "-u", "-a", "-n", f"( src {address} and sport = :{port} )"]), timeout=10)
    return bool(res.stdout.strip())


def printable(value: BValue) -> object:
    """An ng reply as JSON-ready data (bytes decoded), for the run's logs."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {k.decode(errors="replace"): printable(v) for k, v in value.items()}
    return value
