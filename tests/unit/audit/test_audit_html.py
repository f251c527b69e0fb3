"""audit.html in headless Debian chromium: it loads with no console error, fetches nothing, and renders.

A page with a console error and an external stylesheet is the negative control:
the same inspection must report both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unit.audit.test_audit import Audited, _prepare
from voipctl.verify.browser.argv import CHROMIUM, CHROMIUM_FLAGS

SCRIPT = REPO / "tests/fixtures/audit/inspect_page.mjs"
WEB = REPO / "web"


def inspect_argv(html: Path, screenshot: Path) -> list[str]:
    return ["node", str(SCRIPT), str(WEB), CHROMIUM, str(html), str(screenshot), *CHROMIUM_FLAGS]


def inspect(html: Path, screenshot: Path) -> dict[str, Any]:
    if not Path(CHROMIUM).exists() or shutil.which("node") is None or not (WEB / "node_modules").is_dir():
        pytest.skip("chromium, node or web/node_modules missing (run ./scripts/setup)")
    env = {**os.environ, "HOME": str(screenshot.parent)}  # chromium's profile and caches stay in the tmp dir
    proc = subprocess.run(inspect_argv(html, screenshot), capture_output=True, text=True, timeout=120, env=env,
                          check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_audit_html_opens_in_chromium_without_errors(tmp_path: Path) -> None:
    a: Audited = _prepare(tmp_path)
    assert a.audit() == 0
    html = a.report / "audit.html"
    shot = tmp_path / "audit.png"
    found = inspect(html, shot)
    assert found["console"] == [] and found["pageErrors"] == [] and found["requests"] == [], found
    assert found["title"] == "voipctl audit of site lab" and found["tables"] > 20
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 50_000
    text = html.read_text()
    assert "<script" not in text and "<link" not in text and "src=" not in text


def test_the_inspection_sees_console_errors_and_external_fetches(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title>'
                   '<link rel="stylesheet" href="https://fonts.invalid/x.css"></head>'
                   '<body><script>console.error("boom")</script><p>x</p></body></html>')
    found = inspect(bad, tmp_path / "bad.png")
    assert "error: boom" in found["console"]
    assert found["requests"] == ["https://fonts.invalid/x.css"]
