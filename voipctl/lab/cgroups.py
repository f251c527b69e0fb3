"""One cgroup per lab host.

Unregistered nspawn (no systemd on the control machine) puts its container in
`<own cgroup>/payload`; containers started from the same cgroup would share
that tree, and each container's systemd would create and delete (and kill in)
the others' unit cgroups. Starting each nspawn in a cgroup of its own keeps
their systemd trees apart.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from voipctl.proc.daemon import kill_pids

MOUNTINFO = Path("/proc/self/mountinfo")
PROC_CGROUP = Path("/proc/self/cgroup")


def hierarchy_dirs(mountinfo: str, proc_cgroup: str) -> list[Path]:
    """Directories of this process's cgroup in the hierarchies systemd uses.

    Those are the cgroup2 (unified) hierarchy and, on hybrid machines, the v1
    `name=systemd` one; the resource-controller v1 hierarchies are left alone.
    """
    own: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0":
            own["cgroup2"] = path
        elif controllers == "name=systemd":
            own["name=systemd"] = path
    dirs: list[Path] = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(tail) < 3:
            continue
        root, mountpoint, fstype, options = fields[3], fields[4], tail[0], tail[2].split(",")
        key = "cgroup2" if fstype == "cgroup2" else "name=systemd" if "name=systemd" in options else None
        if key is None or key not in own:
            continue
        rel = own[key]
        if root != "/" and rel.startswith(root):
            rel = rel[len(root):]
        dirs.append(Path(mountpoint) / rel.lstrip("/"))
    return dirs


def host_cgroups(name: str) -> list[Path]:
    """The cgroups (one per hierarchy) a host named `name` runs in."""
    parents = hierarchy_dirs(MOUNTINFO.read_text(), PROC_CGROUP.read_text())
    return [p / name for p in parents]


def enter(dirs: list[Path]) -> None:
    """Move the calling process into `dirs` (runs in the child between fork and exec)."""
    for d in dirs:
        (d / "cgroup.procs").write_text("0")


def remove(d: Path) -> bool:
    """Kill what is left in a lab host's cgroup tree and remove it, deepest first."""
    for _ in range(50):
        if not d.exists():
            return True
        tree = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for sub in [*tree, d]:
            _kill_members(sub)
            with contextlib.suppress(OSError):
                sub.rmdir()
        time.sleep(0.1)
    return not d.exists()


def _kill_members(d: Path) -> None:
    try:
        pids = (d / "cgroup.procs").read_text().split()
    except OSError:
        return
    kill_pids([int(pid) for pid in pids])
