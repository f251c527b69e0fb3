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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voipctl.lab import commands as cmd
from voipctl.lab.state import CACHE_ROOT
from voipctl.proc import must

IMAGE_CACHE = CACHE_ROOT / "lab"
# Bump when a build step below changes in a way the hashed data does not show.
RECIPE_VERSION = 1
SUITE = "bookworm"  # debian12's: its images keep the names and keys they had before platforms
VARIANT = "minbase"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2",
    "ca-certificates", "sudo", "nftables",
)
VOIP_PACKAGES = (
    "kamailio", "kamailio-tls-modules", "kamailio-websocket-modules", "kamailio-sqlite-modules",
    "kamailio-extra-modules", "rtpengine-daemon", "rtpengine-utils", "coturn",
    "kamailio-postgres-modules", "postgresql",  # a site's `db` node and kamailio's db_postgres
)
# Units packages enable that must stay off: deploy decides what runs. Only ssh is kept.
KEEP_ENABLED = ("ssh.service",)
# Periodic apt runs would take the dpkg lock in the middle of a deploy.
ALWAYS_DISABLED = ("apt-daily.timer", "apt-daily-upgrade.timer")
POLICY_RC_D = "/usr/sbin/policy-rc.d"
STALE_IMAGE_SECONDS = 7 * 86400


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into the image; `cold` leaves out the VoIP packages so deploy installs them.

    `suite` is the platform's Debian release (voipctl.plan.platform).
    """

    cold: bool
    suite: str = SUITE

    @property
    def mode(self) -> str:
        return "cold" if self.cold else "voip"

    @property
    def label(self) -> str:
        """The image's name in the cache and in a lab's state: the mode, prefixed by any other suite."""
        return self.mode if self.suite == SUITE else f"{self.suite}-{self.mode}"

    @property
    def extra_packages(self) -> tuple[str, ...]:
        return () if self.cold else VOIP_PACKAGES

    @property
    def key(self) -> str:
        doc = {
            "version": RECIPE_VERSION,
            "suite": self.suite,
            "variant": VARIANT,
            "mirror": MIRROR,
            "base": BASE_PACKAGES,
            "extra": self.extra_packages,
            "keep": KEEP_ENABLED,
            "disable": ALWAYS_DISABLED,
            "files": image_files(self.suite),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def archive(self, cache: Path = IMAGE_CACHE) -> Path:
        # Other suites' names never match the debian12 pattern `rootfs-<mode>-*` that a
        # build deletes older images by (checkouts without platforms use it too).
        return cache / f"rootfs-{self.label}-{self.key}.tar.zst"


def image_files(suite: str = SUITE) -> dict[str, str]:
    """Files the recipe writes into the image (hashed into the key)."""
    return {
        "/etc/apt/sources.list": "".join(
            f"deb {mirror} {dist} main\n"
            for mirror, dist in (
                (MIRROR, suite),
                (MIRROR, f"{suite}-updates"),
                (f"{MIRROR}-security", f"{suite}-security"),
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


def ensure_image(recipe: ImageRecipe, proxy_url: str | None, log: Path) -> tuple[Path, bool]:
    """The cached image for `recipe`, built if absent (through the apt proxy, if any); (path, built)."""
    archive = recipe.archive()
    with _cache_lock(archive.parent):
        if archive.exists():
            return archive, False
        build_dir = archive.parent / f"build-{recipe.label}-{recipe.key}"
        shutil.rmtree(build_dir, ignore_errors=True)
        try:
            _build(recipe, build_dir, proxy_url, log)
            tmp = archive.with_suffix(".tmp")
            must(cmd.tar_pack(build_dir, tmp), timeout=600)
            tmp.replace(archive)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
            archive.with_suffix(".tmp").unlink(missing_ok=True)
        # Other keys stay: worktrees of other branches share this cache; a stale one goes after a week.
        for old in archive.parent.glob(f"rootfs-{recipe.label}-*.tar.zst"):
            if old != archive and time.time() - old.stat().st_mtime > STALE_IMAGE_SECONDS:
                old.unlink()
    return archive, True


def ensure_unpacked(recipe: ImageRecipe, log: Path) -> Path:
    """The image unpacked once in the cache, for read-only use (`voipctl check` chroots into it).

    Built straight from the mirror if absent. Users lay their own writable layer on
    top and never write here; a `.done` marker beside it says the unpack finished.
    """
    archive, _ = ensure_image(recipe, None, log)
    root = archive.parent / f"root-{recipe.label}-{recipe.key}"
    done = root.with_name(root.name + ".done")
    with _cache_lock(archive.parent):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            unpack_image(archive, root)
            done.touch()
        for old in archive.parent.glob(f"root-{recipe.label}-*.done"):
            if old != done:
                old.unlink()
                shutil.rmtree(old.with_suffix(""), ignore_errors=True)
    return root


def unpack_image(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    must(cmd.tar_unpack(archive, target), timeout=300)


def _build(recipe: ImageRecipe, root: Path, proxy_url: str | None, log: Path) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    if proxy_url is not None:
        env["http_proxy"] = proxy_url
    _log(log, f"debootstrap {recipe.suite} ({VARIANT}) into {root}")
    out = must(cmd.debootstrap(recipe.suite, VARIANT, BASE_PACKAGES, root, MIRROR), env=env, timeout=1200)
    _log(log, out[-4000:])
    for path, text in image_files(recipe.suite).items():
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
