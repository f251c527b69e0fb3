"""Benchmark: `voipctl deploy` on the on-machine lab: cold deploy, no-op redeploy, their ratio,
with and without SSH pipelining + ControlPersist.

Each variant gets fresh hosts (lab up), a cold deploy, then a redeploy that must
change nothing, then lab down. Prints figures; asserts nothing about speed.
Needs root and the lab's tools. Uses its own site name and networks.
Usage: .venv/bin/python benchmarks/deploy_bench.py [--image voip|cold] [--variants fast,plain]
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

from voipctl import pipeline
from voipctl.cli import main as cli_main
from voipctl.deploy.session import DeployOptions, deploy
from voipctl.lab import lifecycle

REPO = Path(__file__).resolve().parent.parent
SITE = "depbench"
# variant -> (pipelining, ControlPersist)
VARIANTS = {"fast": (True, True), "plain": (False, False)}


def site_file(work: Path) -> Path:
    text = (REPO / "inventories/lab/site.yml").read_text()
    text = re.sub(r"^site: lab$", f"site: {SITE}", text, flags=re.MULTILINE)
    text = text.replace("10.77.0.", "10.246.18.").replace("198.51.100.", "198.18.118.")
    path = work / "site.yml"
    path.write_text(text)
    return path


def run_variant(site: Path, work: Path, cold_image: bool, name: str) -> tuple[float, float, int, int, str]:
    """(cold seconds, redeploy seconds, changes on cold, changes on redeploy, failed hosts) on fresh hosts."""
    _, plan = pipeline.load_and_plan(site)
    lifecycle.down(SITE)
    lifecycle.up(plan, cold=cold_image)
    try:
        pipelining, persist = VARIANTS[name]
        options = DeployOptions(render_dir=work / "render", pki_dir=work / "pki", pipelining=pipelining,
                                control_persist=persist)
        start = time.perf_counter()
        first = deploy(site, options)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        second = deploy(site, options)
        noop = time.perf_counter() - start
        failed = sorted({r.host for r in (*first.recap, *second.recap) if r.failed or r.unreachable})
        return cold, noop, first.changed, second.changed, ",".join(failed) or "-"
    finally:
        lifecycle.down(SITE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", choices=("voip", "cold"), default="voip",
                        help="voip: packages preinstalled; cold: deploy installs them through the apt proxy")
    parser.add_argument("--variants", default="fast,plain",
                        help="comma-separated: fast (pipelining+ControlPersist), plain (neither)")
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as tmp:
        work = Path(tmp)
        site = site_file(work)
        # a throwaway CA for the benchmark's site, its keys locked with a throwaway passphrase
        passphrase = work / "ca-passphrase"
        passphrase.touch(mode=0o600)
        passphrase.write_text(secrets.token_urlsafe(24) + "\n")
        for step in ("init", "issue"):
            if cli_main(["pki", step, str(site), "--pki-dir", str(work / "pki"), "--passphrase-file",
                         str(passphrase)]) != 0:
                return 1
        rows = [(name, *run_variant(site, work, args.image == "cold", name)) for name in names]
    print(f"\nvoipctl deploy, lab site (3 nodes), {args.image} image")
    print(f"{'variant':8} {'cold s':>8} {'no-op s':>8} {'ratio':>6} {'changes':>8} {'no-op changes':>14}  failed")
    for name, cold, noop, changed, again, failed in rows:
        print(f"{name:8} {cold:8.1f} {noop:8.1f} {noop / cold:6.2f} {changed:8d} {again:14d}  {failed}")
    if {"fast", "plain"} <= set(names):
        fast = next(r for r in rows if r[0] == "fast")
        plain = next(r for r in rows if r[0] == "plain")
        print(f"pipelining+ControlPersist: cold {plain[1] / fast[1]:.2f}x, no-op {plain[2] / fast[2]:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
