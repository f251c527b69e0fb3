"""Medians, ratios B/A (>1: the generated config is cheaper / faster), the table and the JSON."""

from __future__ import annotations

import statistics
from typing import Any

from voipctl.sipload.bench import CALL_METRIC, CONFIGS, CORE_METRIC, MAX_METRIC, Figures, Settings, register_metric

# What A and B do differently, besides speed; printed with every result.
FUNCTIONAL_DIFFERENCES = (
    "A drops known scanner User-Agents, refuses messages over max_message_bytes and non-WebSocket SIP on "
    "WebSocket ports, checks WebSocket Host/Origin; B does none of these.",
    "A runs pike on every non-loopback source (set here to 65535 requests/s so the one load generator is "
    "never banned; the ban is still checked); B has no flood protection (WITH_ANTIFLOOD is not defined).",
    "A checks digests against an in-memory copy of the DB's HA1 column (htable, loaded at start and "
    "reloaded by deploy when the subscribers change; the password is never stored); B queries the DB for "
    "every digest check and computes HA1 from the plaintext password column (calculate_ha1 yes), so its "
    "DB holds plaintext passwords and a password changed in the DB applies at once.",
    "A also listens on TLS and WSS (tls and websocket modules loaded); B on UDP and TCP only. "
    "The load is UDP for both.",
    "B loads acc (transaction accounting to syslog), ctl, cfg_rpc, counters, textopsx; A does not.",
    "A anchors every call's media in rtpengine; B only calls with a party behind NAT. The call load's caller "
    "is behind NAT (private Via, Contact and SDP, packets source-NATed to a public address in the bed), so "
    "both anchor every benchmark call (offer, answer, delete) and both run their NAT handling.",
    "A keeps registrations in the DB too (usrloc write-back, a timer flush every 60 s); B in memory only.",
    "Both: digest auth on REGISTER and INVITE, no open relay, NAT detection, record-route, the same process "
    "counts, listen address and rtpengine.",
)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def medians(figures: Figures) -> dict[str, dict[str, float]]:
    return {config: {metric: median(values) for metric, values in per.items()} for config, per in figures.runs.items()}


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def ratios(med: dict[str, dict[str, float]], settings: Settings, other: str) -> dict[str, float]:
    """B/A: CPU ratios are other/A (A cheaper: > 1); the rate ratio is A/other (A faster: > 1).

    register_cpu_ratio is the smaller of the per-rate ratios, so one good rate cannot hide a bad one.
    """
    a, b = med["A"], med[other]
    per_rate = {rate: _ratio(b[register_metric(rate)], a[register_metric(rate)]) for rate in settings.register_rates}
    out = {
        "register_cpu_ratio": min(per_rate.values()),
        "call_cpu_ratio": _ratio(b[CALL_METRIC], a[CALL_METRIC]),
        "max_register_ratio": _ratio(a[MAX_METRIC], b[MAX_METRIC]),
    }
    out |= {f"register_cpu_ratio_at_{rate}": value for rate, value in per_rate.items()}
    return out


def table(med: dict[str, dict[str, float]], settings: Settings) -> str:
    """One row per figure; ratio columns for the compared figures (> 1: A cheaper or faster)."""
    configs = [c for c in CONFIGS if c in med]
    rows = [(f"REGISTER at {r}/s: kamailio CPU µs per challenge+REGISTER", register_metric(r), "{:.1f}", -1)
            for r in settings.register_rates]
    rows += [(f"call at {settings.call_rate}/s: CPU µs per INVITE/407/INVITE/200/ACK/BYE", CALL_METRIC, "{:.0f}", -1),
             ("max sustained REGISTER/s (<= 1 % failed)", MAX_METRIC, "{:.0f}", 1),
             ("  kamailio's share of its core at that rate", CORE_METRIC, "{:.0%}", 0)]
    others = [c for c in configs if c != "A"]
    head = f"{'':58}" + "".join(f"{c:>10}" for c in configs) + "".join(f"{c + '/A':>10}" for c in others)
    lines = [head]
    for label, metric, fmt, direction in rows:
        cells = "".join(f"{fmt.format(med[c].get(metric, float('nan'))):>10}" for c in configs)
        for c in others:
            if direction:
                num, den = (med[c][metric], med["A"][metric]) if direction < 0 else (med["A"][metric], med[c][metric])
                cells += f"{_ratio(num, den):>10.2f}"
        lines.append(f"{label:58}{cells}")
    return "\n".join(lines)


def document(figures: Figures, settings: Settings, machine: dict[str, Any]) -> dict[str, Any]:
    med = medians(figures)
    doc: dict[str, Any] = dict(ratios(med, settings, "B"))
    doc["same_options"] = ratios(med, settings, "B=") if "B=" in med else None
    doc["configs"] = {c: CONFIGS[c] for c in med}
    doc["medians"] = med
    doc["runs"] = figures.runs
    doc["settings"] = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    doc["machine"] = machine
    doc["functional_differences"] = list(FUNCTIONAL_DIFFERENCES)
    return doc
