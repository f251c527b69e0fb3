"""Dispatch: which renderer runs for which service on which node."""

from __future__ import annotations

from pathlib import Path

from voipctl.plan.model import Plan
from voipctl.render.certs import render_certs
from voipctl.render.coturn import render_coturn
from voipctl.render.database import render_postgresql
from voipctl.render.firewall import render_firewall
from voipctl.render.kamailio import render_kamailio
from voipctl.render.openfire import render_openfire
from voipctl.render.rtpengine import render_rtpengine
from voipctl.render.tree import PlannedFile, RenderedTree
from voipctl.secrets import Secrets


def render_site(plan: Plan, secrets: Secrets, pki_dir: Path | None) -> RenderedTree:
    """Render every node's files; order is stable so output is byte-identical run to run."""
    files: list[PlannedFile] = []
    for node in plan.nodes:
        if node.kamailio is not None:
            files += render_kamailio(plan, node, secrets)
        if node.rtpengine is not None:
            files += render_rtpengine(plan, node)
        if node.coturn is not None:
            files += render_coturn(plan, node, secrets)
        if node.openfire is not None:
            files += render_openfire(plan, node, secrets)
        if node.postgresql is not None:
            files += render_postgresql(plan, node, secrets)
        if node.firewall is not None:
            files += render_firewall(plan, node)
        files += render_certs(plan, node, pki_dir)
    files.sort(key=lambda f: (f.node, f.path))
    return RenderedTree(site=plan.site, model_hash=plan.model_hash, files=tuple(files))
