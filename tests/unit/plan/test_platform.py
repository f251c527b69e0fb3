"""Platforms: a site (or node) names its Debian release; the plan carries that release's facts."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from voipctl.check import argv
from voipctl.check.daemons import Options
from voipctl.check.platforms import foreign_platforms, host_platform
from voipctl.check.sandbox import mount_argvs
from voipctl.lab.rootfs import ImageRecipe, image_files
from voipctl.plan.build import build_plan
from voipctl.plan.platform import PLATFORMS
from voipctl.site.load import load_site

LAB = REPO / "inventories" / "lab" / "site.yml"


def _site_with(tmp_path: Path, old: str, new: str) -> Path:
    text = LAB.read_text()
    assert old in text
    site = tmp_path / "site.yml"
    site.write_text(text.replace(old, new, 1))
    return site


def test_a_site_without_a_platform_is_debian12_and_hashes_as_before(tmp_path: Path) -> None:
    plain = load_site(LAB)
    assert {n.platform.name for n in build_plan(plain).nodes} == {"debian12"}
    explicit = load_site(_site_with(tmp_path, "\nnodes:", "\nplatform: debian12\nnodes:"))
    assert explicit.model_hash == plain.model_hash, "the default must not change deployed provenance lines"
    other = load_site(_site_with(tmp_path, "\nnodes:", "\nplatform: debian13\nnodes:"))
    assert other.model_hash != plain.model_hash


def test_a_node_may_name_its_own_platform(tmp_path: Path) -> None:
    site = _site_with(tmp_path, "  - name: media1\n", "  - name: media1\n    platform: debian13\n")
    plan = build_plan(load_site(site))
    by_node = {n.name: n.platform for n in plan.nodes}
    assert by_node["media1"] is PLATFORMS["debian13"]
    assert by_node["sip1"] is PLATFORMS["debian12"]
    assert [p.name for p in foreign_platforms(plan, "debian12")] == ["debian13"]
    assert [p.name for p in foreign_platforms(plan, "debian13")] == ["debian12"]
    assert [p.name for p in foreign_platforms(plan, None)] == ["debian12", "debian13"]


def test_platform_table_pins_each_release() -> None:
    old, new = PLATFORMS["debian12"], PLATFORMS["debian13"]
    assert (old.suite, old.kamailio_version, old.rtpengine_version) == ("bookworm", "5.6.3-", "10.5.3.5-")
    assert (new.suite, new.kamailio_version, new.rtpengine_version) == ("trixie", "6.0.1-", "12.5.1.31-")
    assert old.vagrant_box == "debian/bookworm64" and new.vagrant_box == "debian/trixie64"


def test_host_platform_from_os_release() -> None:
    assert host_platform('ID=debian\nVERSION_ID="12"\n') == "debian12"
    assert host_platform('ID=debian\nVERSION_ID="13"\n') == "debian13"
    assert host_platform('ID=ubuntu\nVERSION_ID="24.04"\n') is None
    assert host_platform("ID=debian\n") is None  # testing/sid have no VERSION_ID


def test_images_per_suite_keep_the_debian12_names() -> None:
    old, new = ImageRecipe(cold=False), ImageRecipe(cold=False, suite="trixie")
    assert old.label == "voip" and new.label == "trixie-voip"
    assert old.archive(Path("/c")).name == f"rootfs-voip-{old.key}.tar.zst"
    assert new.archive(Path("/c")).name == f"rootfs-trixie-voip-{new.key}.tar.zst"
    assert not new.archive(Path("/c")).match("rootfs-voip-*"), "a debian12 build must never delete it"
    assert old.key != new.key and ImageRecipe(cold=True, suite="trixie").key != new.key
    assert "trixie-security" in image_files("trixie")["/etc/apt/sources.list"]


def test_sandbox_runs_a_daemon_chrooted_in_a_platform_root() -> None:
    cmd = argv.sandbox_argv("/s", ["kamailio", "-c"], python="/py", root="/r")
    assert cmd == ["/py", "-m", argv.SANDBOX_MODULE, "--stage", "/s", "--overlay", "/etc", "--overlay", "/var",
                   "--root", "/r", "--", "kamailio", "-c"]
    mounts = mount_argvs(Path("/s"), ["/etc"], Path("/r"))
    assert mounts[1][-1] == "/r/etc" and "lowerdir=/r/etc," in mounts[1][-2]
    assert ["mount", "--rbind", "/dev", "/r/dev"] in mounts
    assert ["mount", "-t", "proc", "proc", "/r/proc"] in mounts
    assert argv.rtpengine_help_argv("/r") == ["chroot", "/r", "rtpengine", "--help"]


def test_check_options_say_whose_daemon_judged(tmp_path: Path) -> None:
    site = _site_with(tmp_path, "  - name: media1\n", "  - name: media1\n    platform: debian13\n")
    plan = build_plan(load_site(site))
    opts = Options(roots=(("debian13", "/r13"),))
    media, sip = plan.node("media1"), plan.node("sip1")
    assert opts.root_for(media) == "/r13" and opts.root_for(sip) is None
    assert "Debian 13 (trixie) root filesystem" in opts.where(media)
    assert "this machine's daemon" in opts.where(sip)


def test_debian12_kamailio_gives_tls_one_shared_tcp_reader(tmp_path: Path) -> None:
    """kamailio 5.6 crashes when its TCP readers fail TLS handshakes at once (tests/daemon/test_tls_burst_daemon.py)."""
    def sockets(site: Path) -> tuple[int, dict[str, int | None], int]:
        kam = build_plan(load_site(site)).nodes[0].kamailio
        assert kam is not None
        return kam.tcp_shared_readers, {lst.proto: lst.workers for lst in kam.listeners}, kam.tcp_children
    assert sockets(LAB) == (1, {"udp": None, "tcp": 4, "tls": None, "wss": None}, 4)
    debian13 = _site_with(tmp_path, "\nnodes:", "\nplatform: debian13\nnodes:")
    assert sockets(debian13) == (4, {"udp": None, "tcp": None, "tls": None, "wss": None}, 4)
