"""Where the CA keys' passphrase comes from: a 0600 file, never the command line.

Why: both CA keys sit on the control machine; encrypted, a copied pki/ directory
is useless without the passphrase. argv is visible to every local user (ps,
/proc) and lands in shell history, so the passphrase is read from the file named
by --passphrase-file or by the environment variable below (how unattended runs
such as the main job and a systemd timer get it), or typed at a terminal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from voipctl.errors import UsageError
from voipctl.pki.store import is_encrypted

ENV = "VOIPCTL_PKI_PASSPHRASE_FILE"
HINT = (f"give --passphrase-file FILE or set {ENV}=FILE (a 0600 file whose first line is the passphrase), "
        "or run on a terminal to type it")


def passphrase_file(option: Path | None) -> Path | None:
    """The file the passphrase comes from: the option, else the environment variable, else none."""
    if option is not None:
        return option
    env = os.environ.get(ENV)
    return Path(env) if env else None


def unattended_passphrase(key: Path) -> str | None:
    """For runs that cannot ask (verify's browser probe signing its page certificate): the
    passphrase from the environment's file when `key` is encrypted, else None."""
    if not is_encrypted(key):
        return None
    path = passphrase_file(None)
    if path is None:
        raise UsageError(f"the CA key {key} is encrypted: set {ENV}=FILE (a 0600 file holding the passphrase)")
    return read_passphrase(path)


def read_passphrase(path: Path) -> str:
    """The first line of a private file; refused when others may read it or it is empty."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"passphrase file {path}: cannot read it ({exc.__class__.__name__})") from None
    if mode & 0o077:
        raise UsageError(f"passphrase file {path} is mode {mode:04o}; it must be 0600 (chmod 600 {path})")
    if not lines or not lines[0].strip():
        raise UsageError(f"passphrase file {path} is empty")
    return lines[0].strip()
