"""Sockets that live in a named network namespace, for in-process probes.

setns(2) switches only the calling thread, so a short-lived thread enters the
namespace, creates the socket and exits; the socket keeps its namespace and is
usable from any thread. Python 3.11 has no os.setns, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
NETNS_RUN = "/run/netns"


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def socket_in_netns(netns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A new socket inside namespace `netns` (as named by `ip netns`)."""
    if "/" in netns or netns in ("", ".", ".."):
        raise ValueError(f"bad namespace name {netns!r}")
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter_and_create() -> None:
        try:
            fd = os.open(f"{NETNS_RUN}/{netns}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            made.append(socket.socket(family, kind))
        except BaseException as exc:  # handed to the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=enter_and_create, name=f"netns-{netns}")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return made[0]
