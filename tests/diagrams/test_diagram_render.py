"""Rendering with the real graphviz ``dot`` and the real CJK font (Debian graphviz and
fonts-noto-cjk, which ``make debian`` installs)."""

from __future__ import annotations

import importlib
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jiekun.diagrams import (
    CJK_FONT,
    Diagram,
    FontCheckError,
    PathStep,
    case_path_diagram,
    cjk_font_check,
    lifecycle_diagram,
    render,
    to_dot,
)
from jiekun.states import Lifecycle, build_lifecycle

# ``diagrams.render`` the attribute is the function; the module is reached through importlib
render_module = importlib.import_module("jiekun.diagrams.render")

LIFECYCLE: Lifecycle = build_lifecycle()
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def zh() -> Diagram:
    return lifecycle_diagram(LIFECYCLE, "zh", guards=True)


def dot_attributes(source: str, statement: str) -> str:
    """The attribute list of the first ``graph [...]``, ``node [...]`` or ``edge [...]``."""
    match = re.search(rf"^\s*{statement} \[(.*)\]$", source, re.MULTILINE)
    assert match, f"no {statement} attributes in the DOT source"
    return match.group(1)


def edge_attributes(source: str, edge_id: str) -> str:
    match = re.search(rf'^\s*\S+ -> \S+ \[.*\bid="{re.escape(edge_id)}".*$', source, re.MULTILINE)
    assert match, f"edge {edge_id} not in the DOT source"
    return match.group(0)


def test_the_cjk_font_is_named_on_graph_nodes_and_edges(zh: Diagram) -> None:
    source = to_dot(zh)
    for statement in ("graph", "node", "edge"):
        assert f'fontname="{CJK_FONT}"' in dot_attributes(source, statement)


def test_timed_edges_are_dashed_in_the_dot_source(zh: Diagram) -> None:
    source = to_dot(zh)
    for edge in zh.edges:
        if edge.source == edge.target:
            continue  # loops are drawn per node; none of them is timed
        line = edge_attributes(source, edge.id)
        assert ("style=dashed" in line) is edge.timed, line
    assert "5个工作日" in source and "12/6个月" in source and "≤6个月" in source


def test_every_font_size_is_at_least_10_points(zh: Diagram) -> None:
    path = case_path_diagram(LIFECYCLE, [PathStep("submit", None, "submitted", datetime(
        2024, 3, 4, tzinfo=ZoneInfo("Asia/Shanghai")))])
    for diagram in (zh, path):
        source = to_dot(diagram)
        sizes = [float(s) for s in re.findall(r'(?:fontsize=|POINT-SIZE=")"?([\d.]+)', source)]
        assert sizes and min(sizes) >= 10


def test_the_layout_targets_a3_portrait(zh: Diagram) -> None:
    graph = dot_attributes(to_dot(zh), "graph")
    assert "rankdir=TB" in graph
    size = re.search(r'size="([\d.]+),([\d.]+)"', graph)
    assert size, graph
    width, height = (float(v) for v in size.groups())
    assert width <= 11.7 and height <= 16.54 and height > width


@pytest.mark.parametrize(("suffix", "magic"), [
    (".svg", b"<?xml"), (".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"), (".dot", b"digraph"),
])
def test_render_picks_the_format_from_the_extension(zh: Diagram, tmp_path: Path, suffix: str,
                                                    magic: bytes) -> None:
    target = render(zh, tmp_path / f"lifecycle{suffix}")
    assert target == tmp_path / f"lifecycle{suffix}"
    assert target.read_bytes().startswith(magic)


def test_the_dot_file_is_the_dot_source(zh: Diagram, tmp_path: Path) -> None:
    assert render(zh, tmp_path / "x.gv").read_text(encoding="utf-8") == to_dot(zh)


def test_extensions_are_case_insensitive(zh: Diagram, tmp_path: Path) -> None:
    assert render(zh, tmp_path / "X.SVG").read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize("name", ["lifecycle.jpg", "lifecycle"])
def test_an_unknown_extension_is_named_in_the_error(zh: Diagram, tmp_path: Path,
                                                    name: str) -> None:
    with pytest.raises(ValueError, match=name):
        render(zh, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_the_zh_svg_has_the_chinese_state_labels_as_text(zh: Diagram, tmp_path: Path) -> None:
    svg = ET.parse(render(zh, tmp_path / "zh.svg"))
    texts = list(svg.iter(f"{SVG_NS}text"))
    words = {t.text for t in texts}
    assert {s.label.zh for s in LIFECYCLE.states} <= words
    assert {LIFECYCLE.trigger("approve").label.zh, "申报审核"} <= words
    assert all(t.get("font-family") == CJK_FONT for t in texts)


def test_the_pdf_embeds_the_cjk_font(zh: Diagram, tmp_path: Path) -> None:
    pdf = render(zh, tmp_path / "zh.pdf").read_bytes()
    fonts = set(re.findall(rb"/FontName /\w+\+([\w-]+)", pdf))
    assert fonts and all(f.startswith(b"NotoSansCJK") for f in fonts), fonts


def test_a_path_diagram_renders(tmp_path: Path) -> None:
    step = PathStep("submit", None, "submitted", datetime(2024, 3, 4, tzinfo=ZoneInfo("UTC")))
    diagram = case_path_diagram(LIFECYCLE, [step], "zh")
    svg = ET.parse(render(diagram, tmp_path / "path.svg"))
    assert "① 2024-03-04" in {t.text for t in svg.iter(f"{SVG_NS}text")}


def test_fontconfig_selects_noto_sans_cjk() -> None:
    assert cjk_font_check().startswith("Noto Sans CJK")


def test_a_font_fontconfig_has_to_replace_is_an_error() -> None:
    with pytest.raises(FontCheckError, match="fonts-noto-cjk"):
        cjk_font_check("No Such Font Jiekun")


def test_without_fc_match_the_check_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    fonts_module = importlib.import_module("jiekun.diagrams.fonts")
    monkeypatch.setattr(fonts_module.shutil, "which", lambda name: None)
    with pytest.raises(FontCheckError, match="fc-match not found"):
        cjk_font_check()


def test_render_refuses_chinese_without_the_font(zh: Diagram, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise FontCheckError("no CJK font")

    monkeypatch.setattr(render_module, "cjk_font_check", missing)
    with pytest.raises(FontCheckError):
        render(zh, tmp_path / "zh.png")
    assert not (tmp_path / "zh.png").exists()
    assert render(zh, tmp_path / "zh.png", check_font=False).exists()
