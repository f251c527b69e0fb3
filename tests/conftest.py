"""Shared fixtures: the golden-update flag, site copies in tmp dirs, fixed secrets."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False,
        help="rewrite tests/golden/*/expected and tests/fixtures/invalid/*/expected.txt from current output",
    )


def pytest_configure(config: pytest.Config) -> None:
    """--update-goldens rewrites the expected output: never in a checking run (scripts/test).

    CA keys are encrypted by default: every `voipctl pki` run in the tests (in process or in a
    subprocess) reads the passphrase from one private file, as the main job does.
    """
    if not os.environ.get("VOIPCTL_PKI_PASSPHRASE_FILE"):
        passphrase = Path(tempfile.mkdtemp(prefix="voipctl-test-pki-")) / "passphrase"
        passphrase.write_text("test-ca-passphrase\n")
        passphrase.chmod(0o600)
        os.environ["VOIPCTL_PKI_PASSPHRASE_FILE"] = str(passphrase)
    if config.getoption("--update-goldens", default=False) and os.environ.get("VOIPCTL_FORBID_SKIPS"):
        raise pytest.UsageError("--update-goldens rewrites expected output; it is refused in a checking run "
                                "(VOIPCTL_FORBID_SKIPS is set): run .venv/bin/pytest tests/unit/render/test_golden.py "
                                "--update-goldens by hand, then review git diff")


def goldens_updated(what: Path) -> NoReturn:
    """After rewriting expected output: fail, so an update never passes as a check."""
    pytest.fail(f"updated {what}: review git diff", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """With VOIPCTL_FORBID_SKIPS set (scripts/test, after installing everything), a skip is a failure:
    a missing daemon or tool must not turn a real test into a silent pass."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("VOIPCTL_FORBID_SKIPS") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but this run forbids skips (VOIPCTL_FORBID_SKIPS): {reason}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder says what a test needs: tests/daemon/ starts daemons, tests/lab/ brings up a lab,
    so `-m "not daemon and not lab"` never runs one of them even if a module forgets its marker."""
    tests = REPO / "tests"
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        if folder in ("daemon", "lab") and item.get_closest_marker(folder) is None:
            item.add_marker(folder)


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def copy_site(src_dir: Path, dest: Path) -> Path:
    """Copy a site directory (site.yml + referenced files) so secrets land in a tmp dir."""
    shutil.copytree(src_dir, dest, ignore=shutil.ignore_patterns("expected", "expected.txt", "*.secrets.yml"))
    secrets = src_dir / "secrets.fixture.yml"
    if secrets.exists():
        target = dest / "site.secrets.yml"
        shutil.copyfile(secrets, target)
        target.chmod(0o600)
    return dest / "site.yml"
