"""pytest plugin behind the host suite: parametrize from the generated checks, connect, collect results.

Loaded with `-p voipctl.verify.hosts.plugin` by `suite_runner`; the suite file
(`--voipctl-suite`) says how to reach each node and what to check, and each
check's outcome goes to `--voipctl-results` as JSON for the report.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest
import testinfra  # type: ignore[import-untyped]

from voipctl.proc import run
from voipctl.verify.hosts.access import Backend, HostAccess, paramiko_config
from voipctl.verify.hosts.checks import HostCheck
from voipctl.verify.hosts.judge import Socket, parse_ss

_RESULTS: list[dict[str, Any]] = []
_STARTED: dict[str, float] = {}


class Unreachable(Exception):
    """The node did not answer over SSH; every check on it fails with this."""


class HostPool:
    """Lazily opened testinfra hosts, one per node, with the first connection error remembered."""

    def __init__(self, suite: Mapping[str, Any], workdir: Path) -> None:
        self.backend: Backend = suite["backend"]
        self.accesses = {k: HostAccess.from_json(v) for k, v in suite["accesses"].items()}
        self.workdir = workdir
        self.hosts: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.sockets: dict[str, list[Socket]] = {}
        self.control_paths: list[Path] = []

    def _kwargs(self, access: HostAccess) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"timeout": 10}
        if access.identity_file:
            kwargs["ssh_identity_file"] = access.identity_file
        if access.sudo:
            kwargs["sudo"] = True
            if access.sudo_user:
                kwargs["sudo_user"] = access.sudo_user
        if self.backend == "ssh":
            control = self.workdir / f"cm-{access.node}"
            self.control_paths.append(control)
            kwargs.update(ssh_extra_args=shlex.join(access.ssh_args), controlpath=str(control), controlpersist=60)
        else:
            config = self.workdir / f"ssh_config-{access.node}"
            config.write_text(paramiko_config(access))
            kwargs["ssh_config"] = str(config)
        return kwargs

    def get(self, node: str) -> Any:
        if node in self.errors:
            raise Unreachable(self.errors[node])
        if node not in self.hosts:
            access = self.accesses[node]
            try:
                host = testinfra.get_host(access.hostspec(self.backend), **self._kwargs(access))
                res = host.run("true")
                if res.rc != 0:
                    raise RuntimeError(res.stderr.strip() or f"exit {res.rc}")
            except Exception as exc:  # any backend error means the same: the node cannot be reached
                self.errors[node] = f"cannot reach {node} ({access.address}) over SSH: {str(exc)[:300]}"
                raise Unreachable(self.errors[node]) from None
            self.hosts[node] = host
        return self.hosts[node]

    def listening(self, node: str) -> list[Socket]:
        """`ss` of the node, read once per run: every socket check judges the same snapshot."""
        if node not in self.sockets:
            res = self.get(node).run("ss -H -ltunp")
            if res.rc != 0:
                raise RuntimeError(f"ss failed on {node}: {res.stderr.strip()}")
            self.sockets[node] = parse_ss(res.stdout)
        return self.sockets[node]

    def close(self) -> None:
        for control in self.control_paths:
            if control.exists():
                run(["ssh", "-o", f"ControlPath={control}", "-O", "exit", "voipctl-verify"], timeout=10)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--voipctl-suite", required=True, help="host suite JSON written by voipctl verify")
    parser.addoption("--voipctl-results", required=True, help="where to write each check's outcome (JSON)")


def _suite(config: pytest.Config) -> dict[str, Any]:
    cached = getattr(config, "_voipctl_suite", None)
    if cached is None:
        cached = json.loads(Path(str(config.getoption("--voipctl-suite"))).read_text())
        config._voipctl_suite = cached  # type: ignore[attr-defined]
    return dict(cached)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        checks = [HostCheck.from_json(c) for c in _suite(metafunc.config)["checks"]]
        metafunc.parametrize("check", checks, ids=[c.ident for c in checks])


@pytest.fixture(scope="session")
def hosts(request: pytest.FixtureRequest) -> Generator[HostPool, None, None]:
    suite_path = Path(str(request.config.getoption("--voipctl-suite")))
    pool = HostPool(_suite(request.config), suite_path.parent)
    try:
        yield pool
    finally:
        pool.close()


def _detail(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str):
        return msg
    return f"{type(exc).__name__}: {exc}"[:600]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    callspec = getattr(item, "callspec", None)
    check = callspec.params.get("check") if callspec is not None else None
    if isinstance(check, HostCheck):
        if call.when == "setup":
            _STARTED[item.nodeid] = time.monotonic()
        if call.when == "call" or (call.when == "setup" and not report.passed):
            _RESULTS.append({
                "node": check.node, "kind": check.kind, "name": check.name, "outcome": report.outcome,
                "detail": _detail(call), "seconds": round(time.monotonic() - _STARTED.get(item.nodeid, 0), 3),
            })
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = Path(str(session.config.getoption("--voipctl-results")))
    out.write_text(json.dumps(_RESULTS, indent=1) + "\n")
