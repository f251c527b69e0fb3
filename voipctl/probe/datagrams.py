"""Receiving UDP until a deadline: the one loop the TURN client and the relay probe both wait in."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator


def datagrams_until(sock: socket.socket, deadline: float) -> Iterator[bytes]:
    """Each datagram reaching `sock` before the monotonic time `deadline`; then the iteration ends."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            return
        yield data
