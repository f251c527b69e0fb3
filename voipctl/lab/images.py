"""The images a lab's hosts boot: one per platform of the site, each unpacked once per lab.

A mixed site (say sip1 on debian12, media1 on debian13) gets both images; each host's
overlay sits on its own node's. A debian12-only lab keeps the names it always had
(image `voip` or `cold`, the `golden` directory), so labs already up stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voipctl.lab.rootfs import SUITE, ImageRecipe, ensure_image, unpack_image
from voipctl.lab.state import LabPaths, LabState
from voipctl.plan.model import Plan


@dataclass(frozen=True)
class LabImages:
    """Which image each node boots."""

    by_node: tuple[tuple[str, ImageRecipe], ...]

    @property
    def recipes(self) -> list[ImageRecipe]:
        return list(dict.fromkeys(recipe for _, recipe in self.by_node))

    @property
    def label(self) -> str:
        """What the lab's state records and `up` reports, e.g. `voip` or `voip+trixie-voip`."""
        return "+".join(r.label for r in self.recipes)

    def recipe(self, node: str) -> ImageRecipe:
        return dict(self.by_node)[node]


def lab_images(plan: Plan, cold: bool) -> LabImages:
    return LabImages(tuple((n.name, ImageRecipe(cold, n.platform.suite)) for n in plan.nodes))


def golden_dir(paths: LabPaths, recipe: ImageRecipe) -> Path:
    """Where the lab unpacks `recipe`'s image (debian12's keeps the historic `golden`)."""
    return paths.golden if recipe.suite == SUITE else paths.site_dir / f"golden-{recipe.label}"


def unpack_images(images: LabImages, proxy_url: str, paths: LabPaths, state: LabState) -> bool:
    """Build (through the lab's apt proxy) what is missing and unpack every image; True if one was built."""
    built = False
    for recipe in images.recipes:
        archive, fresh = ensure_image(recipe, proxy_url, paths.logs / f"image-build-{recipe.label}.log")
        built = built or fresh
        golden = golden_dir(paths, recipe)
        state.add("dir", str(golden))
        unpack_image(archive, golden)
    return built
