"""The rtpengine set as verify sees it, steered Call-IDs and the per-media-node verdicts (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipctl.plan.build import build_plan
from voipctl.plan.model import Plan
from voipctl.site.load import load_site
from voipctl.verify.browser.mediaset import MediaNode, coverage, find_carrier, media_nodes, steered_call_id

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cluster() -> Plan:
    return build_plan(load_site(REPO / "inventories" / "cluster" / "site.yml"))


def test_the_set_is_kamailios_order_with_the_sites_weights(cluster: Plan) -> None:
    assert media_nodes(cluster) == (MediaNode("media1", ("10.78.0.21", 2223), 2),
                                    MediaNode("media2", ("10.78.0.22", 2223), 1))


@pytest.mark.parametrize(("target", "slots"), [("media1", {0, 1}), ("media2", {2})])
def test_a_steered_call_id_lands_in_its_nodes_share_of_the_weights(cluster: Plan, target: str,
                                                                   slots: set[int]) -> None:
    for _ in range(20):
        call_id = steered_call_id(media_nodes(cluster), target)
        assert call_id.startswith("voipctl-verify-")
        assert (sum(call_id.encode()) & 0xFF) % 3 in slots


def test_every_media_node_must_carry_a_call() -> None:
    nodes = (MediaNode("m1", ("10.0.0.1", 2223)), MediaNode("m2", ("10.0.0.2", 2223)))
    both = coverage(nodes, ["m1", "m2", "m2"])
    assert [(n.split()[2], s) for n, s, _ in both] == [("m1", "passed"), ("m2", "passed")]
    assert both[1][2] == "2 of 3 test calls (call 1: m1, call 2: m2, call 3: m2)"
    one = coverage(nodes, ["m2", None])
    assert [s for _, s, _ in one] == ["failed", "passed"]
    assert one[0][2] == "media node m1 carried none of 2 test calls (call 1: m2, call 2: no media node)"


def test_a_node_without_a_namespace_to_ask_from_knows_no_call() -> None:
    found = find_carrier((MediaNode("m1", ("10.0.0.1", 2223)),), {}, "some-call")
    assert found.node is None and "m1: no namespace" in found.why
