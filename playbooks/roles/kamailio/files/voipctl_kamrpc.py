#!/usr/bin/python3
# Copyright: voipctl contributors. Apache-2.0.
"""Call one kamailio RPC command over jsonrpcs' datagram socket (stdlib only).

Why: renewing certificates or changing subscribers must not restart kamailio (a
restart drops every TCP, TLS and WebSocket connection); `tls.reload` re-reads tls.cfg
and its certificate files, `htable.reload auth` the subscribers' HA1 cache, in the
running daemon. kamcmd needs the ctl module, which voipctl does not
load; jsonrpcs' unix datagram socket (`kamailio_rpc.sock` in the runtime dir) is
always there. The reply comes back to an abstract-namespace socket, so no file
permission stands between kamailio's user and this caller.
Prints {"ok": bool, "msg": str}; exits 0 only when kamailio answered with a result.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys


def request(method, params, ident):
    body = {"jsonrpc": "2.0", "method": method, "id": ident}
    if params:
        body["params"] = list(params)
    return json.dumps(body).encode()


def call(sock_path, method, params, timeout):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        client.bind(f"\0voipctl-kamrpc-{os.getpid()}")
        client.settimeout(timeout)
        client.sendto(request(method, params, os.getpid()), sock_path)
        data = client.recv(65535)
    finally:
        client.close()
    return json.loads(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="kamailio's jsonrpcs datagram socket")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("method", help="e.g. tls.reload")
    parser.add_argument("params", nargs="*", help="the method's parameters, e.g. the table of htable.reload")
    args = parser.parse_args()
    try:
        reply = call(args.socket, args.method, args.params, args.timeout)
    except (OSError, ValueError) as exc:
        print(json.dumps({"ok": False, "msg": f"{args.method}: no answer on {args.socket}: {exc}"}))
        return 1
    if "error" in reply or "result" not in reply:
        print(json.dumps({"ok": False, "msg": f"{args.method}: {reply.get('error', reply)}"}))
        return 1
    print(json.dumps({"ok": True, "msg": f"{args.method}: {reply['result']}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
