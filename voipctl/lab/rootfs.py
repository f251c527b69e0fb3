"""The golden root filesystem every lab host boots from, built once and cached.

The cache key hashes the package list and the whole recipe, so a changed recipe
rebuilds and an unchanged one unpacks in seconds. Host-specific files (keys,
hostname, resolver, proxy) never enter the image: they go into each host's
overlay at `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voipctl.lab import commands as cmd
from voipctl.lab.state import CACHE_ROOT
from voipctl.proc import must

IMAGE_CACHE = CACHE_ROOT / "lab"
# Bump when a build step below changes in a way the hashed data does not show.
RECIPE_VERSION = 1
SUITE = "bookworm"
VARIANT = "minbase"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2",
    "ca-certificates", "sudo", "nftables",
)
VOIP_PACKAGES = (
    "kamailio", "kamailio-tls-modules", "kamailio-websocket-modules", "kamailio-sqlite-modules",
    "kamailio-extra-modules", "rtpengine-daemon", "rtpengine-utils", "coturn",
)
# Units packages enable that must stay off: deploy decides what runs. Only ssh is kept.
KEEP_ENABLED = ("ssh.service",)
# Periodic apt runs would take the dpkg lock in the middle of a deploy.
ALWAYS_DISABLED = ("apt-daily.timer", "apt-daily-upgrade.timer")
POLICY_RC_D = "/usr/sbin/policy-rc.d"


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into the image; `cold` leaves out the VoIP packages so deploy installs them."""

    cold: bool

    @property
    def mode(self) -> str:
        return "cold" if self.cold else "voip"

    @property
    def extra_packages(self) -> tuple[str, ...]:
        return () if self.cold else VOIP_PACKAGES

    @property
    def key(self) -> str:
        doc = {
            "version": RECIPE_VERSION,
            "suite": SUITE,
            "variant": VARIANT,
            "mirror": MIRROR,
            "base": BASE_PACKAGES,
            "extra": self.extra_packages,
            "keep": KEEP_ENABLED,
            "disable": ALWAYS_DISABLED,
            "files": image_files(),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def archive(self, cache: Path = IMAGE_CACHE) -> Path:
        return cache / f"rootfs-{self.mode}-{self.key}.tar.zst"


def image_files() -> dict[str, str]:
    """Files the recipe writes into the image (hashed into the key)."""
    return {
        "/etc/apt/sources.list": "".join(
            f"deb {mirror} {suite} main\n"
            for mirror, suite in (
                (MIRROR, SUITE),
                (MIRROR, f"{SUITE}-updates"),
                (f"{MIRROR}-security", f"{SUITE}-security"),
            )
        ),
        # Each host gets one fresh ed25519 host key at `up`; don't look for others.
        "/etc/ssh/sshd_config.d/voipctl-lab.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\n",
    }


def enabled_units(listing: str) -> set[str]:
    """Unit names from `systemctl list-unit-files --state=enabled --no-legend`."""
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def units_to_disable(before: set[str], after: set[str]) -> list[str]:
    """Units the VoIP packages enabled (except ssh), plus the periodic apt timers."""
    new = (after - before) - set(KEEP_ENABLED)
    return sorted(new | (set(ALWAYS_DISABLED) & after))


@contextlib.contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_image(recipe: ImageRecipe, proxy_url: str, log: Path) -> tuple[Path, bool]:
    """The cached image for `recipe`, built through the apt proxy if absent; (path, built)."""
    archive = recipe.archive()
    with _cache_lock(archive.parent):
        if archive.exists():
            return archive, False
        build_dir = archive.parent / f"build-{recipe.mode}-{recipe.key}"
        shutil.rmtree(build_dir, ignore_errors=True)
        try:
            _build(recipe, build_dir, proxy_url, log)
            tmp = archive.with_suffix(".tmp")
            must(cmd.tar_pack(build_dir, tmp), timeout=600)
            tmp.replace(archive)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
            archive.with_suffix(".tmp").unlink(missing_ok=True)
        for old in archive.parent.glob(f"rootfs-{recipe.mode}-*.tar.zst"):
            if old != archive:
                old.unlink()
    return archive, True


def unpack_image(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    must(cmd.tar_unpack(archive, target), timeout=300)


def _build(recipe: ImageRecipe, root: Path, proxy_url: str, log: Path) -> None:
    env = {**os.environ, "http_proxy": proxy_url, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    _log(log, f"debootstrap {SUITE} ({VARIANT}) into {root}")
    out = must(cmd.debootstrap(SUITE, VARIANT, BASE_PACKAGES, root, MIRROR), env=env, timeout=1200)
    _log(log, out[-4000:])
    for path, text in image_files().items():
        _write(root, path, text, 0o644)
    # Package scripts must not start daemons inside the build chroot.
    _write(root, POLICY_RC_D, "#!/bin/sh\nexit 101\n", 0o755)
    listing = ["systemctl", "list-unit-files", "--state=enabled", "--no-legend"]
    before = enabled_units(must(cmd.chroot(root, listing)))
    must(cmd.chroot(root, ["apt-get", "-q", "update"]), env=env, timeout=600)
    if recipe.extra_packages:
        _log(log, f"installing {' '.join(recipe.extra_packages)}")
        install = ["apt-get", "-q", "-y", "--no-install-recommends", "install", *recipe.extra_packages]
        _log(log, must(cmd.chroot(root, install), env=env, timeout=1200)[-4000:])
    after = enabled_units(must(cmd.chroot(root, listing)))
    disable = units_to_disable(before, after)
    if disable:
        must(cmd.chroot(root, ["systemctl", "disable", *disable]))
        _log(log, f"disabled {' '.join(disable)}")
    must(cmd.chroot(root, ["apt-get", "clean"]))
    _scrub(root)


def _scrub(root: Path) -> None:
    """Remove what must differ per host or only served the build."""
    (root / POLICY_RC_D.lstrip("/")).unlink()
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hostname").write_text("")
    lists = root / "var/lib/apt/lists"
    for entry in lists.iterdir():
        if entry.is_file():
            entry.unlink()


def _write(root: Path, path: str, text: str, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


def _log(log: Path, text: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write(text.rstrip() + "\n")
