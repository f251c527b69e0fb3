"""The relay and topology-hiding verdicts judge evidence, not the absence of an error."""

from __future__ import annotations

from typing import Any

from voipctl.verify.probes.build import Probe
from voipctl.verify.probes.dialogchecks import addresses_in, judge_relay, judge_topology, leaked

RELAY = Probe("relay-1", "public", "sip_relay", "relay", "relay", "sip1", {}, {"refused": True})
TOPO = Probe("topology-1", "nat", "sip_call", "topology", "topology", "sip1", {}, {"forbidden": ["10.77.0.11"]})


def _relay(delivered: list[str], statuses: list[int | None], control: bool = True) -> dict[str, Any]:
    attempts = [{"method": m, "variant": "route-to-proxy", "status": s}
                for m, s in zip(("BYE", "MESSAGE", "ACK", "INVITE"), statuses, strict=True)]
    return {"details": {"control_received": control, "delivered": delivered, "attempts": attempts}}


def test_relay_passes_only_on_refusals_and_nothing_delivered() -> None:
    assert judge_relay(RELAY, _relay([], [403, 404, None, 403]))[0] == "passed"
    assert judge_relay(RELAY, _relay(["BYE sip:victim@x"], [403, 404, None, 403]))[0] == "failed"
    assert judge_relay(RELAY, _relay([], [403, None, None, 403]))[0] == "failed", "no answer is no evidence"
    assert judge_relay(RELAY, _relay([], [403, 200, None, 403]))[0] == "failed"
    assert judge_relay(RELAY, _relay([], [403, 404, None, 403], control=False))[0] == "failed"
    assert judge_relay(RELAY, {"error": "probe crashed"})[0] == "failed"
    assert judge_relay(RELAY, {"details": {"control_received": True, "delivered": [], "attempts": []}})[0] == "failed"


def test_addresses_and_leaks() -> None:
    text = "Via: SIP/2.0/UDP 192.168.5.9:5060;received=198.51.100.254\r\nc=IN IP6 fd00::7\r\nCall-ID: 1.2.3"
    assert addresses_in(text) == {"192.168.5.9", "198.51.100.254", "fd00::7"}
    assert leaked([text], []) == ["192.168.5.9", "fd00::7"]
    assert leaked(["Contact: <sip:127.0.0.8;line=sr-x>"], []) == []
    assert leaked(["Record-Route: <sip:198.51.100.11;lr>"], ["198.51.100.11"]) == ["198.51.100.11"]


def test_topology_needs_a_call_and_ignores_the_callee_own_request_line() -> None:
    own = "INVITE sip:alice@10.99.0.5:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.11;branch=z9hG4bKsr-x"
    assert judge_topology(TOPO, {"status": 200, "details": {"callee_received": [own]}})[0] == "passed"
    leak = own + "\r\nContact: <sip:bob@10.99.0.5:40000>"
    assert judge_topology(TOPO, {"status": 200, "details": {"callee_received": [leak]}})[0] == "failed"
    assert judge_topology(TOPO, {"status": 480, "details": {}})[0] == "failed"
