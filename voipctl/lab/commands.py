"""Argv builders for every external tool the lab runs (pure, unit-tested).

Callers execute the lists through `voipctl.proc`; nothing here touches the machine.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from voipctl.proc import in_netns

# SSH options for the lab only: its hosts get fresh host keys on every `up`.
LAB_SSH_OPTIONS: tuple[str, ...] = (
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
)


def netns_add(ns: str) -> list[str]:
    return ["ip", "netns", "add", ns]


def netns_delete(ns: str) -> list[str]:
    return ["ip", "netns", "delete", ns]


def routes() -> list[str]:
    return ["ip", "-4", "route", "show"]


def bridge_add(name: str) -> list[str]:
    return ["ip", "link", "add", name, "type", "bridge"]


def link_delete(name: str) -> list[str]:
    return ["ip", "link", "delete", name]


def link_up(name: str, ns: str | None = None) -> list[str]:
    return [*_ip(ns), "link", "set", name, "up"]


def link_master(name: str, bridge: str) -> list[str]:
    return ["ip", "link", "set", name, "master", bridge, "up"]


def addr_add(cidr: str, dev: str, ns: str | None = None) -> list[str]:
    return [*_ip(ns), "addr", "add", cidr, "dev", dev]


def route_default(via: str, ns: str) -> list[str]:
    return [*_ip(ns), "route", "add", "default", "via", via]


def route_replace(destination: str, via: str, ns: str) -> list[str]:
    """Idempotent: also run on a lab that is already up."""
    return [*_ip(ns), "route", "replace", destination, "via", via]


def veth_into_ns(outer: str, ns: str, inner: str) -> list[str]:
    """A veth pair with `outer` in the current namespace and `inner` moved into `ns`."""
    return ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns]


def veth_between(ns_a: str, name_a: str, ns_b: str, name_b: str) -> list[str]:
    """A veth pair created inside `ns_a` whose peer lands in `ns_b`."""
    return ["ip", "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b]


def ip_forward(ns: str) -> list[str]:
    return in_netns(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])


def no_redirects(ns: str) -> list[str]:
    """A router that forwards hairpin traffic back out of the same link must not tell hosts to go direct."""
    return in_netns(ns, ["sysctl", "-q", "-w", "net.ipv4.conf.all.send_redirects=0"])


def nft_load(ns: str) -> list[str]:
    """Load a ruleset given on stdin into `ns`."""
    return in_netns(ns, ["nft", "-f", "-"])


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> list[str]:
    for p in (lower, upper, work):
        if any(c in str(p) for c in ",:"):
            raise ValueError(f"overlayfs cannot take a path with ',' or ':': {p}")
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    return ["mount", "-t", "overlay", "overlay", "-o", opts, str(target)]


def umount(target: Path) -> list[str]:
    return ["umount", str(target)]


def nspawn_boot(root: Path, machine: str, hostname: str, ns: str) -> list[str]:
    """Boot systemd in `root` inside namespace `ns`.

    --register=no/--keep-unit because there is no systemd on the control machine to
    register with; CAP_NET_ADMIN so deploy can load nft rules inside.
    """
    return [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{ns}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=passive",
        "--capability=CAP_NET_ADMIN",
        f"--machine={machine}",
        f"--hostname={hostname}",
        f"--directory={root}",
    ]


def ssh(key: Path, address: str, remote: Sequence[str], timeout: int = 3) -> list[str]:
    """Root SSH to a lab host; the remote command is quoted for the remote shell."""
    return [
        "ssh", "-i", str(key), *LAB_SSH_OPTIONS,
        "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}", "-o", "IdentitiesOnly=yes",
        f"root@{address}", shlex.join(remote),
    ]


def ssh_keygen(path: Path, comment: str) -> list[str]:
    return ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]


def debootstrap(suite: str, variant: str, include: Sequence[str], target: Path, mirror: str) -> list[str]:
    return ["debootstrap", f"--variant={variant}", f"--include={','.join(include)}", suite, str(target), mirror]


def chroot(root: Path, argv: Sequence[str]) -> list[str]:
    return ["chroot", str(root), *argv]


def tar_pack(source: Path, archive: Path) -> list[str]:
    return ["tar", "-C", str(source), "--numeric-owner", "--xattrs", "--acls",
            "-I", "zstd -T0 -3", "-cf", str(archive), "."]


def tar_unpack(archive: Path, target: Path) -> list[str]:
    return ["tar", "-C", str(target), "--numeric-owner", "--xattrs", "--acls", "-I", "zstd", "-xf", str(archive)]


def dnsmasq(conf: Path) -> list[str]:
    return ["dnsmasq", f"--conf-file={conf}", "--keep-in-foreground", "--log-facility=-"]


def apt_cacher_ng(conf_dir: Path) -> list[str]:
    return ["apt-cacher-ng", "-c", str(conf_dir)]


def _ip(ns: str | None) -> list[str]:
    return ["ip", "-n", ns] if ns is not None else ["ip"]
