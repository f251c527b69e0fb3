"""Pure readers of what daemons say: error lines, listening sockets, config keys.

rtpengine and coturn have no config-check flag, so `check` judges them by exit
code, log lines and the sockets they actually opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from voipctl.plan.model import Binding
from voipctl.site.addresses import host_port

# rtpengine -E prefixes each line with its syslog level.
RTPENGINE_ERRORS = (re.compile(r"^(EMERG|ALERT|CRIT|ERR|ERROR):"), re.compile(r"Fatal error"))
# coturn keeps running after all of these, so they must be read from its log.
COTURN_ERRORS = (
    re.compile(r"Bad configuration format"),
    re.compile(r"CONFIG ERROR"),
    re.compile(r"\bERROR:"),
    re.compile(r"Wrong address format"),
    re.compile(r"cannot find (certificate|private key) file"),
    re.compile(r"cannot start TLS and DTLS listeners"),
    re.compile(r"Cannot bind"),
)
_COTURN_PREFIX = re.compile(r"^\d+: (\S*: )?:?\s*")


@dataclass(frozen=True, order=True)
class Socket:
    """One listening socket: protocol, address (or `*`), port."""

    proto: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.proto}:{host_port(self.address, self.port)}"


def first_error(log: str, patterns: Iterable[re.Pattern[str]]) -> str | None:
    """The first log line matching any pattern, without coturn's timestamp prefix."""
    compiled = tuple(patterns)
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if any(p.search(line) for p in compiled):
            text = _COTURN_PREFIX.sub("", line.strip())
            if text.rstrip(":").strip() in ("ERROR", "") and i + 1 < len(lines):
                text = lines[i + 1].strip()  # coturn puts the message of a bare "ERROR:" on the next line
            return text[:200]
    return None


def last_lines(log: str, count: int = 2) -> str:
    """The last non-empty lines, joined, for a one-line failure detail."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return " | ".join(lines[-count:])[:300] if lines else "no output"


def parse_listeners(ss_output: str) -> set[Socket]:
    """Parse `ss -H -l -n -t -u` into sockets (addresses normalised, zone ids dropped)."""
    found: set[Socket] = set()
    for line in ss_output.splitlines():
        cols = line.split()
        if len(cols) < 5 or cols[0] not in ("udp", "tcp"):
            continue
        host, _, port = cols[4].rpartition(":")
        host = host.strip("[]").split("%", 1)[0]
        address = "*" if host == "*" or ip_address(host).is_unspecified else str(ip_address(host))
        found.add(Socket(cols[0], address, int(port)))
    return found


def expected_listeners(bindings: Iterable[Binding], service: str) -> set[Socket]:
    """Fixed sockets the plan says `service` binds at start (port ranges open per call)."""
    return {
        Socket(b.proto, str(ip_address(b.address)), b.port_min)
        for b in bindings
        if b.service == service and b.port_min == b.port_max
    }


def _in_range(sock: Socket, bindings: Iterable[Binding], service: str) -> bool:
    return any(
        b.service == service and b.port_min < b.port_max and b.proto == sock.proto
        and sock.address == str(ip_address(b.address)) and b.port_min <= sock.port <= b.port_max
        for b in bindings
    )


def compare_listeners(bindings: Sequence[Binding], service: str, seen: set[Socket]) -> str | None:
    """None when the daemon listens exactly where the plan says, else what differs.

    Sockets inside a planned port range (RTP, relay) are fine: they open per call.
    """
    expected = expected_listeners(bindings, service)
    missing = sorted(expected - seen)
    extra = sorted(s for s in seen - expected if not _in_range(s, bindings, service))
    parts = []
    if missing:
        parts.append("not listening on " + ", ".join(map(str, missing)))
    if extra:
        parts.append("also listening on " + ", ".join(map(str, extra)) + " (not in the plan)")
    return "; ".join(parts) or None


def rtpengine_options(help_text: str) -> set[str]:
    """Long option names from `rtpengine --help`: the keys its config file accepts."""
    return set(re.findall(r"--([a-z0-9][a-z0-9-]*)", help_text))


def config_keys(conf: str, section: str = "rtpengine") -> list[str]:
    """Keys set in one `[section]` of an ini-style file, in order."""
    keys: list[str] = []
    current = None
    for raw in conf.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == section:
            keys.append(line.split("=", 1)[0].strip())
    return keys


def unknown_rtpengine_keys(conf: str, help_text: str) -> list[str]:
    """Keys rtpengine would silently ignore (typos, options of other versions)."""
    known = rtpengine_options(help_text) - {"config-file", "config-section", "help", "version"}
    return [k for k in config_keys(conf) if k not in known]
