"""Is the render manifest the host suite compares against the site as it is now?

Drift is judged against manifest.json; if that manifest is itself stale (the
site or the PKI changed since it was rendered), the hosts could match it and
still be wrong, so verify says so first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voipctl import pipeline
from voipctl.deploy.session import default_render_dir
from voipctl.output.manifest import read_manifest
from voipctl.plan.model import Plan
from voipctl.render.tree import RenderedTree
from voipctl.site.model import Site
from voipctl.verify.report.outcome import Outcome

NAME = "render manifest matches the site, its secrets and PKI"


def render_dir_for(site: Site, given: Path | None) -> Path:
    return (given or default_render_dir(site.name)).absolute()


def manifest_files(site: Site, given: Path | None) -> list[Mapping[str, Any]] | None:
    manifest = read_manifest(render_dir_for(site, given))
    return list(manifest["files"]) if manifest is not None else None


def _key(entry: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    return (str(entry["rel"]), str(entry["sha256"]), str(entry["owner"]), str(entry["group"]), str(entry["mode"]))


def stale_entries(tree: RenderedTree, files: Sequence[Mapping[str, Any]]) -> list[str]:
    """Rendered-dir paths where the manifest and a fresh render disagree (pure)."""
    fresh = {(f.rel, f.sha256, f.owner, f.group, f"{f.mode:04o}") for f in tree.files}
    recorded = {_key(e) for e in files}
    return sorted({k[0] for k in fresh ^ recorded})


def render_outcome(site: Site, plan: Plan, given: Path | None, pki_dir: Path, ca: Path) -> list[Outcome]:
    out = []
    if not ca.is_file():
        out.append(Outcome("render", "site CA", "failed", f"{ca} is missing: TLS cannot be verified"))
    render_dir = render_dir_for(site, given)
    manifest = read_manifest(render_dir)
    if manifest is None:
        out.append(Outcome("render", NAME, "failed",
                           f"no manifest.json in {render_dir}: deploy the site (or pass -o RENDER_DIR); "
                           "deployed files are not compared"))
        return out
    if manifest.get("site") != plan.site or manifest.get("model_hash") != plan.model_hash:
        out.append(Outcome("render", NAME, "failed",
                           f"{render_dir} was rendered from another model of site {manifest.get('site')}: "
                           "deploy again"))
        return out
    stale = stale_entries(pipeline.render(site, plan, pki_dir), manifest["files"])
    if stale:
        out.append(Outcome("render", NAME, "failed",
                           f"{len(stale)} file(s) changed since {render_dir} was rendered "
                           f"({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}): deploy again"))
    else:
        out.append(Outcome("render", NAME, "passed", f"{len(manifest['files'])} files in {render_dir}"))
    return out
