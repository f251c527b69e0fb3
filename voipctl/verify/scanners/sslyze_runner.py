"""Standalone sslyze driver, run by the Python that has sslyze (possibly another venv than voipctl's).

Imports nothing from voipctl. Reads {"targets" (each with its "concurrency"),
"ca_file", "timeout"} as JSON on stdin, scans each target (protocol versions and the
certificate chain against the given CA) and prints raw findings as JSON. The
API is used instead of the sslyze command because the command cannot shorten
its 5 s network timeout, and a server that stays silent on old protocol
versions (coturn) then costs minutes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from sslyze import (  # type: ignore[import-not-found, unused-ignore]
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.plugins.certificate_info.implementation import (  # type: ignore[import-not-found, unused-ignore]
    CertificateInfoExtraArgument,
)

PROTOCOLS = {
    "SSL 2.0": "ssl_2_0_cipher_suites",
    "SSL 3.0": "ssl_3_0_cipher_suites",
    "TLS 1.0": "tls_1_0_cipher_suites",
    "TLS 1.1": "tls_1_1_cipher_suites",
    "TLS 1.2": "tls_1_2_cipher_suites",
    "TLS 1.3": "tls_1_3_cipher_suites",
}
COMMANDS = {
    ScanCommand.SSL_2_0_CIPHER_SUITES, ScanCommand.SSL_3_0_CIPHER_SUITES, ScanCommand.TLS_1_0_CIPHER_SUITES,
    ScanCommand.TLS_1_1_CIPHER_SUITES, ScanCommand.TLS_1_2_CIPHER_SUITES, ScanCommand.TLS_1_3_CIPHER_SUITES,
    ScanCommand.CERTIFICATE_INFO,
}
RETRIES = 2
RETRY_PAUSE = 2.0


def _request(target: dict[str, Any], ca_file: str, timeout: int) -> Any:
    location = ServerNetworkLocation(target["name"], int(target["port"]), target["host"])
    network = ServerNetworkConfiguration(tls_server_name_indication=target["name"], network_timeout=timeout,
                                         network_max_retries=1)
    extra = ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca_file)))
    return ServerScanRequest(server_location=location, network_configuration=network, scan_commands=COMMANDS,
                             scan_commands_extra_arguments=extra)


def _certinfo(attempt: Any, ca_file: str) -> dict[str, Any]:
    if attempt.status != ScanCommandAttemptStatusEnum.COMPLETED:
        return {"error": str(attempt.error_reason)}
    deployments = attempt.result.certificate_deployments
    if not deployments:
        return {"error": "no certificate received"}
    dep = deployments[0]
    custom = [p for p in dep.path_validation_results if p.trust_store.path == Path(ca_file)]
    found: dict[str, Any] = {
        "chain": [c.subject.rfc4514_string() for c in dep.received_certificate_chain],
        "serials": [f"{c.serial_number:x}" for c in dep.received_certificate_chain],  # judged against the CRLs
    }
    if custom:
        found["ca_valid"] = bool(custom[0].was_validation_successful)
        found["ca_error"] = custom[0].validation_error
    else:
        found["ca_valid"] = False
        found["ca_error"] = "sslyze did not validate against the supplied CA"
    return found


def _scan(target: dict[str, Any], ca_file: str, timeout: int, concurrency: int) -> dict[str, Any]:
    scanner = Scanner(per_server_concurrent_connections_limit=concurrency, concurrent_server_scans_limit=1)
    scanner.queue_scans([_request(target, ca_file, timeout)])
    result = next(iter(scanner.get_results()))
    if result.scan_status != ServerScanStatusEnum.COMPLETED or result.scan_result is None:
        trace = result.connectivity_error_trace
        return {"connectivity": f"{result.connectivity_status}: {trace}" if trace else str(result.connectivity_status)}
    found: dict[str, Any] = {"connectivity": "ok", "protocols": {}, "errors": {}}
    for label, attr in PROTOCOLS.items():
        attempt = getattr(result.scan_result, attr)
        if attempt.status == ScanCommandAttemptStatusEnum.COMPLETED:
            found["protocols"][label] = len(attempt.result.accepted_cipher_suites)
        else:
            found["errors"][label] = str(attempt.error_reason)
    found.update(_certinfo(result.scan_result.certificate_info, ca_file))
    return found


def _complete(found: dict[str, Any]) -> bool:
    return found.get("connectivity") == "ok" and not found.get("errors") and "error" not in found


def _failure(found: dict[str, Any]) -> str:
    errors = "; ".join(f"{k} {v}" for k, v in found.get("errors", {}).items())
    return str(found.get("error") or errors or found.get("connectivity"))


def main() -> int:
    job = json.loads(sys.stdin.read())
    out: dict[str, Any] = {}
    for target in job["targets"]:
        found = _scan(target, job["ca_file"], int(job["timeout"]), int(target["concurrency"]))
        # A certificate scan that errored (e.g. BUG_IN_SSLYZE on a reset connection) proved nothing: retry,
        # and keep the first failure in the findings (a wrong CA or protocol still connects, never masked).
        first = None if _complete(found) else _failure(found)
        for _ in range(RETRIES):
            if _complete(found):
                break
            time.sleep(RETRY_PAUSE)
            found = _scan(target, job["ca_file"], int(job["timeout"]), int(target["concurrency"]))
        if first is not None:
            found["retried"] = first
        out[target["id"]] = found
    print(json.dumps({"results": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
