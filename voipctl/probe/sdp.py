"""Pure SDP for the call probe: a browser-like (WebRTC) or a plain SIP phone body, and a summary
of what a body offers, so a caller can check how the media relay rewrote it."""

from __future__ import annotations

import base64
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Literal

MediaKind = Literal["webrtc", "plain", "sdes"]


def _fingerprint() -> str:
    return ":".join(f"{b:02X}" for b in secrets.token_bytes(32))


def body(kind: MediaKind, address: str, port: int, offer: bool, mid: str = "0") -> bytes:
    """One audio stream. WebRTC: DTLS-SRTP, ICE host candidate, rtcp-mux; plain: RTP/AVP only;
    sdes: an SRTP desk phone (RTP/SAVPF with a=crypto, no ICE, no DTLS) that must not pass for WebRTC.

    An answer must carry the offer's media ID (`mid`), as a browser would.
    """
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=- {secrets.randbelow(1 << 31)} 1 IN {family} {address}",
        "s=-",
        f"c=IN {family} {address}",
        "t=0 0",
    ]
    if kind == "webrtc":
        lines += [
            f"m=audio {port} UDP/TLS/RTP/SAVPF 111 0",
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:0 PCMU/8000",
            f"a=mid:{mid}",
            "a=rtcp-mux",
            f"a=ice-ufrag:{secrets.token_hex(4)}",
            f"a=ice-pwd:{secrets.token_hex(12)}",
            f"a=fingerprint:sha-256 {_fingerprint()}",
            f"a=setup:{'actpass' if offer else 'active'}",
            f"a=candidate:1 1 udp 2130706431 {address} {port} typ host",
        ]
    elif kind == "sdes":
        key = base64.b64encode(secrets.token_bytes(30)).decode()
        lines += [f"m=audio {port} RTP/SAVPF 0", "a=rtpmap:0 PCMU/8000",
                  f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}"]
    else:
        lines += [f"m=audio {port} RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"]
    lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class SdpSummary:
    """The media facts of a body that tell a WebRTC leg from a plain one."""

    proto: str | None
    address: str | None
    port: int | None
    ice: bool
    candidates: int
    fingerprint: bool
    setup: str | None
    rtcp_mux: bool
    rtcp_port: bool
    crypto: bool
    mid: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(sdp: bytes) -> SdpSummary:
    """Summarize the first audio stream (session-level c= applies unless the media has its own)."""
    proto = address = setup = mid = None
    port = None
    ice = fingerprint = mux = rtcp = crypto = False
    candidates = 0
    in_audio = False
    for raw in sdp.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if in_audio:
                break
            parts = line[2:].split()
            in_audio = parts[0] == "audio"
            if in_audio and len(parts) >= 3:
                port, proto = (int(parts[1]) if parts[1].isdigit() else None), parts[2]
            continue
        if line.startswith("c=") and (in_audio or address is None):
            address = line.split()[-1]
        if not in_audio and not line.startswith(("a=ice-", "a=fingerprint", "a=setup")):
            continue
        ice |= line.startswith("a=ice-ufrag")
        fingerprint |= line.startswith("a=fingerprint")
        mux |= line == "a=rtcp-mux"
        rtcp |= line.startswith("a=rtcp:")
        crypto |= line.startswith("a=crypto")
        candidates += line.startswith("a=candidate")
        if line.startswith("a=setup:"):
            setup = line.split(":", 1)[1]
        if line.startswith("a=mid:"):
            mid = line.split(":", 1)[1]
    return SdpSummary(proto, address, port, ice, candidates, fingerprint, setup, mux, rtcp, crypto, mid)
