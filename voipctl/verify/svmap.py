"""The scanner probe: `sipvicious_svmap` (a well-known SIP scanner) must find nothing.

kamailio drops requests whose User-Agent names a scanner, so svmap should see
no SIP device at all; a table row naming the target means it was answered.
"""

from __future__ import annotations

import re
import subprocess
import time

from voipctl.plan.model import Plan
from voipctl.verify.result import Outcome
from voipctl.verify.tools import find_executable
from voipctl.verify.vantage import Vantage

TIMEOUT = 60
_ROW = re.compile(r"^\|\s*(\S+:\d+)\s*\|\s*(.*?)\s*\|\s*$", re.MULTILINE)


def svmap_argv(binary: str, host: str, port: int) -> list[str]:
    return [binary, host, "-p", str(port)]


def found_devices(output: str) -> dict[str, str]:
    """`host:port` -> user agent for every device svmap lists in its table."""
    return {m.group(1): m.group(2) for m in _ROW.finditer(output) if m.group(1) != "SIP"}


def judge_svmap(output: str, returncode: int, target: str) -> tuple[bool, str]:
    """(passed, detail): silence is a pass; being listed, or svmap failing to run, is not."""
    devices = found_devices(output)
    if target in devices:
        return False, f"svmap found {target} (User-Agent {devices[target] or 'none'})"
    if "found nothing" in output or (returncode == 30 and not devices):
        return True, "svmap found nothing (scanner requests dropped)"
    tail = " | ".join(output.strip().splitlines()[-3:])
    return False, f"svmap did not complete (exit {returncode}): {tail}"


def svmap_targets(plan: Plan) -> list[tuple[str, str, int]]:
    """(node, address, port) of every public SIP UDP listener."""
    found = []
    for node in plan.nodes:
        if node.kamailio is None:
            continue
        for lst in node.kamailio.listeners:
            if lst.proto == "udp" and lst.address == node.client_address:
                found.append((node.name, lst.address, lst.port))
    return found


def run_svmap(plan: Plan, vantage: Vantage) -> list[Outcome]:
    binary = find_executable("sipvicious_svmap")
    out = []
    for node, host, port in svmap_targets(plan):
        name = f"sipvicious_svmap against udp {host}:{port} gets no answer"
        if binary is None:
            out.append(Outcome("scanner", name, "failed", "sipvicious_svmap is not installed (pip install sipvicious)",
                               node, vantage.name))
            continue
        started = time.monotonic()
        try:
            proc = subprocess.run(vantage.wrap(svmap_argv(binary, host, port)), capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
            passed, detail = judge_svmap(proc.stdout + proc.stderr, proc.returncode, f"{host}:{port}")
        except subprocess.TimeoutExpired:
            passed, detail = False, f"svmap did not finish within {TIMEOUT}s"
        out.append(Outcome("scanner", name, "passed" if passed else "failed", detail, node, vantage.name,
                           time.monotonic() - started))
    return out
