"""Rolling deploy: batch order, canary, serial, and what each host runs after a stopped rollout."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipctl.deploy.events import HostRecap
from voipctl.deploy.rolling import Rollout, clustered, rollout_batches
from voipctl.deploy.session import DeployOutcome
from voipctl.plan.build import build_plan
from voipctl.site.load import load_site

REPO = Path(__file__).resolve().parents[3]
CLUSTER = build_plan(load_site(REPO / "inventories/cluster/site.yml"))
HOSTS = {f"h-{n.name}": n.name for n in CLUSTER.nodes}


def test_media_then_turn_then_sip_then_xmpp_each_with_a_canary_first() -> None:
    batches = rollout_batches(CLUSTER, HOSTS, sorted(HOSTS), serial=1)
    assert batches == (("h-media1",), ("h-media2",), ("h-turn1",), ("h-sip1",), ("h-sip2",), ("h-xmpp1",))


def test_serial_groups_the_nodes_after_the_canary(tmp_path: Path) -> None:
    text = (REPO / "inventories/cluster/site.yml").read_text()
    node = "  - name: sip{0}\n    roles: [sip]\n    private: 10.78.0.{1}\n    public: 203.0.113.{1}\n"
    extra = "".join(node.format(i, 10 + i) for i in range(3, 6))
    site = tmp_path / "site.yml"
    site.write_text(text.replace("  - name: media1\n", extra + "  - name: media1\n"))
    plan = build_plan(load_site(site))
    hosts = {n.name: n.name for n in plan.nodes}
    sip = [b for b in rollout_batches(plan, hosts, list(hosts), serial=2) if b[0].startswith("sip")]
    assert sip == [("sip1",), ("sip2", "sip3"), ("sip4", "sip5")]
    with pytest.raises(ValueError, match="at least 1"):
        rollout_batches(plan, hosts, list(hosts), serial=0)


def test_only_sites_with_several_nodes_of_a_role_roll_by_default() -> None:
    lab = build_plan(load_site(REPO / "inventories/lab/site.yml"))
    assert clustered(CLUSTER) and not clustered(lab)


def _outcome(hosts: tuple[str, ...], failed: str | None = None) -> DeployOutcome:
    recap = tuple(HostRecap(h, 5, 1, int(h == failed), 0, 0, 0, 0) for h in hosts)
    return DeployOutcome("cluster", Path("b"), (), Path("i"), hosts, ("ansible-playbook",), recap, {},
                         2 if failed else 0, (), 1.0)


def test_a_failed_batch_stops_the_rollout_and_later_hosts_keep_their_config() -> None:
    batches = rollout_batches(CLUSTER, HOSTS, sorted(HOSTS), serial=1)
    done = [_outcome(b) for b in batches[:3]] + [_outcome(batches[3], failed="h-sip1")]
    rollout = Rollout("cluster", "ab" * 32, Path("b"), Path("i"), batches, tuple(done))
    states = dict(rollout.host_states())
    assert rollout.stopped
    assert states["h-media1"] == states["h-turn1"] == "new config " + "ab" * 6
    assert states["h-sip1"] == "failed, rolled back: previous config"
    assert states["h-sip2"] == states["h-xmpp1"] == "not deployed (rollout stopped): previous config"
