"""Bursts of failing TLS handshakes, as a scanner probing old protocol versions sends them.

Run inside the test's network namespace: `python tests/tls_burst.py HOST:PORT... --rounds N
--concurrency C`. Each round opens C connections at once to every target and offers TLS 1.0/1.1
only, which a TLS 1.2+ server refuses; prints {"attempts", "refused", "connect_errors"} as JSON.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading
from collections import Counter


def _legacy_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def _handshake(ctx: ssl.SSLContext, host: str, port: int, outcome: Counter[str], lock: threading.Lock) -> None:
    try:
        with socket.create_connection((host, port), timeout=3) as raw, ctx.wrap_socket(raw) as tls:
            kind = f"accepted {tls.version()}"
    except ssl.SSLError:
        kind = "refused"
    except OSError as exc:
        kind = f"connect_error {type(exc).__name__}"
    with lock:
        outcome[kind] += 1


def burst(targets: list[tuple[str, int]], rounds: int, concurrency: int) -> dict[str, int]:
    ctx = _legacy_context()
    outcome: Counter[str] = Counter()
    lock = threading.Lock()
    for _ in range(rounds):
        threads = [threading.Thread(target=_handshake, args=(ctx, host, port, outcome, lock))
                   for host, port in targets for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {"attempts": sum(outcome.values()), **outcome}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="+", help="HOST:PORT")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=40)
    args = parser.parse_args()
    targets = [(t.rpartition(":")[0], int(t.rpartition(":")[2])) for t in args.targets]
    print(json.dumps(burst(targets, args.rounds, args.concurrency)))


if __name__ == "__main__":
    main()
