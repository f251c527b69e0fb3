"""Finding the Python that runs sslyze (tools themselves are found by voipctl.resources.find_executable).

sslyze pins an older `cryptography` than voipctl, so it may live in a venv of
its own: its Python is then the one its `sslyze` script was installed with.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from voipctl.resources import find_executable


def shebang_python(script: Path) -> str | None:
    """The interpreter a console script was installed for (its `#!` line), if it is a Python."""
    try:
        with script.open("rb") as fh:
            first = fh.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    interpreter = parts[-1] if Path(parts[0]).name == "env" else parts[0]
    return interpreter if "python" in Path(interpreter).name else None


def sslyze_python() -> str | None:
    """A Python that can `import sslyze`: ours, or the one behind the `sslyze` command."""
    if importlib.util.find_spec("sslyze") is not None:
        return sys.executable
    script = find_executable("sslyze")
    if script is None:
        return None
    return shebang_python(Path(script).resolve()) or shebang_python(Path(script))
