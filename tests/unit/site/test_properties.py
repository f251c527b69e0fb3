"""Property tests over mutated site files: never a traceback, never partial output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tests.conftest import REPO
from voipctl.cli import main

BASE = (REPO / "inventories/lab/site.yml").read_text()

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=30),
    st.sampled_from(["10.0.0.999", "::1", "0.0.0.0", "x..y", "https://", "5060", "-1", "sip", "turn"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += paths(v, (*prefix, i))
    return found


def mutate(text: str, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["replace", "delete", "add", "bytes"]))
    if kind == "bytes":
        raw = bytearray(text.encode())
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
        return bytes(raw[: data.draw(st.integers(0, len(raw)))])
    yaml = YAML(typ="safe")
    doc = yaml.load(text)
    target = data.draw(st.sampled_from(paths(doc)))
    parent = doc
    for part in target[:-1]:
        parent = parent[part]
    last = target[-1]
    if kind == "delete":
        del parent[last]
    elif kind == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=10))] = data.draw(values)
    else:
        parent[last] = data.draw(values)
    from io import StringIO

    buf = StringIO()
    YAML().dump(doc, buf)
    return buf.getvalue().encode()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@settings(max_examples=int(os.environ.get("VOIPCTL_HYPOTHESIS_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_sites_never_traceback_or_half_write(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path_factory.mktemp("prop")
    site = work / "site.yml"
    site.write_bytes(mutate(BASE, data))
    out = work / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"files": []}\n')
    before = snapshot(out)
    code = main(["render", str(site), "-o", str(out), "--pki-dir", str(work / "pki")])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code in (0, 2), captured
    if code == 2:
        assert snapshot(out) == before, "a refused site must not touch the output"
        assert captured.err.strip(), "a refusal must say why"
        for line in captured.err.splitlines():
            assert line.startswith(f"{site}:") or line.startswith(str(work)), line
    else:
        import json

        manifest = json.loads((out / "manifest.json").read_text())
        assert {e["rel"] for e in manifest["files"]} | {"manifest.json"} == set(snapshot(out))
