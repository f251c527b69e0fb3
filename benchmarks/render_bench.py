"""Benchmark: whole-process `voipctl render` time for the lab site, a large cluster and 10,000 subscribers.

Sites allow one sip node (registrations live in one kamailio's memory), so the large cluster is
one sip node, one xmpp node and many media and turn nodes; the subscriber case is the lab's three
nodes with 10,000 subscribers from a subscribers file. The first render of a site also creates its
secrets and PKI; it is reported apart from the repeated renders. Prints figures and ratios; it
asserts nothing about speed (not a timed test).
Usage: .venv/bin/python benchmarks/render_bench.py [--runs N] [--nodes N] [--subscribers N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Timing:
    label: str
    first: float
    runs: list[float]
    files: int

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def cluster_site(nodes: int) -> str:
    """One sip node, one xmpp node, the rest alternating media and turn, each behind a 1:1 NAT."""
    lines = ["site: bench", "domain: bench.example.com", "nodes:"]
    for i in range(nodes):
        roles = "sip" if i == 0 else "xmpp" if i == 1 else ("media" if i % 2 == 0 else "turn")
        lines += [
            f"  - name: n{i:04d}",
            f"    roles: [{roles}]",
            f"    private: 10.{i // 250}.{i % 250}.10",
            f"    nat: 203.0.{i // 250 + 113}.{i % 250 + 1}",
        ]
    lines += ["subscribers:", "  - user: alice", "  - user: bob"]
    return "\n".join(lines) + "\n"


def subscribers_site(directory: Path, count: int) -> str:
    """The lab site's nodes with `count` subscribers kept in a subscribers file."""
    users = "".join(f"  - user: u{i:05d}\n" for i in range(count))
    (directory / "subscribers.yml").write_text("subscribers:\n" + users)
    lab = (REPO / "inventories/lab/site.yml").read_text()
    head = lab.split("\nsubscribers:", 1)[0]
    return head + "\nsubscribers_file: subscribers.yml\n"


def render_once(argv: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"render failed (exit {res.returncode}): {res.stderr.strip()}")
    return elapsed


def time_render(label: str, site: Path, runs: int) -> Timing:
    out = site.parent / "out"
    argv = [str(REPO / ".venv/bin/voipctl"), "render", str(site), "-o", str(out), "--pki-dir", str(site.parent / "pki")]
    first = render_once(argv, out)
    times = [render_once(argv, out) for _ in range(runs)]
    files = sum(1 for p in out.rglob("*") if p.is_file())
    return Timing(label, first, times, files)


def write_site(work: Path, name: str, text: str | None = None) -> Path:
    directory = work / name
    directory.mkdir(exist_ok=True)
    path = directory / "site.yml"
    path.write_text(text if text is not None else (REPO / "inventories/lab/site.yml").read_text())
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subs_dir = work / "subs"
        subs_dir.mkdir()
        results = [
            time_render("lab site (3 nodes, 3 subscribers)", write_site(work, "lab"), args.runs),
            time_render(f"cluster ({args.nodes} nodes: 1 sip, 1 xmpp, media/turn)",
                        write_site(work, "cluster", cluster_site(args.nodes)), args.runs),
            time_render(f"lab nodes, {args.subscribers:,} subscribers",
                        write_site(work, "subs", subscribers_site(subs_dir, args.subscribers)), args.runs),
        ]
    base = results[0].median
    print(f"voipctl render, whole process; {args.runs} runs per site after a first run that also creates "
          "secrets and PKI (median, min..max)")
    for r in results:
        print(f"{r.label:<48} {r.files:4d} files  first {r.first:6.3f} s  "
              f"median {r.median:6.3f} s ({min(r.runs):.3f}..{max(r.runs):.3f})  x{r.median / base:.2f} of lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
