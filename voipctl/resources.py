"""Where voipctl's own files and the tools installed with it are: one locator for every stage.

templates/, playbooks/ and web/ sit at the repository top in a checkout (editable
install); a wheel bundles templates and playbooks inside the package as _templates
and _playbooks. Tools pip installs with voipctl (ansible-playbook, sipvicious, sslyze)
live beside this Python, which need not be on PATH, so that directory is searched first.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from voipctl.errors import ToolError

_PACKAGE = Path(__file__).resolve().parent
PLAYBOOK = "site.yml"


def _shipped(name: str, marker: str) -> Path:
    """The checkout's top-level `name` or the wheel's bundled `_name`, whichever holds `marker`."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / f"_{name}"):
        if (candidate / marker).exists():
            return candidate
    raise ToolError(f"voipctl's {name} directory ({marker}) was not found beside {_PACKAGE}")


def templates_dir() -> Path:
    """The Jinja templates every renderer uses."""
    return _shipped("templates", "kamailio")


def playbooks_dir() -> Path:
    """The Ansible playbooks deploy runs (site.yml) and audit reads."""
    return _shipped("playbooks", PLAYBOOK)


def web_dir() -> Path:
    """The browser probe's page and driver (web/, checkout only: it needs `npm ci`)."""
    return _PACKAGE.parent / "web"


def find_executable(name: str) -> str | None:
    """A tool installed beside this Python first (pip into voipctl's venv), then on PATH; None if absent."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=search)


def require_executable(name: str, install: str) -> str:
    """Like find_executable, but a missing tool is a ToolError saying how to install it."""
    found = find_executable(name)
    if found is None:
        raise ToolError(f"{name} not found: {install}")
    return found
