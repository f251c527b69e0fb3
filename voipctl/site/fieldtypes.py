"""Constrained scalar types of the site file: DNS names, TURN URIs, labels, SIP users, ports.

Checked by pydantic where a site field uses them; kept apart from the section models in spec.py.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

Port = Annotated[int, Field(ge=1, le=65535)]

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"


def _domain(value: str) -> str:
    value = value.lower().rstrip(".")
    if len(value) > 253 or not re.fullmatch(rf"({_LABEL}\.)+[a-z]{{2,63}}", value):
        raise ValueError(f"{value!r} is not a valid DNS domain (e.g. sip.example.com)")
    return value


Domain = Annotated[str, AfterValidator(_domain)]


def _turn_uri(value: str) -> str:
    """RFC 7065 form: turn[s]:host[:port][?transport=udp|tcp]; host a DNS name or an IPv4 address."""
    match = re.fullmatch(r"(turns?):([a-z0-9.-]+|\[[0-9a-f:]+\])(:[0-9]{1,5})?(\?transport=(udp|tcp))?", value)
    if match is None:
        raise ValueError(f"{value!r} is not a TURN URI (turn:host[:port][?transport=udp|tcp] or turns:...)")
    if match.group(1) == "turns" and match.group(5) == "udp":
        raise ValueError(f"{value!r}: turns: runs over TLS, so transport=udp is not possible")
    return value


TurnUri = Annotated[str, AfterValidator(_turn_uri)]
Name = Annotated[str, Field(pattern=rf"^{_LABEL}$", max_length=63)]
SipUser = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
