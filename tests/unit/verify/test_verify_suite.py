"""verify's host suite without hosts: generation from a plan, judging sockets, files and certificates,
reading an inventory, and the child pytest's command line."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.pki_support import init_and_issue, now, site_copy
from voipctl import pipeline
from voipctl.errors import UsageError
from voipctl.output.manifest import Manifest, ManifestEntry
from voipctl.plan.model import Plan
from voipctl.verify.hosts.access import accesses_from_listing, paramiko_config, ssh_option
from voipctl.verify.hosts.checks import HostCheck, host_checks
from voipctl.verify.hosts.freshness import stale_files
from voipctl.verify.hosts.judge import (
    Socket,
    certificate_problems,
    file_problems,
    listening_problem,
    parse_ss,
    unexpected_listeners,
)
from voipctl.verify.hosts.packages import package_pins
from voipctl.verify.hosts.suite_runner import outcomes_from, pytest_argv

SS = """\
udp UNCONN 0      0      198.51.100.11:5060 0.0.0.0:* users:(("kamailio",pid=420,fd=9),("kamailio",pid=419,fd=9))
udp UNCONN 0      0         10.79.0.12:2223 0.0.0.0:* users:(("rtpengine",pid=197,fd=4))
tcp LISTEN 0      1024   198.51.100.11:5061 0.0.0.0:* users:(("kamailio",pid=420,fd=11))
tcp LISTEN 0      128          0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=34,fd=3))
tcp LISTEN 0      128             [::]:22      [::]:* users:(("sshd",pid=34,fd=4))
tcp LISTEN 0      5          127.0.0.1:9900 0.0.0.0:* users:(("rtpengine",pid=197,fd=5))
udp UNCONN 0      0     127.0.0.53%lo:53   0.0.0.0:* users:(("systemd-resolve",pid=9,fd=13))
tcp LISTEN 0      50               *:8080       *:* users:(("kamailio",pid=420,fd=14))
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan, tuple[ManifestEntry, ...]]:
    """The lab site with a PKI and its manifest, in tmp (secrets are generated there)."""
    tmp = tmp_path_factory.mktemp("lab")
    site_path = site_copy(tmp, "lab")
    init_and_issue(site_path, tmp)
    site, plan = pipeline.load_and_plan(site_path)
    tree = pipeline.render(site, plan, tmp / "pki")
    return tmp, plan, Manifest.of(tree).entries


def test_suite_covers_every_socket_file_and_certificate(lab: tuple[Path, Plan, tuple[ManifestEntry, ...]]) -> None:
    tmp, plan, files = lab
    pins = {n.name: package_pins(n) for n in plan.nodes}
    checks = host_checks(plan, files, pins, tmp / "pki" / "lab" / "root" / "ca.crt")
    by_kind: dict[str, list[HostCheck]] = {}
    for c in checks:
        by_kind.setdefault(c.kind, []).append(c)
    singles = [(n.name, b) for n in plan.nodes for b in n.bindings if b.port_min == b.port_max]
    listening = {(c.node, c.params["proto"], c.params["address"], c.params["port"]) for c in by_kind["listening"]}
    assert listening == {(n, b.proto, b.address, b.port_min) for n, b in singles}
    # port ranges (RTP, TURN relay) are opened per call: no socket check for them
    assert not any(c.params["port"] == 20000 for c in by_kind["listening"])
    assert {c.node for c in by_kind["listeners"]} == {n.name for n in plan.nodes}
    assert {(c.node, c.params["path"], c.params["sha256"]) for c in by_kind["file"]} == {
        (f.node, f.path, f.sha256) for f in files}
    assert len(by_kind["cert"]) == sum(len(n.certs) for n in plan.nodes) == 3
    assert all(c.params["root_ca"].endswith("pki/lab/root/ca.crt") and c.params["min_days"] == 30
               for c in by_kind["cert"])
    # Openfire cannot run without a package: its package, service and sockets are skipped with that reason
    xmpp = [c for c in checks if c.node == "xmpp1" and c.kind in ("package", "service", "listening")]
    assert xmpp and all(c.skip and "openfire.package" in c.skip for c in xmpp)
    assert not any(c.skip for c in checks if c.node != "xmpp1")
    # kamailio's packages carry the pinned version and the DB module of the site's backend
    kam = [c.params for c in by_kind["package"] if c.node == "sip1"]
    assert {"package": "kamailio-sqlite-modules", "version_prefix": "5.6.3-"} in kam
    assert {c.params["unit"] for c in by_kind["service"]} == {"kamailio", "rtpengine-daemon", "coturn", "openfire"}
    assert [HostCheck.from_json(json.loads(json.dumps(c.to_json()))) for c in checks] == checks


def test_ss_parsing_and_listener_verdicts() -> None:
    sockets = parse_ss(SS)
    assert Socket("udp", "198.51.100.11", 5060, ("kamailio",)) in sockets
    assert Socket("tcp", "::", 22, ("sshd",)) in sockets
    assert Socket("udp", "127.0.0.53", 53, ("systemd-resolve",)) in sockets
    assert listening_problem(sockets, "udp", "198.51.100.11", 5060) is None
    assert listening_problem(sockets, "udp", "10.79.0.12", 2223) is None
    assert "nothing listens" in (listening_problem(sockets, "tcp", "198.51.100.11", 443) or "")
    assert "instead of 198.51.100.11" in (listening_problem(sockets, "tcp", "198.51.100.11", 22) or "")
    exposed = parse_ss(SS + "udp UNCONN 0 0 0.0.0.0:2223 0.0.0.0:* users:((\"rtpengine\",pid=1,fd=4))\n")
    assert "also listens on udp 0.0.0.0:2223" in (listening_problem(exposed, "udp", "10.79.0.12", 2223) or "")
    bindings = [
        {"service": "kamailio", "proto": "udp", "address": "198.51.100.11", "port_min": 5060, "port_max": 5060},
        {"service": "kamailio", "proto": "tcp", "address": "198.51.100.11", "port_min": 5061, "port_max": 5061},
        {"service": "rtpengine", "proto": "udp", "address": "10.79.0.12", "port_min": 2223, "port_max": 2223},
        {"service": "rtpengine", "proto": "tcp", "address": "127.0.0.1", "port_min": 9900, "port_max": 9900},
    ]
    processes = {"kamailio": "kamailio", "rtpengine": "rtpengine"}
    # sshd is not ours; kamailio's extra *:8080 is a socket the plan does not have
    assert unexpected_listeners(sockets, bindings, processes) == [
        "kamailio listens on tcp *:8080, which the plan does not have"]
    assert unexpected_listeners([s for s in sockets if s.port != 8080], bindings, processes) == []
    # ss without root shows no process names: nothing can be attributed, which must not look clean
    nameless = [dataclasses.replace(s, processes=()) for s in sockets]
    assert "no process names" in unexpected_listeners(nameless, bindings, processes)[0]
    assert "no listening socket" in unexpected_listeners([], bindings, processes)[0]


def test_file_verdicts() -> None:
    want = {"path": "/etc/x", "owner": "root", "group": "kamailio", "mode": "0640", "sha256": "a" * 64}
    assert file_problems({"exists": True, "owner": "root", "group": "kamailio", "mode": "0640", "sha256": "a" * 64},
                         want) == []
    assert file_problems({"exists": False}, want) == ["/etc/x is missing"]
    bad = file_problems({"exists": True, "owner": "kamailio", "group": "kamailio", "mode": "0644",
                         "sha256": "b" * 64}, want)
    assert len(bad) == 3 and "drift" in bad[2] and "mode is 0644" in bad[1]
    # A seed Openfire has taken over: only owner and group are judged; before handover it is a normal file.
    seed = want | {"handover": {"path": "/etc/x", "marker": "<setup>true</setup>"}}
    rewritten = {"exists": True, "owner": "root", "group": "kamailio", "mode": "0644", "sha256": "b" * 64}
    assert file_problems(rewritten | {"handed_over": True}, seed) == []
    assert file_problems(rewritten | {"handed_over": True, "owner": "nobody"}, seed) == ["owner is nobody, not root"]
    assert len(file_problems(rewritten | {"handed_over": False}, seed)) == 2


def test_certificate_verdicts(tmp_path: Path) -> None:
    site_path = site_copy(tmp_path / "a", "lab")
    _, plan, lay, _ = init_and_issue(site_path, tmp_path / "a")
    cert = next(c for n in plan.nodes for c in n.certs if c.service == "kamailio")
    leaf = lay.leaf_dir(cert.node, cert.service)
    pem, chain, root = (leaf / "cert.pem").read_bytes(), (leaf / "fullchain.pem").read_bytes(), \
        lay.root_cert.read_bytes()
    key = serialization.load_pem_private_key((leaf / "privkey.pem").read_bytes(), None)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    names, ips = list(cert.dns_names), list(cert.ip_addresses)
    assert certificate_problems(pem, chain, root, pub, names, ips, now(), 30) == []
    # near the end of its validity: fewer than 30 days left
    end = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    late = certificate_problems(pem, chain, root, pub, names, ips, end - timedelta(days=10), 30)
    assert any("expires in 10.0 days" in p for p in late)
    # another site CA: the chain does not verify
    _, _, other, _ = init_and_issue(site_copy(tmp_path / "b", "lab"), tmp_path / "b")
    wrong = certificate_problems(pem, chain, other.root_cert.read_bytes(), pub, names, ips, now(), 30)
    assert wrong and all("does not verify to the site CA" in p for p in wrong)
    # a name the certificate does not carry
    assert certificate_problems(pem, chain, root, pub, ["other.example"], [], now(), 30)
    # the key of another leaf
    coturn = next(c for n in plan.nodes for c in n.certs if c.service == "coturn")
    other_key = serialization.load_pem_private_key(
        (lay.leaf_dir(coturn.node, coturn.service) / "privkey.pem").read_bytes(), None)
    other_pub = other_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    assert certificate_problems(pem, chain, root, other_pub, names, ips, now(), 30) == [
        "the private key does not belong to the certificate"]
    assert certificate_problems(b"junk", chain, root, pub, names, ips, now(), 30)


LISTING = {
    "_meta": {"hostvars": {
        "sip1": {"ansible_host": "10.79.0.11", "ansible_user": "root",
                 "ansible_ssh_private_key_file": "/k/id", "ansible_ssh_common_args":
                 "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
        "edge-a": {"ansible_host": "2001:db8::5", "ansible_port": 2222, "ansible_user": "ops",
                   "ansible_become": True, "voipctl_node_name": "media1"},
        "unrelated": {"ansible_host": "10.0.0.9"},
    }},
    "all": {"children": ["ungrouped"]},
}


def test_inventory_gives_how_to_reach_each_node() -> None:
    found = accesses_from_listing(LISTING, ["sip1", "media1"])
    sip, media = found["sip1"], found["media1"]
    assert sip.hostspec("ssh") == "ssh://root@10.79.0.11:22" and sip.identity_file == "/k/id"
    assert ssh_option(sip.ssh_args, "stricthostkeychecking") == "no"
    assert paramiko_config(sip) == "Host 10.79.0.11\n  StrictHostKeyChecking no\n"
    assert media.hostspec("paramiko") == "paramiko://ops@[2001:db8::5]:2222" and media.sudo
    assert paramiko_config(media) == "Host 2001:db8::5\n"
    with pytest.raises(UsageError, match="xmpp1"):
        accesses_from_listing(LISTING, ["sip1", "xmpp1"])
    leaky = {"_meta": {"hostvars": {"sip1": {"ansible_host": "h", "ansible_password": "x"}}}}
    with pytest.raises(UsageError, match="SSH keys only"):
        accesses_from_listing(leaky, ["sip1"])


def test_child_pytest_is_isolated_and_its_results_map_to_outcomes(tmp_path: Path) -> None:
    argv = pytest_argv(tmp_path, "/py")
    assert argv[:3] == ["/py", "-m", "pytest"]
    assert argv[argv.index("voipctl.verify.hosts.plugin") - 1:][:2] == ["-p", "voipctl.verify.hosts.plugin"]
    assert argv[-1].endswith("voipctl/verify/hosts/suite.py") and "-c" in argv and "no:cacheprovider" in argv
    outs = outcomes_from([
        {"node": "sip1", "kind": "file", "name": "/etc/x", "outcome": "failed", "detail": "drift", "seconds": 0.1},
        {"node": "xmpp1", "kind": "service", "name": "openfire", "outcome": "skipped", "detail": "why"},
    ])
    assert [(o.group, o.status, o.host) for o in outs] == [("host:file", "failed", "sip1"),
                                                          ("host:service", "skipped", "xmpp1")]
    assert not any(o.ok for o in outs)


def test_stale_manifest_is_noticed(lab: tuple[Path, Plan, tuple[ManifestEntry, ...]]) -> None:
    tmp, plan, files = lab
    site, plan = pipeline.load_and_plan(tmp / "lab" / "site.yml")
    tree = pipeline.render(site, plan, tmp / "pki")
    manifest = Manifest(plan.site, plan.model_hash, files)
    assert stale_files(manifest, tree) == []
    edited = tuple(replace(f, sha256="0" * 64) if f.path.endswith("kamailio.cfg") else f for f in files)
    assert stale_files(replace(manifest, entries=edited), tree) == ["sip1/etc/kamailio/kamailio.cfg"]
