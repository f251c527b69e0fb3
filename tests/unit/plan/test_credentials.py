"""The credential cache's size: about one subscriber per htable slot, within what htable accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipctl.plan.build import build_plan
from voipctl.plan.services import CREDENTIAL_SLOTS_MAX, CREDENTIAL_SLOTS_MIN, credential_slots
from voipctl.site.load import load_site

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("subscribers", "slots"), [
    (0, CREDENTIAL_SLOTS_MIN), (2, CREDENTIAL_SLOTS_MIN), (256, 8), (257, 9), (1001, 10), (10_000, 14),
    (1_000_000, CREDENTIAL_SLOTS_MAX), (None, CREDENTIAL_SLOTS_MAX),
])
def test_credential_slots_follow_the_subscriber_count(subscribers: int | None, slots: int) -> None:
    assert credential_slots(subscribers) == slots


def test_the_plan_sizes_the_cache_from_the_site_subscribers() -> None:
    plan = build_plan(load_site(REPO / "inventories" / "lab" / "site.yml"))
    kam = plan.node("sip1").kamailio
    assert kam is not None
    assert kam.credential_slots == credential_slots(len(plan.subscribers))
