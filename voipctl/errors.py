"""One error hierarchy; each error carries the exit code the CLI uses.

Only the CLI prints or exits; library code raises these. Every class that can end
a command lives here, so README's exit-code table maps to this one file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a site, located by file, line and dotted path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.path if self.path else "(top level)"
        return _printable(f"{self.file}:{self.line}: {where}: {self.message}")


def _printable(text: str) -> str:
    """One line, whatever the input held: control characters are shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class VoipctlError(Exception):
    """Base of every error voipctl raises on purpose."""

    exit_code = 1

    def lines(self) -> list[str]:
        """The lines the CLI prints for this error."""
        return [str(self)]


class SiteError(VoipctlError):
    """The site (or a file it references) is invalid: bad input, exit 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.path, p.message))
        super().__init__("; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class UsageError(VoipctlError):
    """The command line asks for something impossible (e.g. an output dir we do not own)."""

    exit_code = 2


class RenderError(VoipctlError):
    """Rendering or writing the output failed; nothing was written."""

    exit_code = 1


class CheckError(VoipctlError):
    """A daemon refused its rendered config (`voipctl check`)."""

    exit_code = 1


class ToolError(VoipctlError):
    """An external tool (kamailio, ansible, ip, ...) is missing or failed."""

    exit_code = 3


class ProbeError(VoipctlError):
    """The probe could not reach the server or the server broke the protocol."""

    exit_code = 3


class HandshakeRefused(ProbeError):
    """The server answered the WebSocket upgrade with something other than 101."""

    def __init__(self, problem: str, http_status: int | None) -> None:
        super().__init__(f"websocket handshake refused: {problem}")
        self.http_status = http_status


class DeployFailed(VoipctlError):
    """At least one host failed its deploy; each was rolled back to its previous files where it had any."""

    exit_code = 4


class HostsUnreachable(VoipctlError):
    """No host failed, but at least one could not be reached (SSH)."""

    exit_code = 5


class AuditError(VoipctlError):
    """The audit cannot vouch for what it would report (a control without lines, a stale render, ...)."""

    exit_code = 1


class CertificatesNeedAttention(VoipctlError):
    """`pki status --strict` found certificates that are expired, expiring soon or missing."""

    exit_code = 1


class PkiError(VoipctlError):
    """The PKI store is unusable (unreadable, corrupt or half-written material)."""

    exit_code = 1


class VerifyFailed(VoipctlError):
    """At least one check failed (skips do not count either way)."""

    exit_code = 1
