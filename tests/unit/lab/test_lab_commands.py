"""Pure argv/config builders of the lab: nspawn, ssh, overlay, image recipe, cgroups, state."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from voipctl.lab import commands as cmd
from voipctl.lab.aptproxy import acng_conf
from voipctl.lab.cgroups import hierarchy_dirs
from voipctl.lab.hosts import host_files
from voipctl.lab.rootfs import VOIP_PACKAGES, ImageRecipe, enabled_units, image_files, units_to_disable
from voipctl.lab.state import LabState
from voipctl.lab.topology import lab_topology
from voipctl.pipeline import load_and_plan

REPO = Path(__file__).resolve().parents[3]


def test_nspawn_boot_argv_has_what_booting_here_needs() -> None:
    argv = cmd.nspawn_boot(Path("/l/root"), "vlab.s.a", "a", "vlab.s.a")
    assert argv[0] == "systemd-nspawn"
    for flag in ("--boot", "--register=no", "--keep-unit", "--resolv-conf=off", "--console=passive",
                 "--network-namespace-path=/run/netns/vlab.s.a", "--capability=CAP_NET_ADMIN",
                 "--directory=/l/root", "--hostname=a", "--link-journal=no"):
        assert flag in argv


def test_ssh_argv_quotes_the_remote_command_and_relaxes_host_keys() -> None:
    argv = cmd.ssh(Path("/k"), "10.0.0.1", ["echo", "a b;c"])
    assert argv[:3] == ["ssh", "-i", "/k"]
    assert "StrictHostKeyChecking=no" in argv and "BatchMode=yes" in argv
    assert argv[-2] == "root@10.0.0.1"
    assert shlex.split(argv[-1]) == ["echo", "a b;c"]


def test_overlay_mount_argv_and_rejects_unsafe_paths() -> None:
    argv = cmd.mount_overlay(Path("/g"), Path("/u"), Path("/w"), Path("/r"))
    assert argv == ["mount", "-t", "overlay", "overlay", "-o", "lowerdir=/g,upperdir=/u,workdir=/w", "/r"]
    with pytest.raises(ValueError, match="overlayfs"):
        cmd.mount_overlay(Path("/g,x"), Path("/u"), Path("/w"), Path("/r"))


def test_veth_and_netns_argv() -> None:
    assert cmd.veth_into_ns("vlabx0r", "ns", "prv0") == [
        "ip", "link", "add", "vlabx0r", "type", "veth", "peer", "name", "prv0", "netns", "ns"]
    assert cmd.addr_add("10.0.0.1/24", "prv0", "ns") == ["ip", "-n", "ns", "addr", "add", "10.0.0.1/24", "dev", "prv0"]
    assert cmd.addr_add("10.0.0.1/24", "br") == ["ip", "addr", "add", "10.0.0.1/24", "dev", "br"]
    assert cmd.ip_forward("gw") == ["ip", "netns", "exec", "gw", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]


def test_debootstrap_and_tar_argv() -> None:
    argv = cmd.debootstrap("bookworm", "minbase", ["a", "b"], Path("/t"), "http://m/debian")
    assert argv == ["debootstrap", "--variant=minbase", "--include=a,b", "bookworm", "/t", "http://m/debian"]
    assert "zstd -T0 -3" in cmd.tar_pack(Path("/s"), Path("/a.tar.zst"))
    assert cmd.tar_unpack(Path("/a"), Path("/t"))[-2:] == ["-xf", "/a"]


def test_image_key_depends_on_mode_and_is_stable() -> None:
    warm, cold = ImageRecipe(cold=False), ImageRecipe(cold=True)
    assert warm.key == ImageRecipe(cold=False).key
    assert warm.key != cold.key
    assert cold.extra_packages == () and warm.extra_packages == VOIP_PACKAGES
    assert warm.archive(Path("/c")).name == f"rootfs-voip-{warm.key}.tar.zst"
    assert "rtpengine" not in VOIP_PACKAGES  # the metapackage drags in a DKMS build
    assert "bookworm-security" in image_files()["/etc/apt/sources.list"]


def test_units_enabled_by_packages_are_disabled_except_ssh() -> None:
    before = enabled_units("ssh.service enabled enabled\napt-daily.timer enabled enabled\n")
    after = before | {"kamailio.service", "coturn.service", "rtpengine-daemon.service"}
    assert units_to_disable(before, after) == [
        "apt-daily.timer", "coturn.service", "kamailio.service", "rtpengine-daemon.service"]
    assert units_to_disable(set(), {"ssh.service"}) == []


def test_host_files_point_at_the_lab_resolver_proxy_and_key() -> None:
    plan = load_and_plan(REPO / "inventories" / "lab" / "site.yml")[1]
    topo = lab_topology(plan)
    files = host_files(topo, topo.host("sip1"), "ssh-ed25519 AAAA lab", "0" * 32)
    assert files["/etc/resolv.conf"][0].startswith("nameserver 10.77.0.2\n")
    assert files["/etc/hostname"][0] == "sip1\n"
    assert "sip1.lab.voipctl.test" in files["/etc/hosts"][0]
    assert files["/root/.ssh/authorized_keys"] == ("ssh-ed25519 AAAA lab\n", 0o600)
    assert 'Proxy "http://10.77.0.1:3142/"' in files["/etc/apt/apt.conf.d/00voipctl-lab-proxy"][0]


def test_apt_proxy_config_remaps_nothing() -> None:
    conf = acng_conf("10.77.0.1", Path("/c"), Path("/w"), Path("/l"))
    assert "BindAddress: 10.77.0.1" in conf and "CacheDir: /c" in conf
    assert "Remap" not in conf


def test_cgroup_dirs_on_a_hybrid_machine() -> None:
    mountinfo = (
        "30 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
        "31 25 0:27 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "32 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    )
    own = "9:name=systemd:/\n4:memory:/x/y\n0::/\n"
    assert hierarchy_dirs(mountinfo, own) == [Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/systemd")]


def test_cgroup_dirs_on_a_unified_machine_follow_our_own_cgroup() -> None:
    mountinfo = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert hierarchy_dirs(mountinfo, "0::/user.slice/s.scope\n") == [Path("/sys/fs/cgroup/user.slice/s.scope")]


def test_state_round_trips_and_keeps_creation_order(tmp_path: Path) -> None:
    state = LabState("lab", tmp_path / "state.json")
    state.add("netns", "a")
    state.add_process("dnsmasq", 10, 20)
    state.add("link", "b")
    state.add("netns", "c")
    loaded = LabState.load(tmp_path / "state.json")
    assert loaded is not None
    assert loaded.of_kind("netns") == ["a", "c"]
    assert loaded.process("dnsmasq") is not None
    assert loaded.status == "starting"
    assert LabState.load(tmp_path / "missing.json") is None
