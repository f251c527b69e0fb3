"""The cluster example's plan: DMQ peers, the weighted rtpengine set, SRV/NAPTR and TURN URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipctl.cli import main
from voipctl.errors import SiteError
from voipctl.plan.build import build_plan
from voipctl.site.load import load_site
from voipctl.site.yamlsource import plain_load

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "inventories/cluster/site.yml"
LAB = REPO / "inventories/lab/site.yml"


def test_each_sip_node_replicates_to_the_others_over_its_private_address() -> None:
    plan = build_plan(load_site(CLUSTER))
    sip1, sip2 = plan.node("sip1").kamailio, plan.node("sip2").kamailio
    assert sip1 is not None and sip2 is not None and sip1.cluster is not None and sip2.cluster is not None
    assert sip1.cluster.socket == "udp:10.78.0.11:5090"
    assert sip1.cluster.peer_uris == ("sip:10.78.0.12:5090",)
    assert sip2.cluster.server_uri == "sip:10.78.0.12:5090" and sip2.cluster.peers == ("10.78.0.11",)
    dmq = [b for b in plan.node("sip1").bindings if b.what == "kamailio cluster (dmq)"]
    assert [(b.address, b.port_min, b.audience, b.public) for b in dmq] == [("10.78.0.11", 5090, "sip-nodes", False)]
    firewall = plan.node("sip1").firewall
    assert firewall is not None
    rule = next(r for r in firewall.rules if r.what == "kamailio cluster (dmq)")
    assert rule.sources == ("10.78.0.11/32", "10.78.0.12/32")


def test_each_sip_node_has_its_own_server_id_and_keeps_bindings_in_memory() -> None:
    """Distinct server_ids keep the nodes' rtpengine ng cookies apart (same pids on nodes started alike);
    bindings live in memory (write-back left ghost bindings across nodes)."""
    plan = build_plan(load_site(CLUSTER))
    kams = [n.kamailio for n in plan.nodes if n.kamailio is not None]
    assert [k.cluster.server_id for k in kams if k.cluster is not None] == [1, 2]
    assert {(k.usrloc.db_mode, k.usrloc.timer_interval) for k in kams} == {(0, 10)}
    single = build_plan(load_site(LAB))
    assert [(n.kamailio.cluster, n.kamailio.usrloc.db_mode) for n in single.nodes if n.kamailio] == [(None, 2)]


def test_rtpengine_set_carries_the_media_weights_in_site_order() -> None:
    kam = build_plan(load_site(CLUSTER)).node("sip2").kamailio
    assert kam is not None
    assert kam.rtpengine_sockets == ("udp:10.78.0.21:2223", "udp:10.78.0.22:2223")
    assert kam.rtpengine_weights == (2, 1)


def test_srv_and_naptr_spread_over_the_sip_nodes() -> None:
    plan = build_plan(load_site(CLUSTER))
    tls = "_sips._tcp.cluster.voipctl.test"
    sips = [(r.target, r.port, r.priority, r.weight) for r in plan.srv if r.service == tls]
    assert sips == [("sip1.cluster.voipctl.test", 5061, 10, 10), ("sip2.cluster.voipctl.test", 5061, 10, 10)]
    assert {r.service for r in plan.srv} == {
        "_sips._tcp.cluster.voipctl.test", "_sip._tcp.cluster.voipctl.test", "_sip._udp.cluster.voipctl.test",
        "_xmpp-client._tcp.cluster.voipctl.test"}
    assert [(n.service, n.preference, n.replacement) for n in plan.naptr] == [
        ("SIPS+D2T", 10, "_sips._tcp.cluster.voipctl.test"), ("SIP+D2T", 20, "_sip._tcp.cluster.voipctl.test"),
        ("SIP+D2U", 30, "_sip._udp.cluster.voipctl.test")]


def test_turn_uris_default_to_the_turn_host_and_follow_the_site(tmp_path: Path) -> None:
    plan = build_plan(load_site(CLUSTER))
    assert plan.turn_uris == ("turn:turn.cluster.voipctl.test:3478?transport=udp",
                              "turn:turn.cluster.voipctl.test:3478?transport=tcp",
                              "turns:turn.cluster.voipctl.test:5349?transport=tcp")
    site = tmp_path / "site.yml"
    site.write_text(CLUSTER.read_text().replace(
        "  host: turn.cluster.voipctl.test\n",
        "  host: turn.cluster.voipctl.test\n  uris: ['turns:turn1.cluster.voipctl.test:5349', "
        "'turn:203.0.113.31']\n"))
    assert build_plan(load_site(site)).turn_uris == ("turns:turn1.cluster.voipctl.test:5349", "turn:203.0.113.31")


def test_several_turn_nodes_each_get_their_own_uris_heaviest_first(tmp_path: Path) -> None:
    text = CLUSTER.read_text().replace(
        "  - name: xmpp1\n",
        "  - name: turn2\n    roles: [turn]\n    private: 10.78.0.32\n    public: 203.0.113.32\n    weight: 5\n"
        "  - name: xmpp1\n")
    site = tmp_path / "site.yml"
    site.write_text(text)
    uris = build_plan(load_site(site)).turn_uris
    assert uris[0] == "turn:turn2.cluster.voipctl.test:3478?transport=udp"
    assert "turns:turn1.cluster.voipctl.test:5349?transport=tcp" in uris and len(uris) == 6


def test_a_single_sip_node_has_no_cluster_and_keeps_its_hash(tmp_path: Path) -> None:
    site = load_site(LAB)
    kam = build_plan(site).node("sip1").kamailio
    assert kam is not None and kam.cluster is None
    # an unset later key leaves the model hash as it was; setting it changes the hash
    weighted = tmp_path / "site.yml"
    media = "    private: 10.77.0.12\n"
    weighted.write_text(LAB.read_text().replace(media, media + "    weight: 1\n"))
    assert load_site(weighted).model_hash != site.model_hash


def test_dns_command_prints_the_records_for_real_dns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dns", str(CLUSTER)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "sip2.cluster.voipctl.test.\t300\tIN\tA\t203.0.113.12" in lines
    assert ("_sip._udp.cluster.voipctl.test.\t300\tIN\tSRV\t10 10 5060 sip1.cluster.voipctl.test."
            in lines)
    assert ('cluster.voipctl.test.\t300\tIN\tNAPTR\t10 10 "s" "SIPS+D2T" "" _sips._tcp.cluster.voipctl.test.'
            in lines)


def test_big_subscriber_files_load_alike_on_the_fast_and_the_located_path(tmp_path: Path) -> None:
    """The C-parser path (no anchors) and the round-trip path (an anchor forces it) give the same
    subscribers; an invalid entry still gets its located error."""
    users = "".join(f"  - user: u{i:04d}\n" for i in range(2000))
    site = tmp_path / "site.yml"
    site.write_text(LAB.read_text().split("\nsubscribers:", 1)[0] + "\nsubscribers_file: subs.yml\n")
    (tmp_path / "subs.yml").write_text("subscribers:\n" + users)
    assert plain_load((tmp_path / "subs.yml").read_bytes()) is not None
    fast = load_site(site).subscribers
    (tmp_path / "subs.yml").write_text("subscribers:\n  - &first {user: u0000}\n" + users.split("\n", 1)[1])
    assert plain_load((tmp_path / "subs.yml").read_bytes()) is None
    assert load_site(site).subscribers == fast and len(fast) == 2000
    (tmp_path / "subs.yml").write_text("subscribers:\n" + users + "  - user: 'bad user'\n")
    with pytest.raises(SiteError) as err:
        load_site(site)
    assert "subs.yml:2002" in str(err.value.problems[0]), err.value.problems
