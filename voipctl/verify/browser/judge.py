"""Verdicts: each call record becomes outcomes that pass only on positive evidence.

A call passes only when the phone finished its scenario, the browser held it for
at least MIN_HOLD seconds and hung up, DTLS-SRTP was up, rtpengine counted packets
both ways on both legs, and the plain leg stayed plain. The relay call must also
show its media arriving at rtpengine from coturn's relay range and coturn holding
relay sockets.
"""

from __future__ import annotations

from voipctl.probe.sdp import SdpSummary
from voipctl.verify.browser import media
from voipctl.verify.browser.config import SiteTargets
from voipctl.verify.browser.media import in_relay_range
from voipctl.verify.browser.scenario import CallRecord
from voipctl.verify.report.outcome import Outcome

GROUP = "browser"
MIN_HOLD = 5.0


def _o(name: str, ok: bool, detail: str, host: str = "") -> Outcome:
    return Outcome(GROUP, name, "passed" if ok else "failed", detail, host)


def phone_registration(targets: SiteTargets, rc: int) -> Outcome:
    where = f"{targets.sip_udp[0]}:{targets.sip_udp[1]}"
    detail = (f"SIPp REGISTER of {targets.phone_user} through sip node {targets.phone_node} (udp {where}): "
              + ("200" if rc == 0 else f"exit {rc}"))
    return _o("phone registers (plain SIP)", rc == 0, detail, targets.phone_node)


def browser_registration(targets: SiteTargets, error: str | None) -> Outcome:
    ok = error is None
    detail = (f"JsSIP REGISTER of {targets.browser_user} through sip node {targets.kamailio_node} over "
              f"{targets.ws_url} (TLS verified against the site CA)")
    return _o("browser registers over WSS", ok, detail if ok else f"{detail}: {error}", targets.kamailio_node)


def _signalling(rec: CallRecord) -> Outcome:
    if rec.error is not None:
        return _o(f"{rec.name}: call", False, rec.error)
    problems = []
    if rec.held < MIN_HOLD:
        problems.append(f"held {rec.held:.1f} s < {MIN_HOLD:.0f} s")
    if rec.hangup is None or not rec.hangup.startswith("local"):
        problems.append(f"not hung up by the browser ({rec.hangup})")
    if rec.phone_rc != 0:
        problems.append(f"phone (SIPp) scenario exit {rec.phone_rc}")
    detail = f"answered, held {rec.held:.1f} s, browser hung up ({rec.hangup}), phone scenario complete"
    return _o(f"{rec.name}: call", not problems, "; ".join(problems) or detail)


def _dtls(rec: CallRecord, bundle_policy: str) -> Outcome:
    """Media flowed over DTLS-SRTP, on a connection with the bundle policy the site's platform calls for."""
    s = rec.stats
    ok = s.get("dtlsState") == "connected" and bool(s.get("srtpCipher"))
    sent, got = s.get("packetsSent", 0), s.get("packetsReceived", 0)
    ok = ok and sent > 0 and got > 0 and s.get("bundlePolicy") == bundle_policy
    local = s.get("local") or {}
    detail = (f"dtlsState={s.get('dtlsState')} srtpCipher={s.get('srtpCipher')} codec={s.get('codec')} "
              f"packets sent={sent} received={got} candidate={local.get('type')} "
              f"bundlePolicy={s.get('bundlePolicy')} (expected {bundle_policy})")
    return _o(f"{rec.name}: browser leg DTLS-SRTP", ok, detail)


def _rtpengine(rec: CallRecord) -> Outcome:
    """Both legs, both ways: rtpengine received RTP from browser and phone, and the browser received
    RTP (from rtpengine, its only peer); the phone only echoes what it received from rtpengine. Each count
    must reach half of what 20 ms packets over the time held imply, and rise between two queries."""
    name = f"{rec.name}: rtpengine media both legs, both ways"
    if rec.ng_error is not None:
        return _o(name, False, rec.ng_error)
    # A call forked to several contacts of the callee leaves one party per losing branch that
    # was offered media but never answered: it has no endpoint and is not a leg of the call.
    legs = [f for f in rec.flows if f.address is not None]
    web = [f for f in legs if f.webrtc]
    plain = [f for f in legs if not f.webrtc]
    to_browser = int(rec.stats.get("packetsReceived", 0) or 0)
    problems = [] if len(web) == 1 and len(plain) == 1 else [f"{len(web)} WebRTC and {len(plain)} plain legs"]
    if rec.first is None:
        problems.append("rtpengine was queried once only")
    else:
        problems += media.flow_problems(rec.first, media.FlowSnapshot(rec.flows_at, tuple(legs)))
    if to_browser < media.min_packets(rec.stats_at):
        problems.append(f"browser received {to_browser} packets in {rec.stats_at:.1f} s "
                        f"(< {media.min_packets(rec.stats_at)})")
    shown = "; ".join(("WebRTC leg " if f.webrtc else "plain leg ") + f.describe() for f in legs)
    unanswered = len(rec.flows) - len(legs)
    detail = (f"media node {rec.media_node}: {shown or 'rtpengine reports no legs'}; "
              f"browser received {to_browser} RTP packets"
              + (f"; {unanswered} unanswered forked branch(es) ignored" if unanswered else ""))
    return _o(name, not problems, detail + ("; " + "; ".join(problems) if problems else ""))


def _plain(sdp: SdpSummary | None, who: str) -> tuple[bool, str]:
    """Whether an SDP a plain phone received is plain RTP/AVP without ICE, DTLS or SDES."""
    if sdp is None:
        return False, f"the {who} received no SDP"
    ok = sdp.proto == "RTP/AVP" and not sdp.ice and sdp.candidates == 0 and not sdp.fingerprint and not sdp.crypto
    detail = (f"{sdp.proto} {sdp.address}:{sdp.port}, ICE={'yes' if sdp.ice else 'no'}, "
              f"candidates={sdp.candidates}, DTLS fingerprint={'yes' if sdp.fingerprint else 'no'}")
    return ok, detail


def _plain_sdp(rec: CallRecord) -> Outcome:
    return _o(f"{rec.name}: plain leg SDP", *_plain(rec.phone_sdp, "phone"))


def _refresh(rec: CallRecord) -> Outcome:
    """The browser's re-INVITE in a call the phone started must reach the phone and be answered."""
    ok = rec.refresh == "ok"
    detail = "re-INVITE answered 200 by the phone, new answer applied" if ok else f"{rec.refresh or 'not tried'}"
    return _o(f"{rec.name}: browser re-INVITE (target refresh) answered", ok, detail)


def _fork(rec: CallRecord) -> Outcome:
    """The desk phone sharing the browser's user: registered, sent a plain offer of its own, cancelled."""
    name = f"{rec.name}: desk phone branch offered plain RTP, then cancelled"
    if rec.desk_registered != 0:
        return _o(name, False, f"the desk phone could not register (SIPp exit {rec.desk_registered})")
    ok, detail = _plain(rec.desk_sdp, "desk phone")
    if rec.desk_rc != 0:
        return _o(name, False, f"desk phone scenario exit {rec.desk_rc} (no CANCEL?); {detail}")
    return _o(name, ok, f"{detail}; CANCEL received")


def _relay(rec: CallRecord, targets: SiteTargets) -> list[Outcome]:
    local = rec.stats.get("local") or {}
    browser_ok = local.get("type") == "relay"
    b_detail = f"selected local candidate {local.get('type')} {local.get('address')}:{local.get('port')}"
    web = [f for f in rec.flows if f.webrtc]
    # behind a 1:1 NAT, rtpengine sees the relayed media from the TURN node's NAT address (the cloud's hairpin)
    from_relay = [t for t in targets.turn for f in web for a in {t.relay_address, t.address}
                  if in_relay_range(f, a, t.relay_min, t.relay_max)]
    seen = web[0].describe() if web else "no WebRTC leg"
    coturn_ok = bool(from_relay) and rec.relay_sockets > 0
    c_detail = f"rtpengine's WebRTC leg: {seen}; coturn's relay sockets during the call: {rec.relay_sockets}"
    return [
        _o(f"{rec.name}: browser used a relay candidate", browser_ok, b_detail),
        _o(f"{rec.name}: media relayed by coturn", coturn_ok, c_detail),
    ]


def judge_call(rec: CallRecord, targets: SiteTargets) -> list[Outcome]:
    out = [_signalling(rec), _dtls(rec, targets.bundle_policy), _rtpengine(rec), _plain_sdp(rec)]
    if rec.policy == "relay":
        out += _relay(rec, targets)
    if rec.direction == "inbound":
        out.append(_refresh(rec))
    if rec.desk_registered is not None:
        out.append(_fork(rec))
    return out
