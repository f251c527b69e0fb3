"""The site file's flood-protection section: pike limits that fit pike, and the declared aggregators."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator

from voipctl.site.addresses import bounded_network

# pike keeps its per-source request limit and hit counters in 16 bits: larger limits wrap.
PIKE_MAX_REQUESTS = 65535


def _pike_limit(value: int) -> int:
    if value > PIKE_MAX_REQUESTS:
        raise ValueError(f"{value} is more than pike can count: it stores the limit in 16 bits "
                         f"(at most {PIKE_MAX_REQUESTS} requests per sampling period; larger values wrap)")
    return value


def _aggregator(value: Any) -> str:
    """An address or network of many clients behind one source."""
    net = bounded_network(value, "it would exempt a large part of the internet from flood protection")
    if net.is_loopback:
        raise ValueError(f"{value!r} is loopback, which is always exempt")
    return str(net)


Aggregator = Annotated[str, PlainValidator(_aggregator), WithJsonSchema({"type": "string", "format": "ip-network"})]


class Flood(BaseModel):
    """pike limits per source address; offenders are banned in an htable for `ban_seconds`.

    `aggregators` are addresses/networks that carry many clients (SBCs, proxies, carrier or
    office NATs): they are exempt from the per-source limit and the ban, and their clients
    still authenticate. Loopback is always exempt; everything else is limited.
    Strict and frozen like every site model (voipctl.site.spec.Spec, which imports this one).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampling_seconds: Annotated[int, Field(ge=1, le=60)] = 2
    max_requests: Annotated[int, Field(ge=2), AfterValidator(_pike_limit)] = 40
    ban_seconds: Annotated[int, Field(ge=10, le=86400)] = 300
    aggregators: Annotated[list[Aggregator], Field(max_length=64)] = []
    scanner_user_agents: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9 ._/-]{3,64}$")]] = [
        "friendly-scanner",
        "sipvicious",
        "sipcli",
        "sip-scan",
        "VaxSIPUserAgent",
        "sundayddr",
        "iWar",
        "SIPBomber",
    ]

    @field_validator("aggregators")
    @classmethod
    def _distinct(cls, nets: list[str]) -> list[str]:
        parsed = [ip_network(n) for n in nets]
        for i, net in enumerate(parsed):
            for other in parsed[:i]:
                if net.version == other.version and net.overlaps(other):
                    raise ValueError(f"{net} overlaps {other}: list each aggregator once")
        return nets
