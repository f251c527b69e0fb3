"""Verdicts on what the agents saw: each Probe's expectation against its raw result (pure).

Details say what happened (status lines, error codes, addresses), never what
was sent: parameters may hold passwords and are not looked at here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voipctl.verify.probes.build import Probe
from voipctl.verify.probes.dialogchecks import judge_relay, judge_topology
from voipctl.verify.report.outcome import Outcome, Status

Raw = Mapping[str, Any]


def _sip_answer(raw: Raw) -> str:
    if raw.get("answered"):
        tls = f" over {raw['tls_version']}" if raw.get("tls_version") else ""
        return f"{raw.get('status')} {raw.get('reason') or ''}".strip() + tls
    http = f" (HTTP {raw['http_status']})" if raw.get("http_status") else ""
    return f"no answer: {raw.get('error') or 'timeout'}{http}"


def _options(p: Probe, raw: Raw) -> tuple[Status, str]:
    if p.expect.get("refused"):
        if raw.get("answered"):
            return "failed", f"the handshake was accepted and OPTIONS answered {raw.get('status')}"
        error = str(raw.get("error") or "")
        if raw.get("http_status") == 403:
            return "passed", error
        return "failed", f"expected HTTP 403 to the handshake, got: {error or 'nothing'}"
    ok = raw.get("answered") and raw.get("status") == p.expect["status"]
    if ok and p.expect.get("tls") and raw.get("tls_version") not in ("TLSv1.2", "TLSv1.3"):
        return "failed", f"answered over {raw.get('tls_version')}"
    return ("passed" if ok else "failed"), _sip_answer(raw)


def _register_key(raw: Raw) -> tuple[Any, ...]:
    challenge = (raw.get("details") or {}).get("challenge") or {}
    names = sorted({str(k).lower() for k, _ in raw.get("headers") or []})
    return (challenge.get("status"), raw.get("status"), raw.get("reason"), tuple(names))


def _unregistered(raw: Raw) -> tuple[Status, str]:
    """The probe's binding must be gone again: Expires: 0 answered 200 without its contact."""
    gone = (raw.get("details") or {}).get("unregister") or {}
    if gone.get("status") != 200:
        return "failed", f"{_sip_answer(raw)}, but removing the binding got {gone.get('status') or 'no answer'}"
    if gone.get("still_bound", True):
        return "failed", f"{_sip_answer(raw)}, but the binding was still listed after Expires: 0"
    return "passed", f"{_sip_answer(raw)}; binding removed again (Expires: 0 answered 200 without it)"


def _register(p: Probe, raw: Raw, others: Mapping[str, Raw]) -> tuple[Status, str]:
    if "same_as" not in p.expect:
        ok = raw.get("answered") and raw.get("status") == p.expect["status"]
        if not ok:
            return "failed", _sip_answer(raw)
        return _unregistered(raw)
    other = others.get(p.expect["same_as"], {})
    wrong, unknown = _register_key(raw), _register_key(other)
    detail = f"wrong password: {_sip_answer(raw)}; unknown user: {_sip_answer(other)}"
    if not raw.get("answered") or not other.get("answered"):
        return "failed", detail
    if raw.get("status") in (200, 202) or other.get("status") in (200, 202):
        return "failed", "accepted a bad credential: " + detail
    if wrong != unknown:
        return "failed", f"answers differ ({wrong} vs {unknown}): " + detail
    return "passed", detail


BLOCKED = ("refused", "timeout", "unreachable")


def _closed(raw: Raw, how: str, routed: bool = False) -> tuple[Status, str]:
    """Only the network's own no (refused, no route, or silence until the timeout) shows a closed port.

    `routed`: the vantage has a route to the target; "unreachable" then means the test never ran.
    """
    if routed and raw.get("blocked") == "unreachable":
        return "failed", f"the vantage has no route to the target, so nothing was tested ({raw.get('error')})"
    if raw.get("blocked") in BLOCKED:
        return "passed", f"{how} ({raw.get('error')})"
    return "failed", f"no evidence the port is closed: {raw.get('error') or 'the probe reported nothing'}"


def _ng(p: Probe, raw: Raw) -> tuple[Status, str]:
    if raw.get("answered"):
        return "failed", "rtpengine answered an ng ping" + (" with pong" if raw.get("pong") else "")
    return _closed(raw, "no answer", bool(p.expect.get("routed")))


def _tcp(p: Probe, raw: Raw) -> tuple[Status, str]:
    if p.expect.get("open"):
        if raw.get("connected"):
            return "passed", "accepted a TCP connection"
        return "failed", f"not connectable: {raw.get('error') or raw.get('blocked') or 'no result'}"
    if raw.get("connected"):
        return "failed", "the port accepted a TCP connection"
    return _closed(raw, "not connectable", bool(p.expect.get("routed")))


def _answered_something(raw: Raw) -> bool:
    """Whether a result shows the vantage's packets reached a host and something came back."""
    return bool(raw.get("answered") or raw.get("connected") or raw.get("mapped") or raw.get("ok")
                or raw.get("allocated") or raw.get("http_status") or raw.get("blocked") == "refused")


def live_vantages(probes: Sequence[Probe], results: Mapping[str, Raw]) -> set[str]:
    """Vantages that got at least one answer: from any other, silence proves nothing."""
    return {p.vantage for p in probes if _answered_something(results.get(p.id) or {})}


def _stun(p: Probe, raw: Raw) -> tuple[Status, str]:
    mapped = raw.get("mapped")
    if not mapped:
        return "failed", f"no binding answer: {raw.get('error')}"
    want = p.expect.get("mapped")
    seen = f"mapped address {mapped[0]}:{mapped[1]}"
    if want is not None and mapped[0] != want:
        return "failed", f"{seen}, expected {want}"
    return "passed", seen


def _allocate(p: Probe, raw: Raw) -> tuple[Status, str]:
    if "error" in raw:
        return "failed", f"no TURN answer: {raw['error']}"
    if p.expect.get("ok"):
        relayed = raw.get("relayed")
        if raw.get("ok") and relayed:
            return "passed", f"relayed address {relayed[0]}:{relayed[1]}"
        return "failed", f"allocation refused: {raw.get('error_code')} {raw.get('reason', '')}".strip()
    if raw.get("ok"):
        return "failed", "allocation succeeded with a wrong password"
    code = raw.get("error_code")
    detail = f"{code} {raw.get('reason', '')}".strip()
    return ("passed" if code == p.expect["error_code"] else "failed"), detail


def _permissions(p: Probe, raw: Raw) -> list[tuple[str, Status, str]]:
    if not raw.get("allocated"):
        why = raw.get("alloc_error") or raw.get("error")
        return [("TURN permissions", "failed", f"no allocation to test permissions on: {why}")]
    peers: Mapping[str, Any] = raw.get("peers") or {}
    out: list[tuple[str, Status, str]] = []
    for peer, label in p.expect["denied"].items():
        code = peers.get(peer)
        name = f"TURN permission towards {peer} ({label}) is denied"
        if peer not in peers:
            out.append((name, "failed", "not tried"))
        elif code is None:
            out.append((name, "failed", "permission granted"))
        else:
            out.append((name, "passed" if code[0] == 403 else "failed", f"{code[0]} {code[1]}".strip()))
    for peer in p.expect["allowed"]:
        code = peers.get(peer)
        name = f"TURN permission towards the media address {peer} is granted"
        if peer not in peers:
            out.append((name, "failed", "not tried"))
            continue
        out.append((name, "passed", "granted") if code is None else (name, "failed", f"{code[0]} {code[1]}"))
    if not p.expect["allowed"]:
        name = "TURN permission towards a media address is granted"
        media = p.expect.get("media") or []
        out.append((name, "failed", f"no media address coturn may relay to: {', '.join(media)} are in denied ranges "
                                    "and not in coturn.allowed_peers") if media else
                   (name, "skipped", "the plan has no rtpengine to relay media to"))
    return out


def _xmpp(p: Probe, raw: Raw) -> tuple[Status, str]:
    if "error" in raw:
        return "failed", f"no stream features: {raw['error']}"
    if not raw.get("offered"):
        return "failed", "STARTTLS is not offered"
    if not raw.get("required"):
        return "failed", "STARTTLS is offered but not required"
    return "passed", "STARTTLS offered and required"


_SIMPLE: dict[str, Callable[[Probe, Raw], tuple[Status, str]]] = {
    "sip_options": _options,
    "ng_ping": _ng,
    "tcp_connect": _tcp,
    "stun_binding": _stun,
    "turn_allocate": _allocate,
    "xmpp_starttls": _xmpp,
    "sip_relay": judge_relay,
    "sip_call": judge_topology,
}


def judge(probes: Sequence[Probe], results: Mapping[str, Raw]) -> list[Outcome]:
    """One Outcome per probe (several for a permission probe); a missing result is a failure."""
    out: list[Outcome] = []
    live = live_vantages(probes, results)
    for p in probes:
        if p.expect.get("compared"):
            continue  # judged together with the probe naming it in `same_as`
        raw = results.get(p.id)
        if raw is None:
            out.append(Outcome(p.group, p.name, "failed", "the probe did not run (its agent failed)",
                               p.host, p.vantage))
            continue
        seconds = float(raw.get("seconds", 0.0))
        if p.kind == "turn_permissions":
            out += [Outcome(p.group, name, status, detail, p.host, p.vantage, seconds)
                    for name, status, detail in _permissions(p, raw)]
            continue
        if p.kind == "sip_register":
            status, detail = _register(p, raw, results)
        else:
            status, detail = _SIMPLE[p.kind](p, raw)
        if p.group in ("exposure", "firewall") and status == "passed" and p.vantage not in live:
            status, detail = "failed", f"no probe from {p.vantage} got any answer, so its silence proves nothing"
        out.append(Outcome(p.group, p.name, status, detail, p.host, p.vantage, seconds))
    return out
