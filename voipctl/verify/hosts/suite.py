"""The testinfra host suite: one test, parametrized by `plugin` with the generated checks.

Each check kind reads what it needs from the node through testinfra and hands
it to `judge` for judging; this file only fetches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from voipctl.verify.hosts.checks import HostCheck
from voipctl.verify.hosts.judge import certificate_problems, file_problems, listening_problem, unexpected_listeners
from voipctl.verify.hosts.plugin import HostPool

Runner = Callable[[HostPool, str, Mapping[str, Any]], list[str]]


def _package(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    pkg = pool.get(node).package(p["package"])
    if not pkg.is_installed:
        return [f"{p['package']} is not installed"]
    if not str(pkg.version).startswith(p["version_prefix"]):
        return [f"{p['package']} is {pkg.version}, not {p['version_prefix']}*"]
    return []


def _service(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    svc = pool.get(node).service(p["unit"])
    problems = []
    if not svc.is_running:
        problems.append(f"{p['unit']} is not running")
    if not svc.is_enabled:
        problems.append(f"{p['unit']} is not enabled (would not start at boot)")
    return problems


def _listening(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    problem = listening_problem(pool.listening(node), p["proto"], p["address"], int(p["port"]))
    return [problem] if problem else []


def _listeners(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    return unexpected_listeners(pool.listening(node), p["bindings"], p["processes"])


def _file(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    res = pool.get(node).run("stat -c %s -- %s && sha256sum -- %s", "%U %G %a", p["path"], p["path"])
    if res.rc != 0:
        return file_problems({"exists": False}, p)
    owner, group, mode = res.stdout.splitlines()[0].split()
    found = {"exists": True, "owner": owner, "group": group, "mode": f"{int(mode, 8):04o}",
             "sha256": res.stdout.splitlines()[1].split()[0]}
    if p.get("handover"):
        found["handed_over"] = pool.get(node).run("grep -qF -- %s %s", p["handover"]["marker"],
                                                  p["handover"]["path"]).rc == 0
    return file_problems(found, p)


def _read(pool: HostPool, node: str, path: str) -> bytes:
    f = pool.get(node).file(path)
    if not f.exists:
        raise FileNotFoundError(path)
    return bytes(f.content)


def _cert(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    try:
        cert = _read(pool, node, p["cert_path"])
        chain = _read(pool, node, p["chain_path"])
    except FileNotFoundError as exc:
        return [f"{exc} is missing"]
    try:
        root = Path(p["root_ca"]).read_bytes()
    except OSError as exc:
        return [f"cannot read the site CA {p['root_ca']}: {exc.strerror}"]
    # Only the public half of the key leaves the host.
    res = pool.get(node).run("openssl pkey -pubout -in %s", p["key_path"])
    key_pub = res.stdout.encode() if res.rc == 0 else None
    problems = certificate_problems(cert, chain, root, key_pub, p["dns_names"], p["ip_addresses"],
                                    datetime.now(UTC), int(p["min_days"]))
    if key_pub is None:
        problems.append(f"cannot read the private key {p['key_path']}")
    return problems


def _firewall(pool: HostPool, node: str, p: Mapping[str, Any]) -> list[str]:
    host = pool.get(node)
    res = host.run("python3 %s needs --path %s --table %s", p["helper"], p["path"], p["table"])
    if res.rc != 0:
        return [f"cannot compare the loaded firewall with the deployed one: {res.stderr.strip() or res.rc}"]
    state = json.loads(res.stdout)
    problems = [f"the loaded firewall is not the deployed one: {state['why']}"] if state.get("apply") else []
    chain = host.run("nft --stateless list chain inet %s input", p["table"])
    if chain.rc != 0 or "policy drop;" not in chain.stdout:
        problems.append(f"chain inet {p['table']} input does not drop by default")
    return problems


RUNNERS: dict[str, Runner] = {
    "package": _package,
    "service": _service,
    "listening": _listening,
    "listeners": _listeners,
    "file": _file,
    "cert": _cert,
    "firewall": _firewall,
}


def test_host(check: HostCheck, hosts: HostPool) -> None:
    if check.skip:
        pytest.skip(check.skip)
    problems = RUNNERS[check.kind](hosts, check.node, check.params)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
