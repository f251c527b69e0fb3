"""Probe executor run at a vantage point: `ip netns exec NS python -m voipctl.verify.probes.executor`.

Reads `{"jobs": [...]}` as JSON on stdin (passwords travel only there), runs
each job and prints `{"results": {id: {...}}}`: raw observations, no verdicts.
SIP jobs run one after another, paced, so the probes stay under the site's
flood limit; the others (mostly waiting for silence) run in parallel.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from voipctl.probe import ng, turn
from voipctl.probe.call import Leg, probe_call
from voipctl.probe.dialog import Identity
from voipctl.probe.relay import probe_relay
from voipctl.probe.sip import probe_options, probe_register
from voipctl.probe.transport import Target
from voipctl.site.addresses import socket_family
from voipctl.verify.probes.turn_permission import check_permissions
from voipctl.verify.probes.xmpp import probe_starttls

SIP_PACING = 0.15
Params = Mapping[str, Any]


def _target(p: Params) -> Target:
    return Target(p["transport"], p["host"], int(p["port"]), p.get("server_name"), p.get("ca_file"),
                  p.get("origin"), p.get("ws_path", "/"))


def sip_options(p: Params) -> dict[str, Any]:
    ident = Identity(p.get("user", "probe"), p.get("domain"), p.get("user_agent", "voipctl-verify"))
    return asdict(probe_options(_target(p), ident, None, float(p.get("timeout", 3.0))))


def sip_register(p: Params) -> dict[str, Any]:
    ident = Identity(p["user"], p["domain"], "voipctl-verify")
    return asdict(probe_register(_target(p), ident, p["domain"], p["password"], 60, float(p.get("timeout", 3.0)),
                                remove=True))


def _source_toward(host: str) -> str:
    """This vantage's own address on the path to `host` (a connected UDP socket sends nothing)."""
    with socket.socket(socket_family(host), socket.SOCK_DGRAM) as sock:
        sock.connect((host, 9))
        return str(sock.getsockname()[0])


def sip_relay(p: Params) -> dict[str, Any]:
    ident = Identity("attacker", p.get("domain"), "voipctl-verify")
    victim = p["victim_host"] if p["victim_host"] != "auto" else _source_toward(p["host"])
    return asdict(probe_relay(_target(p), ident, victim, int(p.get("victim_port", 5099)),
                              float(p.get("timeout", 2.0))))


def sip_call(p: Params) -> dict[str, Any]:
    """The subscriber calls itself: the callee leg registers, the caller leg calls its AOR."""
    ident = Identity(p["user"], p["domain"], "voipctl-verify")
    caller = Leg(_target(p), ident, p["password"], "plain", 40000)
    callee = Leg(_target(p), ident, p["password"], "plain", 42000)
    return asdict(probe_call(caller, callee, p["domain"], "caller", float(p.get("timeout", 3.0))))


def _udp(host: str) -> socket.socket:
    return socket.socket(socket_family(host), socket.SOCK_DGRAM)


def blocked_by(exc: OSError) -> str | None:
    """"refused", "timeout" or "unreachable" (no route to the address from here) when the error is the
    network saying no; None for anything else (bad address, a local failure, a probe bug), which proves
    nothing about the port. The judge trusts these only from a vantage that got some answer."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    return None


def _unanswered(key: str, exc: OSError) -> dict[str, Any]:
    return {key: False, "blocked": blocked_by(exc), "error": str(exc) or type(exc).__name__}


def ng_ping(p: Params) -> dict[str, Any]:
    with _udp(p["host"]) as sock:
        try:
            pong = ng.ping(sock, (p["host"], int(p["port"])), float(p.get("timeout", 1.5)))
        except OSError as exc:
            return _unanswered("answered", exc)
    return {"answered": True, "pong": pong}


def tcp_connect(p: Params) -> dict[str, Any]:
    try:
        with socket.create_connection((p["host"], int(p["port"])), timeout=float(p.get("timeout", 1.5))):
            return {"connected": True}
    except OSError as exc:
        return _unanswered("connected", exc)


def stun_binding(p: Params) -> dict[str, Any]:
    with _udp(p["host"]) as sock:
        try:
            mapped = turn.stun_binding(sock, (p["host"], int(p["port"])), float(p.get("timeout", 2.0)))
        except (OSError, turn.StunError) as exc:
            return {"mapped": None, "error": str(exc) or type(exc).__name__}
    return {"mapped": list(mapped)}


def turn_allocate(p: Params) -> dict[str, Any]:
    with _udp(p["host"]) as sock:
        try:
            alloc = turn.turn_allocate(sock, (p["host"], int(p["port"])), p["username"], p["password"],
                                       float(p.get("timeout", 2.0)))
        except (OSError, turn.StunError) as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": alloc.ok, "relayed": list(alloc.relayed) if alloc.relayed else None,
            "error_code": alloc.error[0] if alloc.error else None, "reason": alloc.error[1] if alloc.error else ""}


def turn_permissions(p: Params) -> dict[str, Any]:
    with _udp(p["host"]) as sock:
        try:
            rep = check_permissions(sock, (p["host"], int(p["port"])), p["username"], p["password"], p["peers"],
                                    float(p.get("timeout", 2.0)))
        except (OSError, turn.StunError) as exc:
            return {"allocated": False, "error": str(exc) or type(exc).__name__}
    return {"allocated": rep.allocated, "alloc_error": list(rep.alloc_error) if rep.alloc_error else None,
            "peers": {k: (list(v) if v else None) for k, v in rep.peers.items()}}


def xmpp_starttls(p: Params) -> dict[str, Any]:
    try:
        got = probe_starttls(p["host"], int(p["port"]), p["domain"], float(p.get("timeout", 5.0)))
    except (OSError, ValueError) as exc:
        return {"error": str(exc) or type(exc).__name__}
    return asdict(got)


KINDS: dict[str, Callable[[Params], dict[str, Any]]] = {
    "sip_options": sip_options,
    "sip_register": sip_register,
    "sip_relay": sip_relay,
    "sip_call": sip_call,
    "ng_ping": ng_ping,
    "tcp_connect": tcp_connect,
    "stun_binding": stun_binding,
    "turn_allocate": turn_allocate,
    "turn_permissions": turn_permissions,
    "xmpp_starttls": xmpp_starttls,
}


def _run_one(job: Mapping[str, Any]) -> dict[str, Any]:
    start = time.monotonic()
    try:
        result = KINDS[job["kind"]](job["params"])
    except Exception as exc:  # a probe bug must not hide the other results; report it as this job's error
        result = {"error": f"probe crashed: {type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.monotonic() - start, 3)
    return result


def _run_sip(jobs: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for job in jobs:
        out[job["id"]] = _run_one(job)
        time.sleep(SIP_PACING)
    return out


def run_jobs(jobs: list[Mapping[str, Any]], workers: int = 8) -> dict[str, dict[str, Any]]:
    sip = [j for j in jobs if str(j["kind"]).startswith("sip_")]
    rest = [j for j in jobs if not str(j["kind"]).startswith("sip_")]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sip_future = pool.submit(_run_sip, sip)
        futures = {j["id"]: pool.submit(_run_one, j) for j in rest}
        results = {k: f.result() for k, f in futures.items()}
        results.update(sip_future.result())
    return results


def main() -> int:
    doc = json.loads(sys.stdin.read())
    print(json.dumps({"results": run_jobs(doc["jobs"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
