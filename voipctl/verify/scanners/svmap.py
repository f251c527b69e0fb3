"""The scanner probe: `sipvicious_svmap` (a well-known SIP scanner) must find nothing.

kamailio drops requests whose User-Agent names a scanner, so svmap should see
no SIP device at all; a table row naming the target means it was answered.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from voipctl.plan.model import Plan
from voipctl.proc import run
from voipctl.resources import find_executable
from voipctl.verify.probes.build import Probe
from voipctl.verify.probes.dispatch import run_agents
from voipctl.verify.probes.vantage import Vantage
from voipctl.verify.report.outcome import Outcome

TIMEOUT = 60
# svmap's exit code when every request went unanswered and nothing else went wrong (sent != received).
SILENT_EXIT = 30
_TROUBLE = ("ERROR", "CRITICAL")
_ROW = re.compile(r"^\|\s*(\S+:\d+)\s*\|\s*(.*?)\s*\|\s*$", re.MULTILINE)


def svmap_argv(binary: str, host: str, port: int) -> list[str]:
    return [binary, host, "-p", str(port)]


def found_devices(output: str) -> dict[str, str]:
    """`host:port` -> user agent for every device svmap lists in its table."""
    return {m.group(1): m.group(2) for m in _ROW.finditer(output) if m.group(1) != "SIP"}


def _tail(output: str) -> str:
    return " | ".join(output.strip().splitlines()[-3:]) or "no output"


def judge_svmap(output: str, returncode: int, target: str, control: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, detail): a pass needs svmap's clean "nothing answered" run AND an answer to a plain
    OPTIONS from the same place right after it; anything else (listed, errors, a dead target) fails."""
    devices = found_devices(output)
    if target in devices:
        return False, f"svmap found {target} (User-Agent {devices[target] or 'none'})"
    trouble = [ln for ln in output.splitlines() if ln.startswith(_TROUBLE) or "Traceback" in ln]
    if returncode != SILENT_EXIT or "found nothing" not in output or trouble or devices:
        return False, f"svmap did not complete cleanly (exit {returncode}): {' | '.join(trouble) or _tail(output)}"
    if not control.get("answered"):
        why = control.get("error") or "no answer"
        return False, f"svmap got no answer, and neither did a plain OPTIONS right after it ({why}): " \
                      "the target is not reachable from here, which says nothing about scanner filtering"
    return True, (f"svmap found nothing (exit {SILENT_EXIT}: its request went unanswered) while a plain OPTIONS "
                  f"right after it got {control.get('status')} {control.get('reason') or ''}".rstrip())


def control_probe(plan: Plan, vantage: Vantage, node: str, host: str, port: int) -> Probe:
    """The plain OPTIONS that shows the target answers ordinary clients from this vantage."""
    return Probe("svmap-control", vantage.name, "sip_options", "scanner", "control OPTIONS", node,
                 {"transport": "udp", "host": host, "port": port, "domain": plan.domain})


def svmap_targets(plan: Plan) -> list[tuple[str, str, int]]:
    """(node, address, port) of every public SIP UDP listener."""
    found = []
    for node in plan.nodes:
        if node.kamailio is None:
            continue
        for lst in node.kamailio.listeners:
            if lst.proto == "udp" and lst.address == node.client_address:
                found.append((node.name, lst.reached_at, lst.port))
    return found


def run_svmap(plan: Plan, vantage: Vantage) -> list[Outcome]:
    """One scan per target, each followed by its control OPTIONS. Run it alone: SIP probes from the
    same source at the same time could get it banned, and a ban would look like a filtered scanner."""
    binary = find_executable("sipvicious_svmap")
    targets = svmap_targets(plan)
    if not targets:
        return [Outcome("scanner", "sipvicious_svmap gets no answer", "skipped",
                        "the plan has no public SIP UDP listener to scan", vantage=vantage.name)]
    out = []
    for node, host, port in targets:
        name = f"sipvicious_svmap against udp {host}:{port} gets no answer"
        if binary is None:
            out.append(Outcome("scanner", name, "failed", "sipvicious_svmap is not installed (pip install sipvicious)",
                               node, vantage.name))
            continue
        started = time.monotonic()
        proc = run(vantage.wrap(svmap_argv(binary, host, port)), timeout=TIMEOUT)
        if proc.timed_out:
            passed, detail = False, f"svmap did not finish within {TIMEOUT}s"
        else:
            control = control_probe(plan, vantage, node, host, port)
            result = run_agents([vantage], [control]).get(control.id, {"error": "the control probe did not run"})
            passed, detail = judge_svmap(proc.stdout + proc.stderr, proc.returncode, f"{host}:{port}", result)
        out.append(Outcome("scanner", name, "passed" if passed else "failed", detail, node, vantage.name,
                           time.monotonic() - started))
    return out
