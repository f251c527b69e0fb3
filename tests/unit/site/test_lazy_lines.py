"""A valid site is validated from the fast parser's document; its lines are parsed only when asked for."""

from __future__ import annotations

from tests.conftest import REPO
from voipctl.site.load import load_site


def test_lines_of_a_valid_site_come_from_a_parse_on_first_use() -> None:
    path = REPO / "inventories/lab/site.yml"
    site = load_site(path)
    assert "root" not in vars(site.source), "the round-trip parse is only for a line someone asks for"
    lines = path.read_text().splitlines()
    second_private = [i + 1 for i, ln in enumerate(lines) if ln.strip().startswith("private:")][1]
    assert site.problem(("nodes", 1, "private"), "x").line == second_private
    assert "root" in vars(site.source)
