"""Shared fixtures: the golden-update flag, site copies in tmp dirs, fixed secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False,
        help="rewrite tests/golden/*/expected and tests/fixtures/invalid/*/expected.txt from current output",
    )


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
