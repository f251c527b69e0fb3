"""The Vagrantfile users get: `vagrant validate` passes, and each machine carries exactly its node's
addresses from the site file (read back through vagrant's own Vagrantfile loader)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from voipctl.pipeline import load_and_plan


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


# Loads the Vagrantfile with vagrant's own library (as `vagrant up` would) and prints each machine's
# private_network addresses; no provider is needed for that.
ADDRESSES_RB = """
require "vagrant"
env = Vagrant::Environment.new(cwd: ARGV[0], home_path: ARGV[1])
env.machine_names.each do |n|
  cfg = env.vagrantfile.machine_config(n, nil, env.boxes, nil, false)[:config]
  ips = cfg.vm.networks.select { |type, _| type == :private_network }.map { |_, o| o[:ip] }
  puts "#{n} #{ips.join(',')} #{cfg.vm.box}"
end
"""


@pytest.mark.parametrize("site", ["inventories/lab/site.yml", "inventories/split/site.yml",
                                  "inventories/lab13/site.yml"])
def test_vagrant_machines_carry_the_site_addresses(site: str, tmp_path: Path) -> None:
    ruby = shutil.which("ruby")
    assert ruby is not None, "vagrant (Debian package) brings ruby and its vagrant library"
    script = tmp_path / "addresses.rb"
    script.write_text(ADDRESSES_RB)
    env = {**os.environ, "VOIPCTL_SITE": str(REPO / site)}
    res = subprocess.run([ruby, str(script), str(REPO), str(tmp_path / "vagrant.d")],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    seen = {line.split()[0]: (line.split()[1].split(","), line.split()[2])
            for line in res.stdout.splitlines() if line.strip()}
    plan = load_and_plan(REPO / site)[1]
    want = {n.name: ([a for a in (n.private, n.public) if a], n.platform.vagrant_box) for n in plan.nodes}
    assert seen == want
