"""`voipctl audit` after a real `voipctl verify` of a deployed lab: every control shows its real evidence.

Uses test_verify_lab's lab (its own site copy, network and teardown).
"""

from __future__ import annotations

import json

from tests.lab.test_verify_lab import Lab, lab, pytestmark, voipctl

__all__ = ["lab", "pytestmark"]  # the module-scoped lab fixture and the lab markers, reused

PROVEN = ("no-open-relay-in-dialog", "digest-auth-uniform", "ha1-only-store", "scanner-drop",
          "websocket-origin-host", "tls-floor-ciphers", "turn-rest-auth", "turn-peer-policy",
          "rtpengine-control-private", "admin-consoles-private", "topology-hiding")


def test_audit_after_verify_shows_each_controls_evidence(lab: Lab) -> None:
    res, report = lab.verify()
    assert res.returncode == 0, [o for o in report["outcomes"] if o["status"] == "failed"]
    verify_json = lab.site.parent / "audit-verify.json"
    verify_json.write_text(json.dumps(report))
    out = lab.site.parent / "audit"
    res = voipctl("audit", str(lab.site), "-o", str(lab.render), "--pki-dir", str(lab.pki),
                  "--verify-json", str(verify_json), "--report", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((out / "audit.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in doc["controls"]}
    for control in PROVEN:
        assert verdicts[control] == "proven", (control, verdicts)
    assert verdicts["xmpp-tls-required"] == "not verified (its checks were skipped)"  # no Openfire package
    for c in doc["controls"]:
        for e in c["evidence"]:
            match = [o for o in report["outcomes"] if o["name"] == e["check"] and o["host"] == e["host"]
                     and o["vantage"] == e["vantage"]]
            assert match and match[0]["status"] == e["status"] and e["at"] == report["started"]
    assert doc["drift"]["checked"] and doc["drift"]["problems"] == []
    assert doc["verify"]["same_model"]
    everything = res.stdout + res.stderr + "".join(p.read_text() for p in out.iterdir())
    assert lab.secrets and not [s for s in lab.secrets if s in everything]
