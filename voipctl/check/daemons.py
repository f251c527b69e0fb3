"""Run each daemon on its rendered files in a throwaway namespace and judge it.

Each check stages the node's files in a private temp dir, creates a namespace
carrying the node's addresses, starts the daemon through the sandbox (rendered
files overlaid on /etc), probes it over real sockets, stops it, and removes
everything it made.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from voipctl.check import argv, scan
from voipctl.check.netns_socket import socket_in_netns
from voipctl.check.stage import missing_cert_files, stage_files, throwaway_cert
from voipctl.netns import Netns
from voipctl.plan.model import NodePlan
from voipctl.plan.services import CoturnPlan, KamailioPlan, RtpenginePlan
from voipctl.probe import ng, sdp, turn
from voipctl.proc import Process
from voipctl.render.tree import PlannedFile
from voipctl.site.addresses import socket_family


@dataclass(frozen=True)
class CheckResult:
    """One daemon on one node: did it accept its rendered config, and why (one line)."""

    node: str
    daemon: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.node} {self.daemon}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


@dataclass(frozen=True)
class Options:
    settle: float = 3.0  # seconds a daemon must stay up before it is probed
    prefix: str = "vchk"  # network namespace name prefix
    # Secret values to blank out of details (a daemon may echo a config line in an error).
    redact: tuple[str, ...] = field(default=(), repr=False)
    # (platform name, root filesystem): nodes of these platforms run their daemons chrooted
    # there; any other node runs this machine's. None: check_tree decides (voipctl.check.platforms).
    roots: tuple[tuple[str, str], ...] | None = None

    def root_for(self, node: NodePlan) -> str | None:
        return dict(self.roots or ()).get(node.platform.name)

    def where(self, node: NodePlan) -> str:
        """How a detail says whose daemon judged the config."""
        return f" [{node.platform.title} root filesystem]" if self.root_for(node) else " [this machine's daemon]"

    def scrub(self, text: str) -> str:
        for secret in sorted(self.redact, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "<redacted>")
        return text


def node_addresses(node: NodePlan) -> list[str]:
    """Every address the node's daemons may bind or advertise, plus loopback."""
    found = [node.private, node.public, node.nat, node.client_address, "127.0.0.1"]
    return list(dict.fromkeys(a for a in found if a is not None))


@contextmanager
def staged(files: Sequence[PlannedFile]) -> Iterator[Path]:
    """A 0700 temp dir holding the files; removed afterwards (it may hold secrets)."""
    stage = Path(tempfile.mkdtemp(prefix="voipctl-check-"))
    try:
        stage_files(stage, files)
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _content(files: Sequence[PlannedFile], path: str) -> bytes | None:
    return next((f.content for f in files if f.path == path), None)


def _start(ns: Netns, stage: Path, cmd: list[str], settle: float,
           root: str | None = None) -> tuple[Process, int | None]:
    """Start under the sandbox (chrooted in `root`, if any); the exit code if it died within `settle` seconds."""
    proc = ns.popen(argv.sandbox_argv(str(stage), cmd, root=root), log=stage / "daemon.log")
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, proc.returncode
        time.sleep(0.05)
    return proc, None


def _log(stage: Path) -> str:
    path = stage / "daemon.log"
    return path.read_text(errors="replace") if path.exists() else ""


def check_kamailio(node: NodePlan, kam: KamailioPlan, files: Sequence[PlannedFile], opts: Options) -> CheckResult:
    """`kamailio -c` on the rendered kamailio.cfg, with its includes at their real paths."""
    if _content(files, kam.cfg_path) is None:
        return CheckResult(node.name, "kamailio", False, f"{kam.cfg_path} was not rendered")
    with staged(files) as stage, Netns(node_addresses(node), prefix=opts.prefix) as ns:
        res = ns.run(argv.sandbox_argv(str(stage), argv.kamailio_check_argv(kam.cfg_path), root=opts.root_for(node)),
                     timeout=60)
    out = res.output
    if res.returncode != 0:
        err = next((ln.strip() for ln in out.splitlines() if "ERROR" in ln), None) or scan.last_lines(out)
        return CheckResult(node.name, "kamailio", False,
                           f"kamailio -c exited {res.returncode}: {err[:300]}{opts.where(node)}")
    return CheckResult(node.name, "kamailio", True, f"kamailio -c accepted {kam.cfg_path}{opts.where(node)}")


def _ng_ping(sock: socket.socket, server: tuple[str, int], patience: float = 3.0) -> bool:
    """ng ping, resent every 0.5 s for up to `patience` s; raises TimeoutError if none was answered.

    A daemon that survived the settle time may still be binding its sockets on a loaded
    machine, and a datagram sent before the bind is lost without an error: one ping with a
    long timeout would then fail a good config. Only a pong counts (stale ones carry another cookie).
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return ng.ping(sock, server, timeout=0.5)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise


def _rtpengine_probe(ns: Netns, rtp: RtpenginePlan) -> str | None:
    """ng ping, then an offer whose answer must use the advertised address and the port range."""
    server = (rtp.ng_address, rtp.ng_port)
    sock = socket_in_netns(ns.name, socket_family(rtp.ng_address))
    try:
        if not _ng_ping(sock, server):
            return f"ng ping on {rtp.ng_socket} got no pong"
        call = {"call-id": "voipctl-check", "from-tag": "check"}
        offer = sdp.body("plain", "203.0.113.99", 40000, offer=True).decode()
        reply = ng.ng_request(sock, server, {"command": "offer", "sdp": offer, **call})
        if reply.get(b"result") != b"ok":
            reason = reply.get(b"error-reason") or reply.get(b"result")
            return f"ng offer failed: {reason.decode(errors='replace') if isinstance(reason, bytes) else reason}"
        answer = sdp.summarize(body) if isinstance(body := reply.get(b"sdp"), bytes) else None
        address, port = (answer.address, answer.port) if answer is not None else (None, None)
        ng.ng_request(sock, server, {"command": "delete", **call})
    except OSError as exc:
        return f"no ng answer on {rtp.ng_socket}: {exc}"
    finally:
        sock.close()
    want = rtp.sdp_address
    if address != want or port is None or not rtp.port_min <= port <= rtp.port_max:
        return f"offer answered with {address}:{port}, expected {want} and a port in {rtp.port_min}-{rtp.port_max}"
    return None


def check_rtpengine(node: NodePlan, rtp: RtpenginePlan, files: Sequence[PlannedFile], opts: Options,
                    help_text: str) -> CheckResult:
    """Start rtpengine ~settle s; exit code, log, unknown keys, ng ping/offer, listeners."""
    conf = _content(files, rtp.conf_path)
    if conf is None:
        return CheckResult(node.name, "rtpengine", False, f"{rtp.conf_path} was not rendered")
    unknown = scan.unknown_rtpengine_keys(conf.decode(errors="replace"), help_text)
    ignored = f"; keys rtpengine does not know: {', '.join(unknown)}" if unknown else ""
    with staged(files) as stage, Netns(node_addresses(node), prefix=opts.prefix) as ns:
        proc, code = _start(ns, stage, argv.rtpengine_argv(rtp.conf_path), opts.settle, opts.root_for(node))
        if code is not None:
            return CheckResult(node.name, "rtpengine", False, f"exited with code {code} within {opts.settle:g} s: "
                                                              f"{scan.last_lines(_log(stage))}{ignored}")
        startup_log = _log(stage)  # before probing: probes may log errors on purpose
        trouble = _rtpengine_probe(ns, rtp)
        seen = scan.parse_listeners(ns.run(argv.listeners_argv(), timeout=10).stdout)
        ns.stop(proc)
    trouble = scan.first_error(startup_log, scan.RTPENGINE_ERRORS) or trouble
    trouble = trouble or scan.compare_listeners(node.bindings, "rtpengine", seen)
    trouble = trouble or ignored.lstrip("; ")  # rtpengine runs but would silently ignore these
    if trouble:
        return CheckResult(node.name, "rtpengine", False, trouble)
    return CheckResult(node.name, "rtpengine", True,
                       f"ran {opts.settle:g} s; ng ping/offer answered on {rtp.ng_socket}; listeners match the plan"
                       f"{opts.where(node)}")


def coturn_setting(conf: str, key: str) -> str | None:
    """Value of the first `key=value` line (coturn's format), or None."""
    for line in conf.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == key:
            return value.strip().strip('"')
    return None


def _coturn_probe(ns: Netns, tc: CoturnPlan, secret: str | None) -> str | None:
    """STUN binding; TURN allocation with REST credentials from the rendered secret; a wrong one refused."""
    server = (tc.listen_address, tc.port)
    family = socket_family(tc.listen_address)
    try:
        with socket_in_netns(ns.name, family) as sock:
            turn.stun_binding(sock, server)
        if secret is None:
            return "static-auth-secret is missing from the rendered config"
        ttl = tc.credential_ttl
        with socket_in_netns(ns.name, family) as sock:
            good = turn.turn_allocate(sock, server, *turn.probe_credentials(secret, "voipctl-check", ttl))
        if not good.ok:
            return f"TURN allocation with the site secret refused: {good.error}"
        with socket_in_netns(ns.name, family) as sock:
            bad = turn.turn_allocate(sock, server, *turn.probe_credentials(secret + "x", "voipctl-check", ttl))
        if bad.ok:
            return "TURN allocation with a wrong secret succeeded"
    except (OSError, turn.StunError) as exc:
        return f"no STUN/TURN answer on udp {tc.listen_address}:{tc.port}: {exc}"
    return _turns_certificate(ns, tc)


def _turns_certificate(ns: Netns, tc: CoturnPlan) -> str | None:
    """TLS 1.2+ handshake on the turns: port; the certificate must name the TURN host."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # names are checked below; the chain is the PKI's business
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    where = f"tcp {tc.listen_address}:{tc.tls_port}"
    try:
        with socket_in_netns(ns.name, socket_family(tc.listen_address), socket.SOCK_STREAM) as raw:
            raw.settimeout(3)
            raw.connect((tc.listen_address, tc.tls_port))
            with ctx.wrap_socket(raw, server_hostname=tc.host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        return f"no TLS 1.2+ handshake on {where}: {exc}"
    if der is None:
        return f"no certificate presented on {where}"
    try:
        sans = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = sans.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if tc.host not in names:
        return f"certificate on {where} does not name {tc.host} (SANs: {', '.join(names) or 'none'})"
    return None


def check_coturn(node: NodePlan, tc: CoturnPlan, files: Sequence[PlannedFile], opts: Options) -> CheckResult:
    """Start turnserver ~settle s; log, STUN binding, TURN allocations, listeners."""
    conf = _content(files, tc.conf_path)
    if conf is None:
        return CheckResult(node.name, "coturn", False, f"{tc.conf_path} was not rendered")
    note = ""
    files = list(files)
    if missing_cert_files(tc.tls.cert, files):
        files += throwaway_cert(tc.tls.cert)
        note = " (PKI not rendered: used a throwaway certificate)"
    with staged(files) as stage, Netns(node_addresses(node), prefix=opts.prefix) as ns:
        proc, code = _start(ns, stage, argv.coturn_argv(tc.conf_path), opts.settle, opts.root_for(node))
        if code is not None:
            return CheckResult(node.name, "coturn", False,
                               f"exited with code {code} within {opts.settle:g} s: {scan.last_lines(_log(stage))}")
        startup_log = _log(stage)  # before probing: the wrong-secret probe makes coturn log an error
        trouble = _coturn_probe(ns, tc, coturn_setting(conf.decode(errors="replace"), "static-auth-secret"))
        seen = scan.parse_listeners(ns.run(argv.listeners_argv(), timeout=10).stdout)
        ns.stop(proc)
    trouble = scan.first_error(startup_log, scan.COTURN_ERRORS) or trouble
    trouble = trouble or scan.compare_listeners(node.bindings, "coturn", seen)
    if trouble:
        return CheckResult(node.name, "coturn", False, trouble + note)
    return CheckResult(node.name, "coturn", True,
                       f"ran {opts.settle:g} s; STUN answered, TURN allocation with the site secret relayed, "
                       f"wrong secret refused, TLS serves {tc.host}; listeners match the plan{note}{opts.where(node)}")
