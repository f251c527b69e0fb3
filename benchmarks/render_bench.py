"""Benchmark: whole-process `voipctl render` time for the lab site and a generated 100-node site.

Prints figures and their ratio; it asserts nothing about speed (not a timed test).
Usage: .venv/bin/python benchmarks/render_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def big_site(nodes: int) -> str:
    """A site with `nodes` nodes: a quarter each of sip, media, turn and xmpp, 2 subscribers per node."""
    roles = ["sip", "media", "turn", "xmpp"]
    lines = ["site: bench", "domain: bench.example.com", "nodes:"]
    for i in range(nodes):
        lines += [
            f"  - name: n{i:03d}",
            f"    roles: [{roles[i % 4]}]",
            f"    private: 10.{i // 250}.{i % 250}.10",
            f"    nat: 203.0.{i // 250 + 113}.{i % 250 + 1}",
        ]
    lines.append("subscribers:")
    lines += [f"  - user: u{i:04d}" for i in range(nodes * 2)]
    return "\n".join(lines) + "\n"


def time_render(site: Path, out: Path, runs: int) -> list[float]:
    argv = [str(REPO / ".venv/bin/voipctl"), "render", str(site), "-o", str(out), "--pki-dir", str(out.parent / "pki")]
    times = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = work / "lab" / "site.yml"
        lab.parent.mkdir()
        shutil.copy(REPO / "inventories/lab/site.yml", lab)
        big = work / "big" / "site.yml"
        big.parent.mkdir()
        big.write_text(big_site(100))
        lab_t = time_render(lab, work / "lab-out", args.runs)
        big_t = time_render(big, work / "big-out", args.runs)
        files_lab = sum(1 for p in (work / "lab-out").rglob("*") if p.is_file())
        files_big = sum(1 for p in (work / "big-out").rglob("*") if p.is_file())
    lab_med, big_med = statistics.median(lab_t), statistics.median(big_t)
    print(f"runs per site: {args.runs} (median, min..max of whole-process wall time)")
    print(f"lab site    (3 nodes, {files_lab} files):  {lab_med:.3f} s  ({min(lab_t):.3f}..{max(lab_t):.3f})")
    print(f"100-node    (100 nodes, {files_big} files): {big_med:.3f} s  ({min(big_t):.3f}..{max(big_t):.3f})")
    print(f"ratio 100-node / lab: {big_med / lab_med:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
