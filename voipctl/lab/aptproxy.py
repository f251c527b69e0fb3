"""The lab's apt proxy: apt-cacher-ng with a private configuration.

The packaged configuration remaps the Debian archive to a mirror host that does
not resolve on these machines; ours remaps nothing, so requests go to the
archive named in the hosts' sources, and the cache outlives the lab so a second
build or a cold deploy re-downloads nothing. Each site has its own cache
directory: two apt-cacher-ng instances must not share one.
"""

from __future__ import annotations

from pathlib import Path

from voipctl.lab import commands as cmd
from voipctl.lab.state import CACHE_ROOT, LabState
from voipctl.lab.topology import APT_PROXY_PORT, LabTopology
from voipctl.proc.daemon import require_alive, start_daemon, wait_tcp

APT_CACHE = CACHE_ROOT / "apt-cacher-ng"
SUPPORT_DIR = Path("/usr/lib/apt-cacher-ng")


def acng_conf(bind: str, cache_dir: Path, workdir: Path, log_dir: Path) -> str:
    return "\n".join([
        "# voipctl lab apt proxy (private configuration, no mirror remapping)",
        f"CacheDir: {cache_dir}",
        f"LogDir: {log_dir}",
        f"SupportDir: {SUPPORT_DIR}",
        f"Port: {APT_PROXY_PORT}",
        f"BindAddress: {bind}",
        "ForeGround: 1",
        f"SocketPath: {workdir / 'acng.socket'}",
        f"PidFile: {workdir / 'acng.pid'}",
        "ExThreshold: 4",
        "",
    ])


def start_apt_proxy(topo: LabTopology, state: LabState, workdir: Path, logs: Path) -> None:
    conf_dir = workdir / "acng"
    conf_dir.mkdir(parents=True, exist_ok=True)
    log_dir = logs / "acng"
    log_dir.mkdir(parents=True, exist_ok=True)
    cache = APT_CACHE / topo.site
    cache.mkdir(parents=True, exist_ok=True)
    (conf_dir / "acng.conf").write_text(acng_conf(topo.addresses.control_private, cache, workdir, log_dir))
    log = logs / "apt-cacher-ng.log"
    pid, start = start_daemon(cmd.apt_cacher_ng(conf_dir), log)
    state.add_process("apt-cacher-ng", pid, start)
    wait_tcp(topo.addresses.control_private, APT_PROXY_PORT, 10, "apt-cacher-ng", log)
    require_alive(pid, start, "apt-cacher-ng", log)
