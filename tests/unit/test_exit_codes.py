"""README's exit-code table and voipctl/errors.py say the same: every class, every code, nothing elsewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from voipctl import errors

REPO = Path(__file__).resolve().parents[2]


def readme_table() -> dict[str, set[int]]:
    """Class name -> the codes of the rows naming it, from README's "### Exit codes" table."""
    section = REPO.joinpath("README.md").read_text().split("### Exit codes", 1)[1].split("\n#", 1)[0]
    table: dict[str, set[int]] = {}
    for row in re.findall(r"^\|([^|]+)\|[^|]*\|([^|]*)\|\s*$", section, re.MULTILINE):
        codes = {int(c) for c in re.findall(r"\d+", row[0])}
        for name in re.findall(r"`(\w+)`", row[1]):
            table.setdefault(name, set()).update(codes)
    return table


def error_classes() -> dict[str, type[errors.VoipctlError]]:
    return {name: cls for name, cls in vars(errors).items()
            if isinstance(cls, type) and issubclass(cls, errors.VoipctlError) and cls is not errors.VoipctlError}


def test_every_error_class_is_in_the_table_with_its_code() -> None:
    table = readme_table()
    classes = error_classes()
    assert set(table) == set(classes)
    for name, cls in classes.items():
        assert cls.exit_code in table[name], (name, cls.exit_code, table[name])


def test_no_module_outside_errors_py_defines_an_exit_code() -> None:
    found = []
    for path in sorted(REPO.joinpath("voipctl").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "voipctl":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(t, ast.Name) and t.id == "exit_code"
                    for stmt in node.body if isinstance(stmt, ast.Assign) for t in stmt.targets):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not found, found
