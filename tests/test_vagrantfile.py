"""The Vagrantfile users get: `vagrant validate` passes, and it reads addresses from the site file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def _validate(site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    vagrant = shutil.which("vagrant")
    assert vagrant is not None, "vagrant is not installed (scripts/setup installs Debian's vagrant package)"
    env = {**os.environ, "VOIPCTL_SITE": str(site), "VAGRANT_HOME": str(tmp_path / "vagrant.d")}
    return subprocess.run([vagrant, "validate", "-p"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("site", ["inventories/lab/site.yml"])
def test_vagrant_validate_passes(site: str, tmp_path: Path) -> None:
    res = _validate(REPO / site, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_vagrantfile_fails_on_a_missing_site(tmp_path: Path) -> None:
    res = _validate(tmp_path / "nope.yml", tmp_path)
    assert res.returncode != 0
