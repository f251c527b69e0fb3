"""Benchmark: kamailio CPU per authenticated REGISTER and call, and the maximum REGISTER rate, of
the generated config (A) against Debian's stock kamailio.cfg (B), on the same binary.

Everything runs in a network namespace of its own (voipctl.sipload): an all-in-one site
(sqlite subscribers) is rendered with its PKI, rtpengine runs on its rendered config, kamailio is
pinned to core 0 and SIPp and rtpengine to core 1. A, B (package memory defaults) and B= (stock
config with A's daemon options) run interleaved, repeated; the medians and the ratios B/A
(> 1: the generated config is cheaper / faster) are printed and written to --json.
Needs root, kamailio (+ sqlite, tls, websocket modules), rtpengine, sipp, taskset.
Usage: .venv/bin/python benchmarks/sip_load.py [--json FILE] [--smoke] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from voipctl.errors import VoipctlError
from voipctl.sipload.bed import CLIENT, LoadBed
from voipctl.sipload.bench import CALLEE, CONFIGS, Settings, SipLoadBench
from voipctl.sipload.report import FUNCTIONAL_DIFFERENCES, document, medians, table

SMOKE = Settings(repeats=1, register_rates=(300, 2000), call_rate=20, seconds=1.0, max_seconds=1.0,
                 max_start=2000, max_cap=3000, max_bisect=0)


def bench_site(directory: Path, subscribers: int) -> Path:
    """All roles but xmpp on one 2-core node; pike at its 16-bit maximum per second so the single
    load generator is never banned while pike still runs on every request."""
    doc = {
        "site": "sipload",
        "domain": "load.voipctl.test",
        "nodes": [{"name": "pbx", "roles": ["sip", "media", "turn"], "private": "10.77.0.21",
                   "public": "198.51.100.21", "cores": 2, "memory_mb": 2048}],
        "kamailio": {"wss_host": "pbx.load.voipctl.test",
                     "flood": {"sampling_seconds": 1, "max_requests": 65535}},
        "subscribers": [{"user": CALLEE}, *({"user": f"u{i:05d}"} for i in range(subscribers))],
    }
    path = directory / "site.yml"
    path.write_text(json.dumps(doc, indent=1))
    return path


def machine() -> dict[str, Any]:
    version = subprocess.run(["kamailio", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {"host": platform.node(), "cores": os.cpu_count(), "kernel": platform.release(),
            "kamailio": version[0] if version else "?", "load_generator": CLIENT}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--json", type=Path, help="write ratios and raw figures here")
    parser.add_argument("--smoke", action="store_true", help="a few seconds per configuration (CI)")
    parser.add_argument("--repeats", type=int, help="repetitions of each configuration (default 3)")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep its logs")
    args = parser.parse_args()
    settings = SMOKE if args.smoke else Settings()
    if args.repeats:
        settings = Settings(**{**settings.__dict__, "repeats": args.repeats})
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="sipload-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            with LoadBed(bench_site(work, args.subscribers), work / "bed") as bed:
                figures = SipLoadBench(bed, settings, progress).run()
        except VoipctlError as exc:
            print(f"sip_load: {exc}", file=sys.stderr)
            return 1
    doc = document(figures, settings, machine())
    doc["seconds"] = round(time.perf_counter() - started, 1)
    print(f"kamailio CPU per operation (µs) and max REGISTER rate; medians of {settings.repeats} interleaved "
          f"repetition(s); kamailio on core 0, SIPp + rtpengine on core 1")
    for name, what in CONFIGS.items():
        print(f"  {name:3} {what}")
    print(table(medians(figures), settings))
    same = doc["same_options"]
    print(f"B/A (> 1: generated is cheaper/faster): register_cpu_ratio {doc['register_cpu_ratio']:.2f}, "
          f"call_cpu_ratio {doc['call_cpu_ratio']:.2f}, max_register_ratio {doc['max_register_ratio']:.2f}")
    print(f"same daemon options (B=/A): register {same['register_cpu_ratio']:.2f}, call {same['call_cpu_ratio']:.2f}, "
          f"max rate {same['max_register_ratio']:.2f}")
    print("functional differences:")
    for line in FUNCTIONAL_DIFFERENCES:
        print(f"  - {line}")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
