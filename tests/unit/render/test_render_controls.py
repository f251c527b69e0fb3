"""The `{% control %}` tag: the render records each control's lines and keeps a marker comment above them."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined

from voipctl.errors import RenderError
from voipctl.render.controls import ControlExtension, ControlSpan, extract


def _render(templates: dict[str, str], name: str = "main.cfg.j2", **ctx: object) -> tuple[str, tuple[ControlSpan, ...]]:
    env = Environment(loader=DictLoader(templates), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, extensions=[ControlExtension], autoescape=False)  # noqa: S701
    return extract(env.get_template(name).render(**ctx))


def test_spans_cover_exactly_the_rendered_lines_below_their_marker() -> None:
    text, spans = _render({"main.cfg.j2": (
        "head\n"
        "route {\n"
        '\t{% control "no-relay" %}\n'
        "\tif (uri != myself) {\n"
        "{% for code in codes %}\n"
        "\t\treply({{ code }});\n"
        "{% endfor %}\n"
        "\t}\n"
        "\t{% endcontrol %}\n"
        "}\n"
    )}, codes=[403, 404])
    assert text == ("head\nroute {\n\t# control: no-relay\n\tif (uri != myself) {\n\t\treply(403);\n\t\treply(404);\n"
                    "\t}\n}\n")
    assert spans == (ControlSpan("no-relay", 4, 7),)


def test_includes_nesting_and_xml_comments() -> None:
    templates = {
        "main.xml.j2": '<a>\n{% control "outer" %}\n  <b/>\n{% include "part.xml.j2" %}\n{% endcontrol %}\n</a>\n',
        "part.xml.j2": '{% control "inner" %}\n  <c/>\n{% endcontrol %}\n',
    }
    text, spans = _render(templates, "main.xml.j2")
    lines = text.splitlines()
    assert lines == ["<a>", "  <!-- control: outer -->", "  <b/>", "  <!-- control: inner -->", "  <c/>", "</a>"]
    assert set(spans) == {ControlSpan("outer", 3, 5), ControlSpan("inner", 5, 5)}


def test_a_control_whose_lines_are_not_rendered_has_no_span() -> None:
    text, spans = _render({"main.cfg.j2": 'a\n{% control "scanner-drop" %}\n{% if on %}\nx\n{% endif %}\n'
                                          "{% endcontrol %}\nb\n"}, on=False)
    assert text == "a\nb\n" and spans == ()


def test_misplaced_or_misnamed_markers_are_render_errors() -> None:
    with pytest.raises(RenderError, match="line of its own"):
        _render({"main.cfg.j2": 'x = {% control "a-b" %}1\n{% endcontrol %}\n'})
    with pytest.raises(RenderError, match="lower-case"):
        _render({"main.cfg.j2": '{% control "Bad Id" %}\nx\n{% endcontrol %}\n'})
