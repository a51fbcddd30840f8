"""``jiekun diagram --page``: every page planned for A4, A3 and a 16:9 slide prints its smallest
text at 8 pt or more with no edge line through a text, guards carry their short name and rule
id keyed in a legend, the files are exactly the page, and a case path names who acted."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jiekun.diagrams import case_path_diagram, lifecycle_diagram
from jiekun.diagrams.guard_names import guard_name, guard_names
from jiekun.diagrams.page_fit import read_layout
from jiekun.diagrams.page_plan import OVERVIEW, plan_pages
from jiekun.diagrams.page_render import PAGES, write_laid
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.cli.diagram import path_steps
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

SHOTS = Path("/tmp/handbook-shots")
REPO = Path(__file__).parents[2]
C8 = REPO / "tests" / "cases" / "histories" / "07-exit-refused-verified-announced.jsonl"
SVG = "{http://www.w3.org/2000/svg}"


def _printed_font_sizes(svg_path: Path) -> list[float]:
    """Every text's size as printed: its font-size in the SVG's own units times the ratio of
    the drawn width (pt) to the viewBox width — read from the file, not from the layout."""
    root = ET.parse(svg_path).getroot()
    width_pt = float(root.attrib["width"].removesuffix("pt"))
    view_width = float(root.attrib["viewBox"].split()[2])
    return [float(t.attrib["font-size"]) * width_pt / view_width
            for t in root.iter(f"{SVG}text") if (t.text or "").strip()]


@pytest.mark.parametrize("size", ["a4", "a3", "slide"])
def test_every_page_is_legible_without_crossings_and_covers_every_state(
        size: str, decider: Decider, tmp_path: Path) -> None:
    policy = decider.policy
    names = guard_names(policy)
    whole = lifecycle_diagram(decider.lifecycle, "zh", True, policy.durations.model_dump())
    pages = plan_pages(whole, decider.lifecycle, PAGES[size], names)
    drawn_states: set[str] = set()
    for number, page in enumerate(pages):
        assert page.laid.fit.crossings == (), page.diagram.title
        svg = tmp_path / f"{size}-{number}.svg"
        write_laid(page.diagram, page.laid, PAGES[size], names, svg)
        sizes = _printed_font_sizes(svg)
        assert min(sizes) >= 7.95, (page.diagram.title, min(sizes))
        text = html.unescape(svg.read_text("utf-8"))  # graphviz writes "-" as &#45;
        # the legend keys every guard the page shows: its short name and its rule id
        assert "图例" in text
        for rule_id in {g for e in page.diagram.edges for g in e.guards}:
            short = guard_name(rule_id, policy).short
            assert text.count(rule_id) >= 2, (rule_id, page.diagram.title)  # edge + legend
            assert short in text
        drawn_states |= {n.id for n in page.diagram.state_nodes
                         if n.emphasis.value != "faded"}
    assert drawn_states == {s.name for s in decider.lifecycle.states}


def test_the_crossing_check_sees_a_line_through_a_text() -> None:
    layout = {"bb": "0,0,200,200", "objects": [
        {"name": "words", "pos": "100,100", "width": "1", "height": "0.5", "shape": "plaintext"},
        {"name": "a", "pos": "20,20", "width": "0.2", "height": "0.2"}],
        "edges": [{"tail": 1, "head": 1, "_draw_": [
            {"op": "b", "points": [[0, 100], [60, 100], [140, 100], [200, 100]]}]}]}
    found = read_layout(json.dumps(layout)).crossings()
    assert [box for _, box in found] == ["words"]
    layout["edges"][0]["_draw_"][0]["points"] = [[0, 10], [60, 10], [140, 10], [200, 10]]
    assert read_layout(json.dumps(layout)).crossings() == []


def test_guard_names_follow_the_policy(tmp_path: Path) -> None:
    text = (REPO / "policies" / "data" / "wx-2023-45.toml").read_text("utf-8")
    changed = tmp_path / "policy.toml"
    changed.write_text(re.sub(r"(?m)^deep_income = 2\b", "deep_income = 5", text), "utf-8")
    assert guard_name("R-DEEP-INCOME", load_policy()).tag == "收入≤2L R-DEEP-INCOME"
    assert guard_name("R-DEEP-INCOME", load_policy(changed)).tag == "收入≤5L R-DEEP-INCOME"


def test_a4_pdf_pages_are_a4_and_the_slide_overview_is_1920_by_1080(tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "lifecycle-a4.pdf"
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "diagram", "--page",
                          "a4", "-o", str(pdf)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True,
                          text=True, check=True).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert len(sizes) > 4
    assert {(round(float(w)), round(float(h))) for w, h in sizes} == {(595, 842)}
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(SHOTS / "lifecycle-a4")],
                   check=True)
    assert len(list(SHOTS.glob("lifecycle-a4-*.png"))) >= len(sizes)
    png = SHOTS / "lifecycle-slide.png"
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "diagram", "--page",
                          "slide", "--phase", OVERVIEW, "-o", str(png)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    header = png.read_bytes()[:24]
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (
        1920, 1080)


def test_a_png_that_needs_several_pages_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "diagram", "--page",
                          "a4", "-o", str(tmp_path / "all.png")], capture_output=True, text=True)
    assert run.returncode == 2
    assert "need a .pdf" in run.stderr


def test_a_case_path_names_the_acting_organisation(decider: Decider) -> None:
    report = replay(C8.read_text("utf-8").splitlines(), decider)
    diagram = case_path_diagram(decider.lifecycle, path_steps(report.cases["C-8"].events))
    marks = {(e.trigger, m.step): m.text for e in diagram.edges for m in e.marks}
    assert marks[("approve", 5)] == "⑤ 2024-03-13 xinwu"
    assert marks[("pass_preliminary_review", 3)] == "③ 2024-03-04 gu-test-001"
    assert marks[("refuse_exit", 10)] == "⑩ 2025-03-23 职工"
    assert marks[("unit_publicity_ended", 4)] == "④ 2024-03-12 系统"
