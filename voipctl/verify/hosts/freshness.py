"""Is the render manifest the host suite compares against the site as it is now?

Drift is judged against manifest.json; if that manifest is itself stale (the
site or the PKI changed since it was rendered), the hosts could match it and
still be wrong, so verify says so first.
"""

from __future__ import annotations

from pathlib import Path

from voipctl import pipeline
from voipctl.deploy.session import default_render_dir
from voipctl.output.manifest import Manifest, ManifestEntry
from voipctl.plan.model import Plan
from voipctl.render.tree import RenderedTree
from voipctl.site.model import Site
from voipctl.verify.report.outcome import Outcome

NAME = "render manifest matches the site, its secrets and PKI"


def render_dir_for(site: Site, given: Path | None) -> Path:
    return (given or default_render_dir(site.name)).absolute()


def manifest_entries(site: Site, given: Path | None) -> tuple[ManifestEntry, ...]:
    """The files the render directory's manifest lists (none without a manifest: render_outcome says why)."""
    manifest = Manifest.read(render_dir_for(site, given))
    return manifest.entries if manifest is not None else ()


def stale_files(manifest: Manifest, tree: RenderedTree) -> list[str]:
    """Rendered-dir paths where the manifest and a fresh render disagree (pure)."""
    return sorted({d.rel for d in manifest.differences(tree) if d.rel})


def render_outcome(site: Site, plan: Plan, given: Path | None, pki_dir: Path, ca: Path) -> list[Outcome]:
    out = []
    if not ca.is_file():
        out.append(Outcome("render", "site CA", "failed", f"{ca} is missing: TLS cannot be verified"))
    render_dir = render_dir_for(site, given)
    manifest = Manifest.read(render_dir)
    if manifest is None:
        out.append(Outcome("render", NAME, "failed",
                           f"no manifest.json in {render_dir}: deploy the site (or pass -o RENDER_DIR); "
                           "deployed files are not compared"))
        return out
    if not manifest.same_model(plan.site, plan.model_hash):
        out.append(Outcome("render", NAME, "failed",
                           f"{render_dir} was rendered from another model of site {manifest.site}: "
                           "deploy again"))
        return out
    stale = stale_files(manifest, pipeline.render(site, plan, pki_dir))
    if stale:
        out.append(Outcome("render", NAME, "failed",
                           f"{len(stale)} file(s) changed since {render_dir} was rendered "
                           f"({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}): deploy again"))
    else:
        out.append(Outcome("render", NAME, "passed", f"{len(manifest.entries)} files in {render_dir}"))
    return out
