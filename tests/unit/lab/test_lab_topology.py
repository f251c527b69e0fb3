"""Pure parts of the lab: addressing, names, inventory, DNS records, network steps."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from voipctl.errors import UsageError
from voipctl.lab.inventory import inventory, inventory_yaml
from voipctl.lab.network import cloud_ruleset, nat_ruleset, network_steps, route_conflicts
from voipctl.lab.resolver import dns_records, dnsmasq_conf, ptr_name, reverse_zone
from voipctl.lab.topology import lab_addresses, lab_topology
from voipctl.pipeline import load_and_plan
from voipctl.plan.model import Plan

REPO = Path(__file__).resolve().parents[3]
LAB_SITE = REPO / "inventories" / "lab" / "site.yml"
SPLIT_SITE = REPO / "inventories" / "split" / "site.yml"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_and_plan(LAB_SITE)[1]


def _site(tmp_path: Path, nodes: str) -> Path:
    path = tmp_path / "site.yml"
    path.write_text(f"site: t\ndomain: t.example.com\nnodes:\n{nodes}")
    return path


def test_lab_networks_come_from_the_nodes(plan: Plan) -> None:
    a = lab_addresses(plan)
    assert a.private_net == "10.77.0.0/24"
    assert a.public_net == "198.51.100.0/24"
    assert (a.control_private, a.resolver_private, a.resolver_public) == ("10.77.0.1", "10.77.0.2", "198.51.100.1")
    assert (a.gateway_public, a.public_client) == ("198.51.100.254", "198.51.100.253")
    assert a.resolvers == ("10.77.0.2", "198.51.100.1")
    assert a.apt_proxy_url == "http://10.77.0.1:3142/"


def test_lab_addresses_never_collide_with_nodes(plan: Plan) -> None:
    a = lab_addresses(plan)
    own = [a.control_private, a.resolver_private, a.resolver_public, a.gateway_public, a.public_client,
           a.gateway_inner, a.nat_client]
    nodes = {x for n in plan.nodes for x in (n.private, n.public) if x}
    assert len(set(own)) == len(own)
    assert not nodes & set(own)
    client = ip_network(a.client_net)
    assert ip_address(a.gateway_inner) in client and ip_address(a.nat_client) in client
    assert not client.overlaps(ip_network(a.private_net)) and not client.overlaps(ip_network(a.public_net))


def test_first_free_address_skips_a_node_on_dot_one(tmp_path: Path) -> None:
    site = _site(tmp_path, "  - {name: a, roles: [sip, media, turn], private: 10.1.2.1, public: 203.0.113.1}\n")
    a = lab_addresses(load_and_plan(site)[1])
    assert (a.control_private, a.resolver_private, a.resolver_public) == ("10.1.2.2", "10.1.2.3", "203.0.113.2")


def test_nodes_must_share_one_private_24(tmp_path: Path) -> None:
    site = _site(tmp_path, (
        "  - {name: a, roles: [sip], private: 10.1.2.10, public: 203.0.113.10}\n"
        "  - {name: b, roles: [media, turn], private: 10.1.3.10, public: 203.0.113.11}\n"
    ))
    with pytest.raises(UsageError, match="one /24"):
        lab_topology(load_and_plan(site)[1])


def test_nat_nodes_sit_behind_a_one_to_one_nat_with_hairpin() -> None:
    plan = load_and_plan(SPLIT_SITE)[1]
    topo = lab_topology(plan)
    cloud = topo.cloud
    assert cloud is not None and cloud.netns in topo.all_netns
    assert cloud.mappings == (("203.0.113.10", "172.20.1.10"), ("203.0.113.20", "172.20.1.20"),
                              ("203.0.113.30", "172.20.1.30"), ("203.0.113.40", "172.20.1.40"))
    assert (topo.addresses.control_private, topo.addresses.resolver_private, cloud.private) == (
        "172.20.1.1", "172.20.1.2", "172.20.1.3")
    rules = cloud_ruleset(cloud)
    assert "dnat to ip daddr map { 203.0.113.10 : 172.20.1.10, 203.0.113.20 : 172.20.1.20" in rules
    assert "snat to ip saddr map { 172.20.1.10 : 203.0.113.10, 172.20.1.20 : 203.0.113.20" in rules
    steps = [s.argv for s in network_steps(topo)]
    for host in topo.hosts:  # db-a, private only, has no way out but the private /24
        route = ["ip", "-n", host.netns, "route", "add", "default", "via", "172.20.1.3"]
        assert (route in steps) == (host.nat is not None), host.node
        assert host.veth_public is None
    on_cloud = [a[a.index("add") + 1] for a in steps if a[:3] == ["ip", "-n", cloud.netns] and "addr" in a]
    assert on_cloud == ["172.20.1.3/24", "203.0.113.10/24", "203.0.113.20/24", "203.0.113.30/24", "203.0.113.40/24"]
    records = {r.address: r.names for r in dns_records(plan).hosts}
    assert "sip-a.voice.example.com" in records["203.0.113.10"], "clients resolve nodes to their NAT address"


def test_a_lab_without_nat_keeps_its_fingerprint(plan: Plan) -> None:
    topo = lab_topology(plan)
    assert topo.cloud is None and topo.fingerprint_text == repr(topo)
    assert "nat=" not in repr(topo.hosts[0])


def test_names_fit_the_kernel_limits_and_are_unique(plan: Plan) -> None:
    topo = lab_topology(plan)
    links = [topo.bridge_private, topo.bridge_public, topo.gateway_veth, topo.public_client_veth,
             topo.resolver_veth_private, topo.resolver_veth_public]
    links += [x for h in topo.hosts for x in (h.veth_private, h.veth_public) if x]
    assert all(len(name) <= 15 and name.startswith("vlab") for name in links)
    assert len(set(links)) == len(links)
    assert len(set(topo.all_netns)) == len(topo.all_netns) == len(plan.nodes) + 4
    assert all(ns.startswith("vlab.lab.") for ns in topo.all_netns)


def test_hosts_carry_exactly_the_plan_addresses(plan: Plan) -> None:
    topo = lab_topology(plan)
    for node in plan.nodes:
        host = topo.host(node.name)
        assert (host.private, host.public, host.fqdn) == (node.private, node.public, node.fqdn)


def test_network_steps_record_every_namespace_and_link(plan: Plan) -> None:
    topo = lab_topology(plan)
    steps = network_steps(topo)
    created = [s.creates for s in steps if s.creates is not None]
    assert {name for kind, name in created if kind == "netns"} == set(topo.all_netns)
    links = {name for kind, name in created if kind == "link"}
    assert {topo.bridge_private, topo.bridge_public, topo.gateway_veth, topo.public_client_veth} <= links
    adds = [s.argv for s in steps if s.argv[:2] == ["ip", "netns"] and s.argv[2] == "add"]
    assert len(adds) == len(topo.all_netns)
    # every address of every node is put on an interface, each once
    addr_steps = [s.argv[s.argv.index("add") + 1] for s in steps if "addr" in s.argv]
    for node in plan.nodes:
        assert addr_steps.count(f"{node.private}/24") == 1
        assert addr_steps.count(f"{node.public}/24") == 1
    # Only the private /24 gets an address in the control machine's namespace.
    root_addrs = [s.argv for s in steps if s.argv[:3] == ["ip", "addr", "add"]]
    assert root_addrs == [["ip", "addr", "add", "10.77.0.1/24", "dev", topo.bridge_private]]
    nft = next(s for s in steps if s.stdin is not None)
    assert nft.argv[:4] == ["ip", "netns", "exec", topo.gateway_netns]


def test_nat_ruleset_masquerades_the_client_net_fully_random(plan: Plan) -> None:
    topo = lab_topology(plan)
    rules = nat_ruleset(topo)
    assert f"ip saddr {topo.addresses.client_net} oifname \"pub0\" masquerade fully-random" in rules
    assert "hook postrouting" in rules


def test_inventory_points_at_private_addresses_with_the_lab_key(plan: Plan) -> None:
    topo = lab_topology(plan)
    key = Path("/var/lib/voipctl/lab/lab/id_ed25519")
    doc = inventory(plan, topo, key)["all"]
    assert doc["hosts"] == {n.name: {"ansible_host": n.private} for n in plan.nodes}
    assert doc["vars"]["ansible_user"] == "root"
    assert doc["vars"]["ansible_ssh_private_key_file"] == str(key)
    assert "StrictHostKeyChecking=no" in doc["vars"]["ansible_ssh_common_args"]
    assert doc["children"]["turn"]["hosts"] == {"media1": None}
    text = inventory_yaml(inventory(plan, topo, key))
    assert "ansible_host: 10.77.0.11\n" in text


def test_dns_records_cover_nodes_services_ptr_and_srv(plan: Plan) -> None:
    records = dns_records(plan)
    names = {name: h.address for h in records.hosts for name in h.names}
    assert names["sip1.lab.voipctl.test"] == "198.51.100.11"
    assert names["turn.lab.voipctl.test"] == "198.51.100.12"
    assert names["conference.lab.voipctl.test"] == "198.51.100.13"
    # The XMPP domain defaults to the SIP domain: the name stays with the SIP node.
    assert names["lab.voipctl.test"] == "198.51.100.11"
    assert [h.names[0] for h in records.hosts] == [n.fqdn for n in plan.nodes]
    assert ("10.77.0.12", "media1.lab.voipctl.test") in records.ptrs
    srv = {(s.service, s.target, s.port) for s in records.srvs}
    assert ("_sip._udp.lab.voipctl.test", "sip1.lab.voipctl.test", 5060) in srv
    assert ("_sip._tcp.lab.voipctl.test", "sip1.lab.voipctl.test", 5060) in srv
    assert ("_sips._tcp.lab.voipctl.test", "sip1.lab.voipctl.test", 5061) in srv
    assert ("_xmpp-client._tcp.lab.voipctl.test", "xmpp1.lab.voipctl.test", 5222) in srv


def test_dnsmasq_conf_listens_only_on_the_lab_and_forwards_nothing(plan: Plan) -> None:
    topo = lab_topology(plan)
    conf = dnsmasq_conf(topo, dns_records(plan), Path("/run/x.pid")).splitlines()
    assert [line for line in conf if line.startswith("listen-address=")] == [
        "listen-address=10.77.0.2", "listen-address=198.51.100.1"]
    assert {"bind-interfaces", "no-resolv", "no-hosts", "local=/lab.voipctl.test/"} <= set(conf)
    assert "local=/0.77.10.in-addr.arpa/" in conf
    assert "ptr-record=11.0.77.10.in-addr.arpa,sip1.lab.voipctl.test" in conf
    assert not any(line.startswith("server=") for line in conf)


def test_route_conflicts_ignore_the_default_route() -> None:
    routes = "default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n"
    assert route_conflicts(routes, "10.77.0.0/24") == []
    assert route_conflicts(routes + "10.77.0.0/16 dev x\n", "10.77.0.0/24") == ["10.77.0.0/16 dev x"]
    assert route_conflicts(routes, "192.0.2.0/24") == [routes.splitlines()[1]]


def test_reverse_names() -> None:
    assert reverse_zone("198.51.100.0/24") == "100.51.198.in-addr.arpa"
    assert ptr_name("10.77.0.11") == "11.0.77.10.in-addr.arpa"
