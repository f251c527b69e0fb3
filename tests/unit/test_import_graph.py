"""The package import graph of voipctl/: no cycles, and every import points down the stage order.

Read from the source (AST), function-level imports included, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "voipctl"

# Data flows site -> plan -> render -> output -> deploy -> verify; the CLI sits on top. Below them the
# foundations (errors, the package's own __init__, private files, namespaces); the secrets and the PKI
# feed render; pipeline strings site..render together; probe (our SIP/TURN clients), sipp (SIPp's
# files and argv), lab and check serve deploy and verify; sipload and audit build on verify/deploy.
# proc (the one process layer) is a foundation. A module may import only from units listed before its own.
STAGES = (
    "errors", "voipctl", "atomicfile", "resources", "proc", "netns",
    "site", "plan", "secrets", "pki", "render", "output", "pipeline",
    "probe", "sipp", "lab", "check", "deploy", "verify",
    "sipload", "audit", "cli", "__main__",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = ROOT.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every voipctl module `path` imports, at any depth of the file (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base


def unit_of(module: str) -> str:
    """The node a module belongs to: its package, or itself for a module at voipctl's root."""
    parts = module.split(".")
    if len(parts) == 1:
        return "voipctl"
    if len(parts) == 2:
        return module
    while not (ROOT.parent.joinpath(*parts) / "__init__.py").is_file():
        parts.pop()
    return ".".join(parts)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        src = unit_of(module)
        graph.setdefault(src, set())
        for target in _imports(path, module):
            if target == "voipctl" or target.startswith("voipctl."):
                dst = unit_of(target)
                if dst != src:
                    graph[src].add(dst)
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def stage(unit: str) -> str:
    """voipctl.verify.probes -> verify; voipctl.errors -> errors; voipctl -> voipctl."""
    return unit.split(".")[1] if "." in unit else unit


def test_graph_is_read_from_the_source_including_lazy_imports() -> None:
    graph = package_graph()
    assert "voipctl.verify.browser" in graph["voipctl.verify"]  # the orchestrator's function-level import
    assert "voipctl.verify.report" in graph["voipctl.verify.probes"]
    assert "voipctl.plan" in graph["voipctl.render"]


def test_package_graph_has_no_cycle() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_follow_the_stage_order() -> None:
    graph = package_graph()
    unknown = sorted({stage(u) for u in graph} - set(STAGES))
    assert not unknown, f"place these in STAGES: {unknown}"
    upward = sorted(f"{src} -> {dst}" for src, dsts in graph.items() for dst in dsts
                    if STAGES.index(stage(dst)) > STAGES.index(stage(src)))
    assert not upward, "imports against the stage order: " + "; ".join(upward)


@pytest.mark.parametrize(("graph", "cycle"), [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"a2"}, "a2": {"b"}, "b": {"a2"}}, ["a2", "b", "a2"]),
])
def test_find_cycle(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle
