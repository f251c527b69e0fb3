"""A desk phone that is busy: waits on one UDP address for a SIP request, answers an INVITE
486 Busy Here (and a REGISTER never, it has none to send), prints what it got as JSON, exits.

Run by the registration-restart daemon test inside its namespace, on the address and
port the phone registered from, so an INVITE reaching it proves kamailio still knew
the binding.
"""

from __future__ import annotations

import json
import socket
import sys
import time

_COPIED = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")


def busy_answer(request: str) -> bytes:
    """486 for `request`: its Via, From, To (with a tag), Call-ID and CSeq copied."""
    lines = ["SIP/2.0 486 Busy Here"]
    for line in request.split("\r\n")[1:]:
        if not line:
            break
        name = line.split(":", 1)[0].strip().lower()
        if name in _COPIED:
            lines.append(line + (";tag=busyphone" if name in ("to", "t") and ";tag=" not in line else ""))
    return ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()


def main(address: str, port: int, seconds: float) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    print(json.dumps({"listening": f"{address}:{port}"}), flush=True)
    deadline = time.monotonic() + seconds
    got: list[str] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data, peer = sock.recvfrom(65535)
        except TimeoutError:
            break
        text = data.decode(errors="replace")
        got.append(text.split("\r\n", 1)[0])
        if text.startswith("INVITE "):
            sock.sendto(busy_answer(text), peer)
            time.sleep(0.5)  # let the ACK in, so it is counted too
            break
    print(json.dumps({"received": got}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
