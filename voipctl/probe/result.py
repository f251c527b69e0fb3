"""The probe's report: what came back, as JSON, with transport failures recorded instead of raised."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from voipctl.errors import HandshakeRefused, ProbeError
from voipctl.probe.sipmsg import SipMessage
from voipctl.probe.transport import Target


@dataclass
class ProbeResult:
    """What one probe run saw. `answered` means a final SIP response arrived."""

    action: str
    transport: str
    target: str
    answered: bool = False
    status: int | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    http_status: int | None = None
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    tls_version: str | None = None
    error: str | None = None
    elapsed_ms: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_target(cls, action: str, target: Target) -> ProbeResult:
        return cls(action, target.transport, f"{target.transport}:{target.host}:{target.port}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def answer(self, msg: SipMessage | None) -> None:
        """Record a final response, or that none came."""
        if msg is None:
            self.error = self.error or "no answer"
            return
        self.answered = True
        self.status = msg.status
        self.reason = msg.reason
        self.headers = list(msg.headers)


@contextmanager
def recording(result: ProbeResult) -> Iterator[ProbeResult]:
    """Run a probe body; an unreachable server or refused handshake becomes `result.error`."""
    start = time.monotonic()
    try:
        yield result
    except HandshakeRefused as exc:
        result.error, result.http_status = str(exc), exc.http_status
    except ProbeError as exc:
        result.error = str(exc)
    finally:
        result.elapsed_ms = int((time.monotonic() - start) * 1000)
