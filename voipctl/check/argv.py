"""Command lines for `voipctl check`: pure functions, so each is unit-tested.

Every daemon runs under the sandbox helper (voipctl.check.sandbox), which lays
the rendered files over /etc (and a scratch /var) inside the namespace's own
mount namespace, so the daemon reads them at their real absolute paths.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SANDBOX_MODULE = "voipctl.check.sandbox"
# Directories overlaid in the sandbox: rendered files live under /etc; /var takes
# the daemons' incidental writes (coturn's sqlite db, logs) so the host keeps none.
OVERLAID = ("/etc", "/var")


def sandbox_argv(stage: str, cmd: Sequence[str], overlays: Sequence[str] = OVERLAID,
                 python: str | None = None, root: str | None = None) -> list[str]:
    """Run `cmd` through the sandbox helper (inside `ip netns exec`, added by Netns); chrooted in `root`."""
    argv = [python or sys.executable, "-m", SANDBOX_MODULE, "--stage", stage]
    for directory in overlays:
        argv += ["--overlay", directory]
    if root is not None:
        argv += ["--root", root]
    return [*argv, "--", *cmd]


def kamailio_check_argv(cfg_path: str) -> list[str]:
    """Parse-only run: syntax, modules, modparams (no sockets, no TLS)."""
    return ["kamailio", "-c", "-f", cfg_path]


def rtpengine_argv(conf_path: str) -> list[str]:
    """As rtpengine-daemon.service starts it, minus the pid file (nothing left behind)."""
    return ["rtpengine", "--foreground", "--log-stderr", "--no-log-timestamps", "--config-file", conf_path]


def rtpengine_help_argv(root: str | None = None) -> list[str]:
    """rtpengine's option list (of the release in `root`): config keys are the long option names."""
    return ["chroot", root, "rtpengine", "--help"] if root is not None else ["rtpengine", "--help"]


def coturn_argv(conf_path: str) -> list[str]:
    """As coturn.service starts it (`--pidfile=` disables the pid file)."""
    return ["turnserver", "-c", conf_path, "--pidfile="]


def listeners_argv() -> list[str]:
    """Listening TCP and UDP sockets, numeric, no header."""
    return ["ss", "-H", "-l", "-n", "-t", "-u"]
