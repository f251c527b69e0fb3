"""`lab up`, `lab down`, `lab status`: the order things are made and unmade in.

`up` records everything in the state file as it is created; any failure tears
down exactly that record before the error propagates, as `down` does later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from voipctl.errors import ToolError, UsageError
from voipctl.lab import cgroups
from voipctl.lab import commands as cmd
from voipctl.lab.aptproxy import start_apt_proxy
from voipctl.lab.hosts import HostReport, prepare_host, report, start_host, wait_ready
from voipctl.lab.images import LabImages, golden_dir, lab_images, unpack_images
from voipctl.lab.inventory import inventory, inventory_yaml
from voipctl.lab.network import add_neighbour_routes, bring_up, route_conflicts
from voipctl.lab.resolver import start_resolver
from voipctl.lab.rootfs import MIRROR
from voipctl.lab.state import LabPaths, LabState
from voipctl.lab.topology import LabTopology, lab_topology
from voipctl.plan.model import Plan
from voipctl.proc import must, run
from voipctl.proc.daemon import alive, kill_netns, stop_daemons

# Tool -> Debian package, for the message when one is missing.
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "dnsmasq": "dnsmasq-base",
    "apt-cacher-ng": "apt-cacher-ng",
    "zstd": "zstd",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}
BOOT_TIMEOUT = 120.0
HOST_STOP_GRACE = 15.0


@dataclass
class UpResult:
    topology: LabTopology
    paths: LabPaths
    already_up: bool
    image: str = ""
    image_built: bool = False
    systems: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusResult:
    site: str
    status: str
    services: dict[str, bool]
    hosts: tuple[HostReport, ...]


def check_tools() -> None:
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise ToolError(f"the lab needs Debian packages: apt-get install {' '.join(missing)}")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise UsageError("the lab creates namespaces, bridges and mounts: run it as root")


def up(plan: Plan, cold: bool) -> UpResult:
    """Bring the site's lab up, or do nothing if it is already up and healthy."""
    _require_root()
    topo = lab_topology(plan)
    _control_is_management(plan, topo)
    check_tools()
    paths = LabPaths.for_site(plan.site)
    images = lab_images(plan, cold)
    fingerprint = hashlib.sha256(topo.fingerprint_text.encode()).hexdigest()[:16]
    existing = LabState.load(paths.state_file)
    if existing is not None:
        if existing.status == "up" and _healthy(existing):
            if existing.image != images.label:
                raise UsageError(f"the {plan.site} lab is up with the {existing.image} image: run `lab down` first")
            if existing.topology != fingerprint:
                raise UsageError(f"the {plan.site} lab is up with other addresses than the site now has: "
                                 f"run `voipctl lab down {plan.site}` first")
            add_neighbour_routes(topo)  # labs brought up before the public client was made a neighbour
            return UpResult(topo, paths, already_up=True, image=existing.image)
        teardown(existing, paths)
    _preflight(topo)
    paths.site_dir.mkdir(parents=True, exist_ok=True)
    paths.site_dir.chmod(0o700)
    state = LabState(plan.site, paths.state_file, image=images.label, topology=fingerprint)
    state.save()
    try:
        return _bring_up(plan, topo, paths, state, images)
    except BaseException:
        with contextlib.suppress(ToolError):
            teardown(state, paths)
        raise


def _control_is_management(plan: Plan, topo: LabTopology) -> None:
    """Deploy SSHes from the lab's control address: every node's firewall must let it in."""
    control = ip_address(topo.addresses.control_private)
    for node in plan.nodes:
        nets = node.firewall.management if node.firewall is not None else ()
        if node.firewall is not None and not any(control in ip_network(n) for n in nets):
            raise UsageError(f"the lab's control machine SSHes to {node.name} from {control}, outside "
                             f"firewall.management ({', '.join(nets)}): add it or leave the default")


def _preflight(topo: LabTopology) -> None:
    """Refuse a private /24 that would hide a route or the package mirror from this machine."""
    net = topo.addresses.private_net
    conflicts = route_conflicts(must(cmd.routes()), net)
    mirror = urlsplit(MIRROR).hostname or ""
    try:
        mirror_addrs = {str(ai[4][0]) for ai in socket.getaddrinfo(mirror, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        mirror_addrs = set()
    conflicts += [f"{mirror} ({a})" for a in sorted(mirror_addrs) if ":" not in a and ip_address(a) in ip_network(net)]
    if conflicts:
        raise UsageError(f"the lab's private network {net} overlaps what this machine uses: {'; '.join(conflicts)}")


def _bring_up(plan: Plan, topo: LabTopology, paths: LabPaths, state: LabState, images: LabImages) -> UpResult:
    result = UpResult(topo, paths, already_up=False, image=images.label)
    t = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t
        now = time.monotonic()
        result.timings[name] = round(now - t, 1)
        t = now

    if not paths.ssh_key.exists():
        must(cmd.ssh_keygen(paths.ssh_key, f"voipctl-lab-{plan.site}"))
    paths.ssh_key.chmod(0o600)
    bring_up(topo, state)
    lap("network")
    start_apt_proxy(topo, state, paths.site_dir, paths.logs)
    start_resolver(topo, plan, state, paths.site_dir, paths.logs)
    lap("services")
    result.image_built = unpack_images(images, topo.addresses.apt_proxy_url, paths, state)
    lap("image build and unpack" if result.image_built else "image unpack")
    pubkey = paths.ssh_key.with_suffix(".pub").read_text()
    roots = {}
    for host in topo.hosts:
        golden = golden_dir(paths, images.recipe(host.node))
        roots[host.node] = prepare_host(topo, host, paths, state, pubkey, golden)
        start_host(host, roots[host.node], paths, state)
    result.systems = wait_ready(topo, paths.ssh_key, paths, state, BOOT_TIMEOUT,
                                restart=lambda host: start_host(host, roots[host.node], paths, state))
    lap("boot")
    paths.inventory.write_text(inventory_yaml(inventory(plan, topo, paths.ssh_key)))
    state.status = "up"
    state.save()
    return result


def _healthy(state: LabState) -> bool:
    return bool(state.processes) and all(alive(p.pid, p.start) for p in state.processes)


def down(site: str) -> bool:
    """Remove the site's lab; False when there was nothing to remove."""
    _require_root()
    paths = LabPaths.for_site(site)
    state = LabState.load(paths.state_file)
    if state is None:
        return False
    teardown(state, paths)
    return True


def teardown(state: LabState, paths: LabPaths) -> None:
    """Undo everything recorded, in reverse; raise after trying all if something stays."""
    problems: list[str] = []
    stop_daemons([(p.pid, p.start, HOST_STOP_GRACE if p.name.startswith("host:") else 5.0)
                  for p in reversed(state.processes)])
    for proc in reversed(state.processes):
        if alive(proc.pid, proc.start):
            problems.append(f"process {proc.name} ({proc.pid}) did not stop")
    netns = state.of_kind("netns")
    for ns in netns:
        # Anything still inside a lab namespace belongs to the lab (e.g. an orphaned container).
        kill_netns(ns)
    for group in reversed(state.of_kind("cgroup")):
        if not cgroups.remove(Path(group)):
            problems.append(f"could not remove cgroup {group}")
    for mount in reversed(state.of_kind("mount")):
        if not _unmount(Path(mount)):
            problems.append(f"could not unmount {mount}")
    for ns in reversed(netns):
        if Path(f"/run/netns/{ns}").exists() and run(cmd.netns_delete(ns), timeout=30).returncode != 0:
            problems.append(f"could not delete namespace {ns}")
    for link in reversed(state.of_kind("link")):
        if not _delete_link(link):
            problems.append(f"could not delete link {link}")
    if problems:
        state.save()
        raise ToolError("lab teardown incomplete: " + "; ".join(problems))
    for d in reversed(state.of_kind("dir")):
        shutil.rmtree(d, ignore_errors=True)
    if not _mounted_under(paths.site_dir):
        shutil.rmtree(paths.site_dir, ignore_errors=True)


def _delete_link(link: str) -> bool:
    """Delete a host-side link; a veth whose peer's namespace was just deleted vanishes on its own
    (the kernel cleans namespaces up asynchronously), so a failed delete is re-checked, not trusted."""
    sysfs = Path(f"/sys/class/net/{link}")
    for _ in range(20):
        if not sysfs.exists() or run(cmd.link_delete(link), timeout=30).returncode == 0:
            return True
        time.sleep(0.1)
    return not sysfs.exists()


def _unmount(target: Path) -> bool:
    for _ in range(20):
        if not _is_mountpoint(target):
            return True
        run(cmd.umount(target), timeout=30)
        if not _is_mountpoint(target):
            return True
        time.sleep(0.1)
    return not _is_mountpoint(target)


def _mountpoints() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _is_mountpoint(target: Path) -> bool:
    return str(target) in _mountpoints()


def _mounted_under(base: Path) -> bool:
    prefix = f"{base}/"
    return any(m.startswith(prefix) for m in _mountpoints())


def status(plan: Plan) -> StatusResult | None:
    """What runs of the site's lab and how its hosts answer; None if it is not up."""
    paths = LabPaths.for_site(plan.site)
    state = LabState.load(paths.state_file)
    if state is None:
        return None
    services = {p.name: alive(p.pid, p.start) for p in state.processes if not p.name.startswith("host:")}
    hosts = tuple(report(h, paths.ssh_key, state) for h in lab_topology(plan).hosts)
    return StatusResult(plan.site, state.status, services, hosts)
