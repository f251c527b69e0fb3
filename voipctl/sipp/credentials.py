"""SIPp's injection file (-inf): how subscriber passwords reach SIPp, 0600, never on argv.

Field0 is the user, field1 the [authentication ...] keyword the scenarios expand in their
second request. SIPp's keyword parser ends a value at a blank, `;` or `]` and has no escape,
so only the characters below pass; anything else is refused rather than mangled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from voipctl.atomicfile import write_atomic
from voipctl.errors import ToolError

_SAFE = re.compile(r"^[A-Za-z0-9._~!@#$%^&*()+=:,/?{}|-]+$")


def credentials_csv(users: Sequence[tuple[str, str]]) -> str:
    """A SEQUENTIAL -inf file, one line per (user, password)."""
    if not users:
        raise ToolError("SIPp needs at least one subscriber")
    for user, password in users:
        for what, value in (("user name", user), ("password", password)):
            if not _SAFE.match(value):
                raise ToolError(f"a subscriber's {what} has characters a SIPp injection file cannot carry")
    return "SEQUENTIAL\n" + "".join(f"{u};[authentication username={u} password={p}]\n" for u, p in users)


def write_credentials(path: Path, users: Sequence[tuple[str, str]]) -> Path:
    """`credentials_csv(users)` at `path`, created 0600 before any byte is written."""
    write_atomic(path, credentials_csv(users).encode(), 0o600)
    return path
