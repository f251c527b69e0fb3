"""Start one probe agent per vantage, hand it its jobs on stdin, collect its raw results."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from voipctl.proc import run
from voipctl.verify.probes.build import Probe
from voipctl.verify.probes.vantage import Vantage

AGENT_TIMEOUT = 180


def agent_argv(vantage: Vantage, python: str = sys.executable) -> list[str]:
    return vantage.wrap([python, "-m", "voipctl.verify.probes.executor"])


def _run(vantage: Vantage, probes: Sequence[Probe]) -> dict[str, dict[str, Any]]:
    """Results by probe id; on an agent failure each of its probes gets that error instead."""
    stdin = json.dumps({"jobs": [p.job() for p in probes]})
    proc = run(agent_argv(vantage), stdin=stdin, timeout=AGENT_TIMEOUT)
    if proc.error is not None:
        return {p.id: {"error": f"agent at {vantage.name} failed: {proc.error}"} for p in probes}
    try:
        results = json.loads(proc.stdout)["results"]
    except (ValueError, KeyError, TypeError):
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return {p.id: {"error": f"agent at {vantage.name} exited {proc.returncode}: {tail}"} for p in probes}
    return {str(k): dict(v) for k, v in results.items()}


def run_agents(vantages: Sequence[Vantage], probes: Sequence[Probe]) -> dict[str, dict[str, Any]]:
    """Run every vantage's probes at once (each vantage is its own process and source address)."""
    by_vantage = {v.name: [p for p in probes if p.vantage == v.name] for v in vantages}
    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(vantages))) as pool:
        futures = [pool.submit(_run, v, by_vantage[v.name]) for v in vantages if by_vantage[v.name]]
        for f in futures:
            results.update(f.result())
    return results
