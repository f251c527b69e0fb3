"""Where each node's daemons are checked: this machine, or a root filesystem of the node's release.

A config is proven by the daemon version the node will run. When this machine runs
the node's release, its own daemons are those; for any other release `check`
chroots into that release's lab image (voipctl.lab.rootfs, cached, built when
absent), so a Debian 12 machine proves a Debian 13 config with kamailio 6.0's `-c`.
"""

from __future__ import annotations

from pathlib import Path

from voipctl.lab.rootfs import IMAGE_CACHE, ImageRecipe, ensure_unpacked
from voipctl.plan.model import Plan
from voipctl.plan.platform import PLATFORMS, Platform

OS_RELEASE = Path("/etc/os-release")


def host_platform(os_release: str) -> str | None:
    """This machine's platform name from /etc/os-release text (`debian12`), or None if not Debian."""
    fields = {}
    for line in os_release.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    if fields.get("ID") != "debian" or not fields.get("VERSION_ID", "").isdigit():
        return None
    return f"debian{fields['VERSION_ID']}"


def foreign_platforms(plan: Plan, host: str | None) -> list[Platform]:
    """The plan's platforms this machine does not run, in plan order."""
    names = dict.fromkeys(n.platform.name for n in plan.nodes if n.platform.name != host)
    return [PLATFORMS[name] for name in names]


def platform_roots(plan: Plan, log: Path = IMAGE_CACHE / "check-image-build.log") -> tuple[tuple[str, str], ...]:
    """(platform name, unpacked root) for every platform of the plan other than this machine's."""
    host = host_platform(OS_RELEASE.read_text()) if OS_RELEASE.exists() else None
    return tuple((p.name, str(ensure_unpacked(ImageRecipe(cold=False, suite=p.suite), log)))
                 for p in foreign_platforms(plan, host))
