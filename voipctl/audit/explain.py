"""`voipctl explain SITE NODE:PATH:LINE`: what produced one rendered line.

The controls covering the line come from the render's own control spans, with
the site fields, defaults and voipctl rules that decided them; then the plan
values printed on the line (matched by value, and said to be so), and for a
socket the site field it came from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voipctl import pipeline
from voipctl.audit.build import decider, set_in_file
from voipctl.audit.catalogue import BY_ID
from voipctl.audit.sections import secret_forms
from voipctl.audit.tables import decider_text
from voipctl.errors import UsageError
from voipctl.plan.model import Binding, NodePlan
from voipctl.site.yamlsource import dotted

_TARGET = re.compile(r"^(?P<node>[^:]+):(?P<path>/[^:]*):(?P<line>[0-9]+)$")


def parse_target(target: str) -> tuple[str, str, int]:
    m = _TARGET.match(target)
    if m is None:
        raise UsageError(f"{target!r}: expected NODE:/path/on/node:LINE, e.g. sip1:/etc/kamailio/kamailio.cfg:120")
    return m["node"], m["path"], int(m["line"])


def plan_values(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted plan path, value) for every scalar under a plan dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from plan_values(getattr(obj, f.name), f"{prefix}.{f.name}")
    elif isinstance(obj, tuple):
        for i, item in enumerate(obj):
            yield from plan_values(item, f"{prefix}[{i}]")
    elif isinstance(obj, str | int) and not isinstance(obj, bool):
        yield prefix, obj


def _on_line(value: Any, line: str) -> bool:
    text = str(value)
    if len(text) < 2 or (isinstance(value, str) and len(text) < 3):
        return False
    return re.search(rf"(?<![\w.]){re.escape(text)}(?![\w])", line) is not None


def values_on_line(node: NodePlan, line: str) -> list[tuple[str, Any]]:
    """Plan values printed on `line`; of the items of one list, only those matching the most fields."""
    found = [(p, v) for p, v in plan_values(node, f"plan.nodes[{node.name}]")
             if _on_line(v, line) and ".bindings[" not in p]
    score: dict[str, int] = {}
    for p, _ in found:
        score[p.rsplit(".", 1)[0]] = score.get(p.rsplit(".", 1)[0], 0) + 1

    def best(path: str) -> bool:
        parent = path.rsplit(".", 1)[0]
        if not parent.endswith("]"):
            return True
        siblings = [s for k, s in score.items() if k.endswith("]") and k.rsplit("[", 1)[0] == parent.rsplit("[", 1)[0]]
        return score[parent] == max(siblings)
    return [(p, v) for p, v in found if best(p)]


def sockets_on_line(node: NodePlan, line: str) -> list[Binding]:
    """Bindings whose address:port the line holds; several: those whose kind (udp, ng, ...) it names too."""
    hits = [b for b in node.bindings if f"{b.address}:{b.port_min}" in line or f"[{b.address}]:{b.port_min}" in line]
    named = [b for b in hits if re.search(rf"\b{re.escape(b.what.split()[-1])}\b", line)]
    return named or hits


def explain(site_path: Path, target: str, pki_dir: Path) -> list[str]:
    node_name, path, number = parse_target(target)
    site, plan = pipeline.load_and_plan(site_path)
    secrets = pipeline.secrets_for(site, plan)
    tree = pipeline.render(site, plan, pki_dir)
    f = next((f for f in tree.files if f.node == node_name and f.path == path), None)
    if f is None:
        known = ", ".join(sorted(g.path for g in tree.files if g.node == node_name)) or "none"
        raise UsageError(f"site {site.name} renders no {path} for node {node_name} (its files: {known})")
    lines = f.content.decode(errors="replace").splitlines()
    if not 1 <= number <= len(lines):
        raise UsageError(f"{node_name}:{path} has {len(lines)} lines, not {number}")
    line = lines[number - 1]
    forms = [v for values in secret_forms(plan, secrets).values() for v in values]
    secret = any(v in line for v in forms)
    out = [f"{node_name}:{path}:{number}", "  (this line holds a secret; not shown)" if secret else f"  {line}",
           f"file: {f.owner}:{f.group} {f.mode:04o}, read by {f.service}; rendered by voipctl.render.{f.service} "
           f"from model sha256:{plan.model_hash[:16]} of {site.path}"]
    covering = [s for s in f.controls if s.first - 1 <= number <= s.last]
    for span in covering:
        control = BY_ID[span.control]
        out.append(f"control {control.id} ({control.title}), lines {span.first}-{span.last}; decided by:")
        out += [f"  - {decider_text(decider(site, d))}" for d in control.decided_by]
    if not covering:
        out.append("control: none (this line implements no catalogued control)")
    node = plan.node(node_name)
    matches = [] if secret else values_on_line(node, line)
    if matches:
        out.append("plan values printed on this line (matched by value):")
        out += [f"  - {p} = {v}" for p, v in matches[:20]]
    for b in [] if secret else sockets_on_line(node, line):
        set_at = set_in_file(site, b.site_path)
        origin = "the default" if set_at is None else f"{site.source.file}:{set_at}"
        out.append(f"socket {b.what} ({b.proto} {b.address}:{b.ports}) comes from site field "
                   f"{dotted(b.site_path)} ({origin})")
    if not matches and not covering:
        out.append("no plan value appears on it: fixed text of the template")
    return out
