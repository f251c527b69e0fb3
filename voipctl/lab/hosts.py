"""Lab hosts: systemd-nspawn containers booting real systemd on an overlay of the image.

Each host writes only to its own overlay layer, so hosts stay separate and the
unpacked image is shared read-only.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.lab import cgroups
from voipctl.lab import commands as cmd
from voipctl.lab.state import LabPaths, LabState
from voipctl.lab.topology import LabHost, LabTopology
from voipctl.proc import must, run
from voipctl.proc.daemon import alive, start_daemon, tail

# Lets systemd in the container write net.* sysctls (ip_forward on a gateway role).
NSPAWN_ENV = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
APT_PROXY_CONF = "/etc/apt/apt.conf.d/00voipctl-lab-proxy"


@dataclass(frozen=True)
class HostReport:
    node: str
    address: str
    running: bool
    ssh: bool
    system: str
    failed_units: tuple[str, ...]


def process_name(host: LabHost) -> str:
    return f"host:{host.node}"


def host_files(topo: LabTopology, host: LabHost, authorized_key: str, machine_id: str) -> dict[str, tuple[str, int]]:
    """Per-host files written into the overlay before boot: path -> (content, mode)."""
    short = host.node
    return {
        "/etc/hostname": (f"{short}\n", 0o644),
        "/etc/hosts": (f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.fqdn} {short}\n", 0o644),
        "/etc/resolv.conf": (
            f"nameserver {topo.addresses.resolver_private}\nsearch {topo.domain}\noptions timeout:1 attempts:2\n",
            0o644,
        ),
        "/etc/machine-id": (f"{machine_id}\n", 0o444),
        APT_PROXY_CONF: (f'Acquire::http::Proxy "{topo.addresses.apt_proxy_url}";\n', 0o644),
        "/root/.ssh/authorized_keys": (authorized_key.strip() + "\n", 0o600),
    }


def prepare_host(topo: LabTopology, host: LabHost, paths: LabPaths, state: LabState, authorized_key: str,
                 golden: Path) -> Path:
    """Mount the host's overlay on its platform's unpacked image and write its own files; returns its root."""
    base = paths.host_dir(host.node)
    upper, work, root = base / "upper", base / "work", base / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True, exist_ok=True)
    must(cmd.mount_overlay(golden, upper, work, root))
    state.add("mount", str(root))
    for path, (text, mode) in host_files(topo, host, authorized_key, uuid.uuid4().hex).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.startswith("/root/"):
            target.parent.chmod(0o700)
        target.unlink(missing_ok=True)
        target.write_text(text)
        target.chmod(mode)
    must(cmd.ssh_keygen(root / "etc/ssh/ssh_host_ed25519_key", f"root@{host.fqdn}"))
    return root


def start_host(host: LabHost, root: Path, paths: LabPaths, state: LabState) -> None:
    """Boot the host's container in cgroups of its own (see voipctl.lab.cgroups)."""
    groups = cgroups.host_cgroups(host.netns)
    for group in groups:
        group.mkdir(exist_ok=True)
        state.add("cgroup", str(group))
    argv = cmd.nspawn_boot(root, host.netns, host.node, host.netns)
    pid, start = start_daemon(argv, paths.logs / f"{host.node}.log", env={**os.environ, **NSPAWN_ENV},
                              before_exec=lambda: cgroups.enter(groups))
    state.add_process(process_name(host), pid, start)


def wait_ready(topo: LabTopology, key: Path, paths: LabPaths, state: LabState, timeout: float,
               restart: Callable[[LabHost], None] | None = None) -> dict[str, str]:
    """Wait until every host answers SSH and systemd has finished booting.

    A container whose nspawn dies while booting is started once more through `restart`
    (seen on a loaded machine: "Child died too early"); a second death is an error.
    Returns node -> `systemctl is-system-running` (running or degraded).
    """
    deadline = time.monotonic() + timeout
    pending = {h.node: h for h in topo.hosts}
    done: dict[str, str] = {}
    restarted: set[str] = set()
    while pending:
        for node, host in list(pending.items()):
            proc = state.process(process_name(host))
            if proc is None or not alive(proc.pid, proc.start):
                if restart is not None and node not in restarted:
                    restarted.add(node)
                    restart(host)
                    continue
                raise ToolError(f"host {node} stopped while booting: {tail(paths.logs / f'{node}.log')}")
            res = run(cmd.ssh(key, host.private, ["systemctl", "is-system-running", "--wait"]), timeout=60)
            system = res.stdout.strip()
            if system in ("running", "degraded"):
                done[node] = system
                del pending[node]
        if pending:
            if time.monotonic() > deadline:
                raise ToolError(f"hosts {', '.join(pending)} did not answer SSH within {timeout:.0f}s")
            time.sleep(0.3)
    return done


def report(host: LabHost, key: Path, state: LabState | None) -> HostReport:
    """Whether the host's container runs, answers SSH, and how systemd sees itself."""
    proc = state.process(process_name(host)) if state is not None else None
    running = proc is not None and alive(proc.pid, proc.start)
    system, ssh_ok = "unknown", False
    failed: tuple[str, ...] = ()
    if running:
        res = run(cmd.ssh(key, host.private, ["systemctl", "is-system-running"]), timeout=10)
        ssh_ok = res.returncode != 255
        system = res.stdout.strip() or "unknown"
        if system == "degraded":
            units = run(cmd.ssh(key, host.private, ["systemctl", "--failed", "--plain", "--no-legend"]), timeout=10)
            failed = tuple(line.split()[0] for line in units.stdout.splitlines() if line.strip())
    return HostReport(host.node, host.private, running, ssh_ok, system, failed)
