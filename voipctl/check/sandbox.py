"""In-namespace helper: overlay the staged files on /etc (and /var), then exec a daemon.

Run only as `ip netns exec NS python -m voipctl.check.sandbox --stage DIR
--overlay /etc ... [--root DIR] -- CMD...`. With `--root` (another Debian release's
root filesystem) the overlays go on that tree, which gets /dev, /proc, /sys and a
scratch /tmp and /run, and the daemon runs chrooted in it: the release's own binaries.
`ip netns exec` gives the process a private mount namespace whose mounts never reach
the host, and it disappears with the daemon. Upper layers live on a tmpfs, so the daemon's writes vanish too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from voipctl.proc import must

_UNSAFE = set(",:\\ \n")


def mount_argvs(stage: Path, overlays: list[str], root: Path | None = None) -> list[list[str]]:
    """The mount commands, in order: a tmpfs scratch, one overlay per directory, then a root's API dirs."""
    scratch = stage / "mnt"
    base = str(root) if root is not None else ""
    cmds = [["mount", "-t", "tmpfs", "-o", "mode=0700,size=64m", "voipctl-check", str(scratch)]]
    for directory in overlays:
        name = _layer_name(directory)
        options = f"lowerdir={base}{directory},upperdir={scratch}/upper/{name},workdir={scratch}/work/{name}"
        cmds.append(["mount", "-t", "overlay", "voipctl-check", "-o", options, f"{base}{directory}"])
    if root is not None:
        cmds += [["mount", "--rbind", api, f"{base}{api}"] for api in ("/dev", "/sys")]
        cmds.append(["mount", "-t", "proc", "proc", f"{base}/proc"])
        cmds += [["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "voipctl-check", f"{base}{d}"]
                 for d in ("/run", "/tmp")]  # noqa: S108 - inside the root, in a private mount namespace
    return cmds


def _layer_name(directory: str) -> str:
    if not directory.startswith("/") or directory == "/" or _UNSAFE & set(directory):
        raise ValueError(f"cannot overlay {directory!r}")
    return directory.strip("/").replace("/", "_")


def _clone(src: Path, dst: Path) -> None:
    """Copy a tree keeping mode and ownership (copytree keeps only the mode)."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    for path in [src, *src.rglob("*")]:
        st = path.lstat()
        os.lchown(dst / path.relative_to(src), st.st_uid, st.st_gid)


def prepare(stage: Path, overlays: list[str], root: Path | None = None) -> None:
    """Mount scratch and overlays; the namespace's resolv.conf survives the /etc overlay."""
    if _UNSAFE & set(str(stage)) or _UNSAFE & set(str(root or "")):
        raise ValueError(f"stage path {stage} or root {root} has characters mount options cannot carry")
    resolv = Path("/etc/resolv.conf").read_bytes() if Path("/etc/resolv.conf").exists() else None
    cmds = mount_argvs(stage, overlays, root)
    (stage / "mnt").mkdir(exist_ok=True)
    must(cmds[0], timeout=60)
    for directory, cmd in zip(overlays, cmds[1 : 1 + len(overlays)], strict=True):
        name = _layer_name(directory)
        upper = stage / "mnt" / "upper" / name
        (stage / "mnt" / "work" / name).mkdir(parents=True)
        upper.mkdir(parents=True)
        staged = stage / "root" / directory.lstrip("/")
        if staged.is_dir():
            _clone(staged, upper)
        if directory == "/etc" and resolv is not None and not (upper / "resolv.conf").exists():
            # An overlay hides the bind mount `ip netns exec` put on /etc/resolv.conf.
            (upper / "resolv.conf").write_bytes(resolv)
        must(cmd, timeout=60)
    for cmd in cmds[1 + len(overlays):]:
        must(cmd, timeout=60)


def main(argv: list[str] | None = None) -> None:
    args_in = sys.argv[1:] if argv is None else argv
    if "--" not in args_in:
        raise SystemExit("usage: python -m voipctl.check.sandbox --stage DIR [--overlay DIR]... -- CMD...")
    split = args_in.index("--")
    parser = argparse.ArgumentParser(prog="voipctl.check.sandbox")
    parser.add_argument("--stage", required=True, type=Path)
    parser.add_argument("--overlay", action="append", default=[])
    parser.add_argument("--root", type=Path)
    args = parser.parse_args(args_in[:split])
    cmd = args_in[split + 1 :]
    if not cmd:
        parser.error("no command given")
    prepare(args.stage, args.overlay, args.root)
    if args.root is not None:
        os.chroot(args.root)
        os.chdir("/")
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)  # noqa: S606 - argv list from voipctl.check.argv, no shell


if __name__ == "__main__":
    main()
