"""Judging what a host showed: sockets from `ss`, certificates from its files (pure).

Each function returns the problems it found (empty when all is well), so the
host suite, the unit tests and any other caller share one definition of "right".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from voipctl.site.addresses import host_port

WILDCARDS = frozenset({"0.0.0.0", "::", "*"})  # noqa: S104 - names what ss shows, binds nothing
_USERS = re.compile(r'\("([^"]+)",pid=\d+')


@dataclass(frozen=True)
class Socket:
    """One listening socket as `ss -H -ltunp` shows it."""

    proto: str
    address: str
    port: int
    processes: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.proto} {host_port(self.address, self.port)}"


def _split_hostport(local: str) -> tuple[str, int] | None:
    host, _, port = local.rpartition(":")
    if not port.isdigit():
        return None
    host = host.split("%", 1)[0]  # 0.0.0.0%lo: bound to a device, same address
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:"):]
    return host, int(port)


def parse_ss(text: str) -> list[Socket]:
    """Parse `ss -H -ltunp` (netid state recv-q send-q local peer [process])."""
    found = []
    for line in text.splitlines():
        cols = line.split(None, 6)
        if len(cols) < 6 or cols[0] not in ("tcp", "udp"):
            continue
        parsed = _split_hostport(cols[4])
        if parsed is None:
            continue
        names = tuple(dict.fromkeys(_USERS.findall(cols[6]))) if len(cols) > 6 else ()
        found.append(Socket(cols[0], parsed[0], parsed[1], names))
    return found


def _same(a: str, b: str) -> bool:
    if a in WILDCARDS or b in WILDCARDS:
        return a == b
    return ip_address(a) == ip_address(b)


def listening_problem(sockets: Sequence[Socket], proto: str, address: str, port: int) -> str | None:
    """Something must listen on proto address:port, and on no other address with that port."""
    on_port = [s for s in sockets if s.proto == proto and s.port == port]
    if not on_port:
        return f"nothing listens on {proto} port {port} (expected {address})"
    others = sorted({s.where for s in on_port if not _same(s.address, address)})
    if not any(_same(s.address, address) for s in on_port):
        return f"listens on {', '.join(others)} instead of {address}"
    if others:
        return f"also listens on {', '.join(others)}"
    return None


def unexpected_listeners(sockets: Sequence[Socket], bindings: Sequence[Mapping[str, Any]],
                         processes: Mapping[str, str]) -> list[str]:
    """Sockets of voipctl's daemons that no binding of the plan accounts for (e.g. a control port).

    Without process names (ss not run as root) no socket can be attributed, so nothing could be
    found: that is a failure, never a clean result.
    """
    if not sockets:
        return ["`ss -ltunp` listed no listening socket at all (not even sshd): it cannot be judged"]
    if not any(s.processes for s in sockets):
        return ["`ss -ltunp` shows no process names (not run as root?): whose sockets these are cannot be told"]
    problems = []
    for sock in sockets:
        services = {processes[p] for p in sock.processes if p in processes}
        for service in sorted(services):
            if not any(
                b["service"] == service and b["proto"] == sock.proto and _same(str(b["address"]), sock.address)
                and int(b["port_min"]) <= sock.port <= int(b["port_max"])
                for b in bindings
            ):
                problems.append(f"{service} listens on {sock.where}, which the plan does not have")
    return sorted(set(problems))


def _names(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.DNSName | x509.IPAddress]:
    subjects: list[x509.DNSName | x509.IPAddress] = [x509.DNSName(n) for n in dns_names]
    subjects += [x509.IPAddress(ip_address(a)) for a in ip_addresses]
    return subjects


def _pem_certs(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertProblem(f"{what} is not PEM certificates: {exc}") from None


class CertProblem(ValueError):
    """Material that cannot even be parsed."""


def certificate_problems(
    cert_pem: bytes, chain_pem: bytes, root_pem: bytes, key_public_pem: bytes | None,
    dns_names: Sequence[str], ip_addresses: Sequence[str], now: datetime, min_days: int,
) -> list[str]:
    """Leaf and chain valid for more than `min_days`, verifying to the site root for every name, key matching."""
    try:
        leaf = _pem_certs(cert_pem, "the certificate")[0]
        chain = _pem_certs(chain_pem, "the chain")
        roots = _pem_certs(root_pem, "the site CA")
    except (CertProblem, IndexError) as exc:
        return [str(exc) or "empty certificate file"]
    problems = []
    if chain[0] != leaf:
        problems.append("the full chain does not start with the certificate")
    intermediates = chain[1:]
    for cert in (leaf, *intermediates):
        days = (cert.not_valid_after_utc - now).total_seconds() / 86400
        if days <= min_days:
            who = cert.subject.rfc4514_string()
            problems.append(f"{who} expires in {days:.1f} days (must be > {min_days})")
    store = Store(roots)
    for subject in _names(dns_names, ip_addresses):
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(subject)
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            problems.append(f"does not verify to the site CA for {subject.value}: {exc}")
    if key_public_pem is not None:
        have = leaf.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        try:
            key = serialization.load_pem_public_key(key_public_pem).public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        except ValueError:
            key = b""
        if key != have:
            problems.append("the private key does not belong to the certificate")
    return problems


def file_problems(found: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Owner, group, mode and sha256 of a deployed file against its manifest entry.

    A seed file the daemon has taken over (found["handed_over"]) is the daemon's: only
    its owner and group are judged, since the daemon rewrites its content.
    """
    if not found.get("exists"):
        return [f"{want['path']} is missing"]
    problems = []
    if want.get("handover") and found.get("handed_over"):
        return [f"{key} is {found[key]}, not {want[key]}" for key in ("owner", "group")
                if str(found[key]) != str(want[key])]
    for key in ("owner", "group", "mode"):
        if str(found[key]) != str(want[key]):
            problems.append(f"{key} is {found[key]}, not {want[key]}")
    if found["sha256"] != want["sha256"]:
        problems.append("content differs from the render (drift): sha256 "
                        f"{str(found['sha256'])[:12]}… instead of {str(want['sha256'])[:12]}…")
    return problems
