"""Rolling deploy: clustered roles one batch at a time, a canary first, stop at the first failure.

Batches follow the playbook's service order (media, turn, sip, xmpp: rtpengine before
the kamailios that use it); within a role the first batch is one node (the canary), the
next ones `serial` nodes. Each batch is one ansible-playbook run limited to its hosts, whose
roles health-gate every restarted daemon (and roll a failed host back): the next batch starts
only after every host of the previous one passed. The first failed or unreachable host stops
the rollout; hosts of later batches were never touched and keep their previous config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from voipctl.deploy.events import Event
from voipctl.deploy.session import DeployOptions, DeployOutcome, Prepared, execute
from voipctl.plan.model import Plan

TIERS = ("media", "turn", "sip", "xmpp")


def _tier(roles: Sequence[str]) -> int:
    return min((TIERS.index(r) for r in roles if r in TIERS), default=len(TIERS))


def clustered(plan: Plan) -> bool:
    """Whether any role runs on several nodes (then deploy rolls by default)."""
    return any(sum(1 for n in plan.nodes if role in n.roles) > 1 for role in TIERS)


def rollout_batches(plan: Plan, host_nodes: Mapping[str, str], hosts: Sequence[str],
                    serial: int) -> tuple[tuple[str, ...], ...]:
    """Host batches in deploy order: per tier a canary of one host, then `serial` hosts at a time."""
    if serial < 1:
        raise ValueError("serial must be at least 1")
    roles = {n.name: n.roles for n in plan.nodes}
    order = {n.name: i for i, n in enumerate(plan.nodes)}
    tiers: dict[int, list[str]] = {}
    for host in sorted(hosts, key=lambda h: order[host_nodes[h]]):
        tiers.setdefault(_tier(roles[host_nodes[host]]), []).append(host)
    batches: list[tuple[str, ...]] = []
    for tier in sorted(tiers):
        members = tiers[tier]
        batches.append((members[0],))
        batches += [tuple(members[i:i + serial]) for i in range(1, len(members), serial)]
    return tuple(batches)


@dataclass(frozen=True)
class Rollout:
    site: str
    config_hash: str  # model hash of the render being rolled out
    render_dir: Path
    inventory: Path
    batches: tuple[tuple[str, ...], ...]
    outcomes: tuple[DeployOutcome, ...]  # one per batch run, in order; fewer than batches when stopped

    @property
    def stopped(self) -> bool:
        return len(self.outcomes) < len(self.batches)

    def host_states(self) -> list[tuple[str, str]]:
        """Per host: `new config`, `rolled back`/`failed`/`unreachable` (previous config) or `not deployed`."""
        states: dict[str, str] = {}
        for outcome in self.outcomes:
            seen = {r.host: r for r in outcome.recap}
            for host in outcome.hosts:
                r = seen.get(host)
                if r is None:
                    states[host] = "failed (ran nothing): previous config"
                elif r.unreachable:
                    states[host] = "unreachable: previous config"
                elif r.failed:
                    states[host] = "failed, rolled back: previous config"
                else:
                    states[host] = f"new config {self.config_hash[:12]}"
        for batch in self.batches[len(self.outcomes):]:
            for host in batch:
                states[host] = "not deployed (rollout stopped): previous config"
        return [(h, states[h]) for batch in self.batches for h in batch]


def _batch_ok(outcome: DeployOutcome) -> bool:
    seen = {r.host: r for r in outcome.recap}
    return all(h in seen and not seen[h].failed and not seen[h].unreachable for h in outcome.hosts)


def roll_prepared(prep: Prepared, options: DeployOptions, serial: int,
                  on_event: Callable[[Event], None], on_batch: Callable[[int, tuple[str, ...]], None]) -> Rollout:
    batches = rollout_batches(prep.plan, prep.host_nodes, prep.hosts, serial)
    outcomes: list[DeployOutcome] = []
    for i, batch in enumerate(batches):
        on_batch(i, batch)
        outcome = execute(replace(prep, hosts=batch), options, on_event)
        outcomes.append(outcome)
        if not _batch_ok(outcome):
            break
    return Rollout(prep.site, prep.plan.model_hash, prep.render_dir, prep.inventory, batches, tuple(outcomes))

