"""Argv builders of the process layer (pure, unit-tested): how a command enters a namespace."""

from __future__ import annotations

from collections.abc import Sequence


def in_netns(ns: str | None, argv: Sequence[str]) -> list[str]:
    """`argv` run inside network namespace `ns` (as is without one).

    `ip netns exec` also gives the command a private mount namespace with
    /etc/netns/NS/* bind-mounted over /etc: the namespace's own resolv.conf.
    """
    return ["ip", "netns", "exec", ns, *argv] if ns else list(argv)


def netns_pids_argv(ns: str) -> list[str]:
    """Every process whose network namespace is `ns`."""
    return ["ip", "netns", "pids", ns]
