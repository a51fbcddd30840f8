"""``jiekun audit report --case ID -o report.html|report.pdf``: one case's report for the file
(workflow/case_report.py, laid out by workflow/report_html.py): identity, path diagram,
timeline with the recomputed rule results, the guards' clauses quoted from the notice, chain
and checkpoint status, policy versions.

A ``.pdf`` is the same page printed by headless Chromium on A4. Without Chromium (none on the
PATH, or ``$JIEKUN_CHROMIUM`` naming no file) the command refuses with E-INPUT on ``-o``
(exit 2) before reading the store: the same report as ``.html`` needs no browser.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.workflow.case_report import build_report, chromium, print_pdf
from jiekun.workflow.cli.audit_files import read_checkpoint
from jiekun.workflow.cli.common import (
    as_option,
    db_option,
    emit,
    fail,
    open_engine,
    parse_actor,
    store_common,
)
from jiekun.workflow.clock import RealClock
from jiekun.workflow.history_view import check_show_personal
from jiekun.workflow.report_html import render_html

_SUFFIXES = (".html", ".htm", ".pdf")


@click.command("report")
@click.option("--case", "case_id", required=True, help="the case to report on")
@click.option("-o", "output", type=click.Path(dir_okay=False), required=True,
              help="report.html, or report.pdf (printed by Chromium on A4)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--against", "against", type=click.Path(dir_okay=False), default=None,
              help="an auditor's checkpoint (`audit checkpoint`): the report says whether the "
                   "store still holds its log")
@click.option("--show-personal", is_flag=True, default=False,
              help="name the applicant and show personal data: only to a reader who may see "
                   "it (as `case history --show-personal`); anyone else is refused (E-ACTOR)")
@as_option
@db_option
@store_common
def audit_report(case_id: str, output: str, lang: str, against: str | None,
                 show_personal: bool, reader: str, db_url: str, fmt: str) -> None:
    """One case's report as a self-contained page (Chinese; --lang en): its identity, path
    diagram, timeline with the rule results recomputed under each event's policy, each guard's
    clause quoted from the notice, its hash chain, the checkpoint (--against) and the policy
    versions used."""
    target = Path(output)
    if target.suffix.lower() not in _SUFFIXES:
        fail(fmt, InvalidInput("-o", [FieldProblem(
            "-o", f"{target.name}: the report is written as .html or .pdf",
            f"{target.name}：报告只能输出为 .html 或 .pdf 文件")]))
    browser = chromium() if target.suffix.lower() == ".pdf" else None
    checkpoint = None if against is None else read_checkpoint(against, fmt)
    engine = open_engine(db_url, fmt)
    who = parse_actor(reader)
    found = engine.case(case_id, who)  # E-NOT-FOUND, E-ACTOR: exit 2
    if show_personal:
        check_show_personal(who, found, case_id)
    report = build_report(engine, case_id, who, now=RealClock().now(), lang=lang,
                          show_personal=show_personal, checkpoint=checkpoint)
    page = render_html(report, lang)
    if browser is None:
        target.write_text(page, "utf-8")
    else:
        with tempfile.TemporaryDirectory(prefix="jiekun-report-") as folder:
            html = Path(folder) / "report.html"
            html.write_text(page, "utf-8")
            print_pdf(html, target, browser)
    first = report.chain["problems"][0] if report.chain["problems"] else None
    summary = {"case": case_id, "output": str(target), "lang": lang,
               "events": len(report.timeline), "chain_ok": report.chain["ok"],
               "chain_broken_at": None if first is None else first["seq"],
               "checkpoint_ok": None if report.checkpoint is None else report.checkpoint["ok"]}
    emit(fmt, summary, lambda s: f"report of {s['case']} ({s['events']} events, chain "
                                 + ("intact" if s["chain_ok"] else
                                    f"BROKEN at event {s['chain_broken_at']}")
                                 + f") → {s['output']}")
