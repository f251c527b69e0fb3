"""verify's REGISTER check passes only when the binding it made is gone again (no stale contacts
for later calls to fork to), on the removal's own 200 without the contact."""

from __future__ import annotations

from typing import Any

import pytest

from voipctl.verify.probes.build import Probe
from voipctl.verify.probes.judge import judge

RIGHT = Probe("r1", "nat", "sip_register", "register", "REGISTER alice gets 200", "sip1", {}, {"status": 200})


def _raw(unregister: dict[str, Any] | None) -> dict[str, Any]:
    details: dict[str, Any] = {"challenge": {"status": 401, "reason": "Unauthorized"}}
    if unregister is not None:
        details["unregister"] = unregister
    return {"answered": True, "status": 200, "reason": "OK", "headers": [], "details": details}


def test_register_passes_when_its_binding_was_removed_again() -> None:
    [out] = judge([RIGHT], {"r1": _raw({"status": 200, "still_bound": False})})
    assert out.status == "passed", out.detail
    assert "binding removed" in out.detail


@pytest.mark.parametrize(("unregister", "why"), [
    (None, "no answer"),
    ({"status": None, "still_bound": False}, "no answer"),
    ({"status": 401, "still_bound": False}, "401"),
    ({"status": 200, "still_bound": True}, "still listed"),
])
def test_register_fails_when_its_binding_may_be_left_behind(unregister: dict[str, Any] | None, why: str) -> None:
    [out] = judge([RIGHT], {"r1": _raw(unregister)})
    assert out.status == "failed" and why in out.detail, out.detail
