"""render_certs: the store's bytes at the plan's host paths, nothing before `pki issue`."""

from __future__ import annotations

from pathlib import Path

from tests.pki_support import init_and_issue, now, pki_layout, plan_of, site_copy
from voipctl.pki.ca import init_ca
from voipctl.render.certs import render_certs


def test_nothing_before_issue(tmp_path: Path) -> None:
    site, plan = plan_of(site_copy(tmp_path, "lab"))
    lay = pki_layout(site, tmp_path)
    for node in plan.nodes:
        assert render_certs(plan, node, None) == []
        assert render_certs(plan, node, lay.root) == []  # directory does not even exist
    init_ca(lay, site.name, "ecdsa-p384", None, now())
    assert all(render_certs(plan, node, lay.root) == [] for node in plan.nodes)


def test_issued_material_at_plan_paths(tmp_path: Path) -> None:
    _, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path)
    for node in plan.nodes:
        files = render_certs(plan, node, lay.root)
        by_path = {f.path: f for f in files}
        assert len(by_path) == len(files)
        for cert in node.certs:
            leaf = lay.leaf_dir(cert.node, cert.service)
            for host_path, name, mode in (
                (cert.key_path, "privkey.pem", 0o600),
                (cert.cert_path, "cert.pem", 0o644),
                (cert.chain_path, "fullchain.pem", 0o644),
                (cert.ca_path, "ca.pem", 0o644),
            ):
                f = by_path.pop(host_path)
                assert f.content == (leaf / name).read_bytes()
                assert (f.node, f.mode, f.owner, f.group, f.service) == (
                    node.name, mode, cert.owner, cert.group, cert.service)
        if node.openfire is not None:
            ks = by_path.pop(node.openfire.keystore_path)
            assert ks.content == (lay.leaf_dir(node.name, "openfire") / "keystore.p12").read_bytes()
            assert (ks.mode, ks.owner, ks.service) == (0o600, "openfire", "openfire")
        assert by_path == {}, f"unexpected files: {sorted(by_path)}"


def test_render_is_byte_deterministic(tmp_path: Path) -> None:
    _, plan, lay, _ = init_and_issue(site_copy(tmp_path, "split"), tmp_path)
    for node in plan.nodes:
        first = render_certs(plan, node, lay.root)
        assert len(first) == 4 * len(node.certs) + (node.openfire is not None)
        assert render_certs(plan, node, lay.root) == first


def test_owners_are_the_service_users(tmp_path: Path) -> None:
    _, plan, lay, _ = init_and_issue(site_copy(tmp_path, "lab"), tmp_path)
    owners = {(f.service, f.owner) for n in plan.nodes for f in render_certs(plan, n, lay.root)}
    assert owners == {("kamailio", "kamailio"), ("coturn", "turnserver"), ("openfire", "openfire")}
