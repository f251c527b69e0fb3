"""Run the generated host suite in its own pytest process and turn its results into Outcomes.

A child process keeps the caller's pytest (when verify runs under tests) and
its plugins out of the suite; the suite reads one JSON file and writes another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voipctl.errors import ToolError
from voipctl.proc import run
from voipctl.verify.hosts import suite as hostsuite
from voipctl.verify.hosts.access import Backend, HostAccess
from voipctl.verify.hosts.checks import HostCheck
from voipctl.verify.report.outcome import Outcome

SUITE_TIMEOUT = 600
_STATUS = {"passed": "passed", "failed": "failed", "skipped": "skipped"}


def suite_doc(checks: Sequence[HostCheck], accesses: Mapping[str, HostAccess], backend: Backend) -> dict[str, Any]:
    return {
        "backend": backend,
        "accesses": {k: v.to_json() for k, v in sorted(accesses.items())},
        "checks": [c.to_json() for c in checks],
    }


def pytest_argv(workdir: Path, python: str = sys.executable) -> list[str]:
    """The child pytest: our plugin only, no cache, no rootdir config of whoever called us."""
    return [
        python, "-m", "pytest",
        "-c", str(workdir / "pytest.ini"), "--rootdir", str(workdir),
        "-p", "no:cacheprovider", "-p", "voipctl.verify.hosts.plugin",
        "--import-mode=importlib", "-q", "--no-header", "-rN", "--tb=no",
        "--voipctl-suite", str(workdir / "suite.json"),
        "--voipctl-results", str(workdir / "results.json"),
        str(Path(hostsuite.__file__)),
    ]


def outcomes_from(results: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    """Results JSON of the plugin -> Outcomes (group "host:<kind>")."""
    return [
        Outcome(group=f"host:{r['kind']}", name=str(r["name"]), status=_STATUS.get(r["outcome"], "failed"),  # type: ignore[arg-type]
                detail=str(r["detail"]), host=str(r["node"]), seconds=float(r.get("seconds", 0.0)))
        for r in results
    ]


def require_testinfra() -> None:
    """Fail before anything starts when the suite could not even load."""
    if importlib.util.find_spec("testinfra") is None:
        raise ToolError("the host suite needs pytest-testinfra: pip install pytest-testinfra (into voipctl's venv)")


def run_suite(checks: Sequence[HostCheck], accesses: Mapping[str, HostAccess], backend: Backend,
              workdir: Path) -> list[Outcome]:
    """Write the suite into `workdir` (a private dir the caller removes), run it, read its results."""
    (workdir / "pytest.ini").write_text("[pytest]\n")
    (workdir / "suite.json").write_text(json.dumps(suite_doc(checks, accesses, backend), indent=1))
    env = dict(os.environ)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    proc = run(pytest_argv(workdir), timeout=SUITE_TIMEOUT, env=env, cwd=workdir)
    if proc.timed_out:
        return [Outcome("host", "testinfra suite", "failed", f"did not finish within {SUITE_TIMEOUT}s")]
    results_file = workdir / "results.json"
    if not results_file.exists():
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        return [Outcome("host", "testinfra suite", "failed", f"pytest exited {proc.returncode}: {tail}")]
    outcomes = outcomes_from(json.loads(results_file.read_text()))
    if len(outcomes) != len(checks):
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        outcomes.append(Outcome("host", "testinfra suite", "failed",
                                f"{len(checks)} checks generated, {len(outcomes)} reported: {tail}"))
    return outcomes
