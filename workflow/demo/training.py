"""The demo's material for trainers and the federation (issue 17), written beside its store:
the handbook (HTML and A4 PDF), the lifecycle on A4 pages and on a 16:9 slide, and the
yearly report of 2025 as a spreadsheet — each made by the same code as its command."""

from __future__ import annotations

from pathlib import Path

from jiekun.diagrams import lifecycle_diagram
from jiekun.diagrams.guard_names import guard_names
from jiekun.diagrams.page_plan import OVERVIEW, plan_pages
from jiekun.diagrams.page_render import PAGES, write_pages
from jiekun.workflow.cli.handbook import handbook_text, print_pdf
from jiekun.workflow.engine import Engine
from jiekun.workflow.year_report import write_xlsx, year_report

FILES = ("handbook-zh.html", "handbook-zh.pdf", "lifecycle-a4.pdf", "lifecycle-slide.png",
         "report-2025.xlsx")


def write_training_outputs(out: Path, engine: Engine) -> tuple[str, ...]:
    """Write ``FILES`` into ``out``, under the policy the demo ran (its figures on the last
    day that policy knows); the names written."""
    decider = engine.decider
    policy = decider.policy
    html = out / "handbook-zh.html"
    html.write_text(handbook_text(decider, policy.known_until, "zh"), "utf-8")
    print_pdf(html, out / "handbook-zh.pdf")
    names = guard_names(policy)
    whole = lifecycle_diagram(decider.lifecycle, "zh", True, policy.durations.model_dump())
    for size, phase, name in (("a4", None, "lifecycle-a4.pdf"),
                              ("slide", OVERVIEW, "lifecycle-slide.png")):
        planned = plan_pages(whole, decider.lifecycle, PAGES[size], names, phase)
        write_pages([(p.diagram, p.laid) for p in planned], PAGES[size], names, out / name)
    write_xlsx(year_report(engine, 2025), out / "report-2025.xlsx")
    return FILES
