"""The probe page's HTTPS server, run inside the browser's namespace.

`python -m voipctl.verify.browser.serve --root DIR --cert CHAIN --key KEY --bind A --port P`
serves DIR's files (GET/HEAD only) over TLS with a certificate from the site PKI, so the
page has the https origin kamailio accepts WebSockets from. It logs requests to stderr.
"""

from __future__ import annotations

import argparse
import functools
import ssl
import sys
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class PageHandler(SimpleHTTPRequestHandler):
    """Static files with no directory listings and no caching."""

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "Not Found")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def tls_context(chain: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


def make_server(root: Path, chain: Path, key: Path, bind: str, port: int) -> ThreadingHTTPServer:
    handler = functools.partial(PageHandler, directory=str(root))
    server = ThreadingHTTPServer((bind, port), handler)
    server.socket = tls_context(chain, key).wrap_socket(server.socket, server_side=True)
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voipctl.verify.browser.serve")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = make_server(args.root, args.cert, args.key, args.bind, args.port)
    print(f"serving {args.root} on https://{args.bind}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
