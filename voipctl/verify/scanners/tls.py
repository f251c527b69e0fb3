"""TLS scan (sslyze) of every TLS socket clients reach: SIP-TLS, WSS, TURN-TLS (and XMPP when it runs).

Each target must accept only TLS 1.2/1.3 and present a chain that verifies
against the site CA, none of whose certificates the site's current CRLs revoke.
The scan runs in `sslyze_runner` under whichever Python has sslyze; this module
picks targets, starts it and judges its findings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipctl.plan.model import Plan
from voipctl.proc import run
from voipctl.verify.hosts.packages import openfire_skip_reason
from voipctl.verify.probes.vantage import Vantage
from voipctl.verify.report.outcome import Outcome, Status
from voipctl.verify.scanners.executables import sslyze_python

SCAN_TIMEOUT = 300
NETWORK_TIMEOUT = 2
CONCURRENCY = 40
# kamailio 5.6 (Debian 12) with OpenSSL 3 shares OpenSSL's per-thread error state between its forked
# workers (it lives in shared memory): concurrent failing handshakes, which a scan of the old protocol
# versions is, corrupt it and crash kamailio (kamailio issue #3791; upstream's cure is 5.8's
# tls_threads_mode). Measured on the lab: 40 connections at once crashed it within 2-3 scans (1 in 30 on
# another lab), one at a time once in 150 (double frees still logged), and a target still scans in ~0.5 s.
# coturn stays silent on old versions, so its handshakes wait out the timeout and want the parallelism.
SERIAL_SERVICES = frozenset({"kamailio"})
RUNNER = Path(__file__).with_name("sslyze_runner.py")
MODERN = ("TLS 1.2", "TLS 1.3")
LEGACY = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1")


@dataclass(frozen=True)
class TlsTarget:
    id: str
    label: str
    service: str
    node: str
    name: str
    host: str
    port: int

    @property
    def where(self) -> str:
        return f"{self.label} {self.host}:{self.port}"


def tls_targets(plan: Plan) -> list[TlsTarget]:
    found: list[TlsTarget] = []
    for node in plan.nodes:
        if node.kamailio is not None:
            for lst in node.kamailio.listeners:
                if lst.address != node.client_address or lst.proto not in ("tls", "wss"):
                    continue
                name = lst.tls_name or plan.domain
                label = "SIP-TLS" if lst.proto == "tls" else "WSS"
                found.append(TlsTarget(f"t{len(found)}", label, "kamailio", node.name, name, lst.reached_at,
                                       lst.port))
        if node.coturn is not None:
            c = node.coturn
            found.append(TlsTarget(f"t{len(found)}", "TURN-TLS", "coturn", node.name, c.host, c.reached_at,
                                   c.tls_port))
        if node.openfire is not None and openfire_skip_reason(node) is None:
            of = node.openfire
            found.append(TlsTarget(f"t{len(found)}", "XMPP-TLS", "openfire", node.name, of.domain,
                                   node.advertised, of.client_tls_port))
    return found


def scan_job(targets: Sequence[TlsTarget], ca_file: str) -> dict[str, Any]:
    return {
        "targets": [{"id": t.id, "name": t.name, "host": t.host, "port": t.port,
                     "concurrency": 1 if t.service in SERIAL_SERVICES else CONCURRENCY} for t in targets],
        "ca_file": ca_file, "timeout": NETWORK_TIMEOUT,
    }


def scan_argv(python: str) -> list[str]:
    return [python, "-W", "ignore", str(RUNNER)]


Revocation = Callable[[list[int]], "str | None"]  # the chain's serials -> why it must not be trusted, or None


def judge_target(found: Mapping[str, Any], revocation: Revocation | None = None,
                 ) -> tuple[tuple[Status, str], tuple[Status, str]]:
    """(versions verdict, chain verdict) for one target's findings; `revocation` judges the chain's serials."""
    if found.get("connectivity") != "ok":
        why = f"no TLS connection: {found.get('connectivity') or found.get('error') or 'scan did not run'}"
        return ("failed", why), ("failed", why)
    protocols: Mapping[str, int] = found.get("protocols", {})
    errors: Mapping[str, str] = found.get("errors", {})
    legacy = [p for p in LEGACY if protocols.get(p, 0) > 0]
    modern = [f"{p} ({protocols[p]} suites)" for p in MODERN if protocols.get(p, 0) > 0]
    versions: tuple[Status, str]
    if legacy:
        versions = ("failed", f"accepts {', '.join(legacy)}")
    elif errors:
        versions = ("failed", "scan errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    elif not modern:
        versions = ("failed", "accepts neither TLS 1.2 nor TLS 1.3")
    else:
        versions = ("passed", "only " + ", ".join(modern))
    if found.get("retried"):  # the first attempt failed: say so, a server that dropped us may have crashed
        versions = (versions[0], f"{versions[1]} (on a retry; the first attempt: {found['retried']})")
    serials = [int(s, 16) for s in found.get("serials", [])]
    revoked = revocation(serials) if revocation is not None and serials else None
    if found.get("ca_valid") and revoked is not None:
        chain: tuple[Status, str] = ("failed", revoked)
    elif found.get("ca_valid"):
        chain = ("passed", " <- ".join(found.get("chain", [])))
    else:
        chain = ("failed", f"does not verify against the site CA: {found.get('ca_error') or found.get('error')}")
    return versions, chain


def outcomes_for(targets: Sequence[TlsTarget], results: Mapping[str, Mapping[str, Any]], vantage: str,
                 seconds: float, revocation: Revocation | None = None) -> list[Outcome]:
    out = []
    for t in targets:
        (vs, vd), (cs, cd) = judge_target(results.get(t.id, {"error": "the scan produced no result"}), revocation)
        out.append(Outcome("tls", f"{t.where} accepts only TLS 1.2/1.3", vs, vd, t.node, vantage, seconds))
        out.append(Outcome("tls", f"{t.where} chain verifies against the site CA", cs, cd, t.node, vantage, seconds))
    return out


def run_scan(plan: Plan, vantage: Vantage, ca_file: Path, services: Collection[str],
             revocation: Revocation | None = None) -> list[Outcome]:
    """Scan the targets of `services` from `vantage`; a missing sslyze fails their checks with the reason."""
    started = time.monotonic()
    targets = [t for t in tls_targets(plan) if t.service in services]
    if not targets:
        return []
    python = sslyze_python()
    if python is None:
        why = "sslyze is not installed (pip install sslyze; in its own venv if its cryptography pin clashes)"
        return outcomes_for(targets, {t.id: {"error": why} for t in targets}, vantage.name, 0.0)
    proc = run(vantage.wrap(scan_argv(python)), stdin=json.dumps(scan_job(targets, str(ca_file))),
               timeout=SCAN_TIMEOUT)
    if proc.timed_out:
        results = {t.id: {"error": f"sslyze did not finish within {SCAN_TIMEOUT}s"} for t in targets}
    else:
        try:
            results = json.loads(proc.stdout)["results"]
        except (ValueError, KeyError, TypeError):
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            results = {t.id: {"error": f"sslyze runner failed (exit {proc.returncode}): {tail}"} for t in targets}
    return outcomes_for(targets, results, vantage.name, time.monotonic() - started, revocation)
