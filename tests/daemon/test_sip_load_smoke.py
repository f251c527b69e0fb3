"""benchmarks/sip_load.py --smoke keeps working: it completes and writes its ratios and raw figures.

Asserts that the benchmark ran, never how fast anything was (a benchmark, not a timed test).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.loadbed import LOAD_BED_MARKS

pytestmark = LOAD_BED_MARKS


def test_smoke_run_completes_and_writes_the_json_keys(tmp_path: Path) -> None:
    out = tmp_path / "sipload.json"
    res = subprocess.run([sys.executable, str(REPO / "benchmarks/sip_load.py"), "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    for key in ("register_cpu_ratio", "call_cpu_ratio", "max_register_ratio"):
        assert math.isfinite(doc[key]) and doc[key] > 0, (key, doc[key])
        assert math.isfinite(doc["same_options"][key]), key
    assert set(doc["medians"]) == {"A", "B", "B="}
    for figures in doc["medians"].values():
        assert figures["call_cpu_us"] > 0 and figures["max_register_rate"] > 0
    assert doc["functional_differences"]
    assert "register_cpu_ratio" in res.stdout and "functional differences" in res.stdout
