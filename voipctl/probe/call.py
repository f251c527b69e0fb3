"""A whole call through the proxy: the callee registers, the caller INVITEs with digest, the
callee answers, ACK and BYE follow the recorded route. Both SDPs as received are summarized
so a caller can see what the media relay made of each leg."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Literal

from voipctl.probe.dialog import (
    Identity,
    ack_for,
    contact_uri,
    credentials,
    exchange,
    fetch_bindings,
    final_response,
    lists_contact,
    make_request,
    read_message,
    register,
)
from voipctl.probe.result import ProbeResult, recording
from voipctl.probe.sdp import MediaKind, body, summarize
from voipctl.probe.sipmsg import (
    Request,
    SipMessage,
    angle_uri,
    build_request,
    build_response,
    header_param,
    new_branch,
    new_token,
)
from voipctl.probe.transport import Channel, Target, connect


@dataclass(frozen=True)
class Leg:
    """One party: where it connects, who it is, its password, and what media it speaks."""

    target: Target
    ident: Identity
    password: str = field(repr=False)
    media: MediaKind = "plain"
    media_port: int = 40000


def route_set(msg: SipMessage, uac: bool = True) -> tuple[str, ...]:
    """A dialog's route set: Record-Route entries of the 2xx reversed (caller), of the INVITE as is (callee)."""
    entries = [e for rr in msg.header_all("Record-Route") for e in re.findall(r"<[^>]+>", rr)]
    return tuple(reversed(entries)) if uac else tuple(entries)


def wait_request(ch: Channel, method: str, timeout: float) -> SipMessage | None:
    """The next `method` request on the channel; anything else (pings, retransmissions) is skipped."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        msg = read_message(ch, remaining)
        if msg is None:
            return None
        if msg.method == method:
            return msg
    return None


def _text(msg: SipMessage) -> str:
    """A received message as text: what a topology check reads for leaked addresses."""
    head = "\r\n".join([msg.start_line, *(f"{k}: {v}" for k, v in msg.headers)])
    return head + "\r\n\r\n" + msg.body.decode(errors="replace")


def _hangup(sender: Channel, receiver: Channel, bye: Request, timeout: float) -> int | None:
    """Send BYE, let the other side answer 200 when it arrives; the final status the sender saw."""
    sender.send(build_request(bye))
    incoming = wait_request(receiver, "BYE", timeout)
    if incoming is not None:
        receiver.send(build_response(incoming, 200, "OK"))
    reply = final_response(sender, bye, timeout)
    return reply.status if reply else None


def _call(caller_ch: Channel, callee_ch: Channel, caller: Leg, callee: Leg, domain: str, bye_from: str,
          timeout: float, result: ProbeResult) -> None:
    _, reg = register(callee_ch, callee.ident, domain, callee.password, 60, timeout)
    result.details["callee_register"] = reg.status if reg else None
    if reg is None or reg.status != 200:
        result.error = "callee could not register"
        return
    try:
        if caller.target.host != callee.target.host and not _binding_visible(caller_ch, callee_ch, callee, domain,
                                                                   timeout, result):
            result.error = "the callee's binding never reached the caller's node"
            return
        _dialog(caller_ch, callee_ch, caller, callee, domain, bye_from, timeout, result)
    finally:
        # a call that failed half-way must not leave the callee a stale binding later calls fork to
        register(callee_ch, callee.ident, domain, callee.password, 0, timeout)


def _binding_visible(caller_ch: Channel, callee_ch: Channel, callee: Leg, domain: str, timeout: float,
                     result: ProbeResult) -> bool:
    """Through another node (a cluster: bindings replicate asynchronously), wait until the caller's
    node lists the callee's fresh binding, so the call tests routing, not replication delay. Only
    then: each fetch is two more requests against the node's per-source flood limit."""
    started = time.monotonic()
    mine = contact_uri(callee.ident.user, callee_ch)
    while time.monotonic() - started < timeout:
        if lists_contact(fetch_bindings(caller_ch, callee.ident, domain, callee.password, timeout), mine):
            result.details["callee_binding_seen_ms"] = round((time.monotonic() - started) * 1000)
            return True
        time.sleep(0.05)
    return False


def _dialog(caller_ch: Channel, callee_ch: Channel, caller: Leg, callee: Leg, domain: str, bye_from: str,
            timeout: float, result: ProbeResult) -> None:
    me = Identity(caller.ident.user, domain, caller.ident.user_agent)
    aor = f"sip:{callee.ident.user}@{domain}"
    offer = body(caller.media, caller_ch.local[0], caller.media_port, offer=True)
    invite = replace(
        make_request(caller_ch, "INVITE", aor, me, aor, new_token(), new_token(), 1,
                     contact_uri(me.user, caller_ch)),
        body=offer, content_type="application/sdp",
    )
    challenge = exchange(caller_ch, invite, timeout)
    result.details["challenge"] = challenge.status if challenge else None
    if challenge is None or challenge.status not in (401, 407):
        result.answer(challenge)
        return
    caller_ch.send(build_request(ack_for(invite, challenge)))
    invite = replace(invite, cseq=2, branch=new_branch(),
                     extra=(credentials(challenge, invite, me.user, caller.password),))
    caller_ch.send(build_request(invite))

    incoming = wait_request(callee_ch, "INVITE", timeout)
    if incoming is None:
        result.error = "the INVITE never reached the callee"
        return
    offered = summarize(incoming.body)
    result.details["callee_sdp"] = offered.as_dict()
    result.details["callee_received"] = [_text(incoming)]
    to_tag = new_token()
    answer = body(callee.media, callee_ch.local[0], callee.media_port, offer=False, mid=offered.mid or "0")
    callee_ch.send(build_response(incoming, 200, "OK", to_tag, contact_uri(callee.ident.user, callee_ch),
                                  answer, "application/sdp"))

    ok = final_response(caller_ch, invite, timeout)
    result.answer(ok)
    if ok is None or ok.status != 200:
        return
    result.details["caller_sdp"] = summarize(ok.body).as_dict()
    dialog = replace(
        invite, uri=angle_uri(ok.header("Contact") or aor), routes=route_set(ok),
        to_tag=header_param(ok.header("To") or "", "tag"), extra=(), body=b"", content_type=None,
    )
    caller_ch.send(build_request(replace(dialog, method="ACK", branch=new_branch())))
    ack = wait_request(callee_ch, "ACK", timeout)
    result.details["callee_got_ack"] = ack is not None
    if ack is not None:
        result.details["callee_received"].append(_text(ack))

    if bye_from == "caller":
        bye = replace(dialog, method="BYE", cseq=invite.cseq + 1, branch=new_branch())
        result.details["bye"] = _hangup(caller_ch, callee_ch, bye, timeout)
    else:
        # the callee's own dialog view: From/To swapped, the Call-ID and caller's Contact as the
        # proxy passed them on (topology hiding encodes both), the INVITE's Record-Route in order
        them = Identity(callee.ident.user, domain, callee.ident.user_agent)
        bye = replace(
            make_request(callee_ch, "BYE", angle_uri(incoming.header("Contact") or ""), them,
                         f"sip:{me.user}@{domain}", incoming.header("Call-ID") or invite.call_id, to_tag, 1),
            to_tag=invite.from_tag, routes=route_set(incoming, uac=False),
        )
        result.details["bye"] = _hangup(callee_ch, caller_ch, bye, timeout)


def probe_call(
    caller: Leg, callee: Leg, domain: str, bye_from: Literal["caller", "callee"] = "caller", timeout: float = 5.0
) -> ProbeResult:
    """Call callee@domain from caller@domain and hang up from `bye_from`; `status` is the INVITE's answer."""
    result = ProbeResult.for_target("call", caller.target)
    with recording(result), connect(callee.target, timeout) as callee_ch, \
            connect(caller.target, timeout) as caller_ch:
        result.tls_version = caller_ch.tls_version
        _call(caller_ch, callee_ch, caller, callee, domain, bye_from, timeout, result)
    return result
