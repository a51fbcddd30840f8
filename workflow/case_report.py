"""A case report for the file (issue 16, ``jiekun audit report``): everything an auditor needs
about one case on one page — who and where the case is, its path over the lifecycle, the
timeline of its events with the rule results that decided each (recomputed under the event's
policy, ``history_view.rule_results``), each guard's clause quoted from the notice, whether
its hash chain and fold still hold (``audit.verify`` of this case), the store's standing
against an auditor's checkpoint (``checkpoint.verify_against``), and the policy versions used.

This module gathers the facts (``build_report``); ``report_html`` lays them out as one
self-contained HTML page, which Chromium prints to an A4 PDF (``print_pdf``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import graphviz

from jiekun.diagrams import PathStep, case_path_diagram, cjk_font_check, to_dot
from jiekun.diagrams.notice import sentence_with
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.policy_file import Policy
from jiekun.policies.routing import BODY_NAMES
from jiekun.policies.rules import RULES
from jiekun.workflow.audit import verify
from jiekun.workflow.checkpoint import Checkpoint, CheckpointCheck, verify_against
from jiekun.workflow.engine import Engine
from jiekun.workflow.history_view import (
    CATEGORY_LABELS,
    held_policies,
    history_view,
    policy_for,
    policy_text,
)
from jiekun.workflow.policy_versions import versions
from jiekun.workflow.records import CaseState, Event

NOTICE_NAME = "锡工办发〔2023〕45号"

# Each guard's words in the notice (policies/data/wuxi-notice-2023-45.txt), by a phrase of the
# sentence that says it: the sentence is quoted whole, so a phrase no longer in the notice is
# caught (tests/workflow/test_case_report.py quotes every guard). R-ONE-OPEN-CASE has none:
# the notice presumes one case per household (policies/RULES.md §1.1 reads it so).
CLAUSE_PHRASES: dict[str, tuple[str, ...]] = {
    "R-ELIGIBLE": ("深度困难职工家庭，家庭人均收入", "相对困难职工家庭，家庭人均收入",
                   "应符合家庭人均收入在无锡市最低生活保障标准4倍以内"),
    "R-OUT-OF-HARDSHIP": ("对稳定达到脱困标准的困难职工家庭及时脱困退出",),
    "R-PUBLICITY-ELAPSED": ("初审合格的在申报人所在单位", "审核合格的在同级媒体公示",
                            "公示无异议后，公告退出"),
    "E-OBJECTION": ("公示无异议的报上级工会", "公示无异议的确认为帮扶对象"),
    "R-RECHECK-CADENCE": ("原则上每年核查一次",),
    "R-NO-ARBITRARY-CUT": ("不得随意降低帮扶水平",),
    "R-RETENTION": ("原始档案自撤档之日起保管10年",),
    "R-PHASEOUT-MAX": ("不超过6个月的渐退期",),
    "R-PHASEOUT-ELAPSED": ("不超过6个月的渐退期",),
    "R-EXIT-CONFIRM": ("须经职工本人、基层工会确认后退档",),
    "R-EXIT-REFUSAL": ("无正当理由拒绝确认的",),
    "R-AID-STATE": ("公示无异议的确认为帮扶对象", "渐退期内可继续给予帮扶"),
    "R-AID-TIER": ("分档救助标准",),
    "R-MEDICAL-CAP": ("不得超过困难职工家庭年度自付医疗费用总额",),
}


def clause_quotes(rule_id: str) -> list[str]:
    """The sentences of the notice that state ``rule_id`` (empty: the notice has none), as the
    handbook quotes them (``diagrams/notice.py``: page breaks mended)."""
    quotes: list[str] = []
    for phrase in CLAUSE_PHRASES.get(rule_id, ()):
        try:
            quote = sentence_with(phrase).strip()
        except LookupError:
            raise LookupError(f"{rule_id}: {phrase!r} is not in the notice") from None
        if quote not in quotes:
            quotes.append(quote)
    return quotes


@dataclass(frozen=True)
class GuardClause:
    """One guard the case's events passed through: its clause and the notice's words."""

    rule_id: str
    citation: str
    title_zh: str
    title_en: str
    quotes: tuple[str, ...]


@dataclass
class CaseReport:
    """What ``report_html`` lays out; every time is aware (+08:00)."""

    case_id: str
    generated_at: datetime
    reader: str
    identity: dict[str, Any]
    timeline: list[dict[str, Any]]
    path_svg: str | None
    path_problem: str | None
    guards: list[GuardClause]
    chain: dict[str, Any]
    checkpoint: dict[str, Any] | None
    policies: list[dict[str, Any]] = field(default_factory=list)
    show_personal: bool = False


def _identity(case: CaseState, events: list[Event], show_personal: bool) -> dict[str, Any]:
    category = CATEGORY_LABELS.get(case.category or "")
    out: dict[str, Any] = {
        "case": case.case_id, "state": case.state, "version": case.version,
        "category": case.category, "category_zh": category.zh if category else None,
        "category_en": category.en if category else None,
        "reviewing_body": case.reviewing_body,
        "reviewing_body_zh": BODY_NAMES.get(case.reviewing_body or ""),
        "grassroots_union": case.grassroots_union, "archive_number": case.archive_number,
        "first_event_at": events[0].at.isoformat() if events else None,
        "last_event_at": events[-1].at.isoformat() if events else None,
    }
    if show_personal:
        applicant = case.application.applicant if case.application else None
        out["applicant_name"] = applicant.name if applicant else None
        out["applicant_id"] = case.applicant_id
    return out


def _steps(events: list[Event]) -> list[PathStep]:
    # as workflow/cli/diagram.py's path_steps (a library module does not import the CLI's)
    steps, source = [], None
    for event in events:
        steps.append(PathStep(event.trigger, source, event.derived.state, event.at))
        source = event.derived.state
    return steps


def path_svg(engine: Engine, case_id: str, events: list[Event], lang: str) -> str:
    """The case's path over the lifecycle (diagrams/path.py) as inline SVG: without the XML
    prologue, doctype and namespace URLs an HTML page does not need, scaled by its CSS."""
    lengths = engine.decider.policy.durations.model_dump()
    picture = case_path_diagram(engine.decider.lifecycle, _steps(events), lang,
                                lengths=lengths, title=case_id)
    cjk_font_check()  # a missing font draws every Chinese glyph as an empty box, silently
    svg = graphviz.Source(to_dot(picture)).pipe(format="svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s(?:xmlns(?::xlink)?|width|height)="[^"]*"', "", svg[:svg.index(">")]) \
        + svg[svg.index(">"):]
    return svg


def _guards(timeline: list[dict[str, Any]]) -> list[GuardClause]:
    seen: list[str] = []
    for row in timeline:
        seen += [r["id"] for r in row.get("rules", ()) if r["id"] not in seen]
    return [GuardClause(rule_id, RULES[rule_id].citation, RULES[rule_id].title_zh,
                        RULES[rule_id].title_en, tuple(clause_quotes(rule_id)))
            for rule_id in seen if rule_id in RULES]


def _chain(engine: Engine, case_id: str) -> dict[str, Any]:
    with engine.store.reads() as reads:
        audited = verify(reads, engine.decider, only=[case_id])
    problems = [{"seq": p.seq, "reason": p.reason} for p in audited.problems]
    return {"ok": audited.ok, "events": audited.events, "problems": problems}


def _checkpoint(check: CheckpointCheck, case_id: str) -> dict[str, Any]:
    """The store held to the checkpoint; the findings about this case first."""
    mine = [f.as_json() for f in check.findings if f.case_id == case_id]
    others = [f.as_json() for f in check.findings if f.case_id != case_id]
    return {"ok": check.ok, "checkpoint": check.checkpoint.as_json(), "size": check.size,
            "root": check.root, "this_case": mine, "elsewhere": others}


def _policies(engine: Engine, events: list[Event], known: Mapping[str, Policy]
              ) -> list[dict[str, Any]]:
    used: dict[str, dict[str, Any]] = {}
    for event in events:
        text = policy_text(event) or "—"
        if text not in used:
            held = policy_for(engine.decider, event.policy_id, event.policy_hash,
                              known) is not None
            used[text] = {"policy": text, "id": event.policy_id, "hash": event.policy_hash,
                          "available": held, "events": []}
        used[text]["events"].append(event.seq)
    return list(used.values())


def build_report(engine: Engine, case_id: str, reader: Actor, *, now: datetime,
                 lang: str = "zh", show_personal: bool = False,
                 checkpoint: Checkpoint | None = None) -> CaseReport:
    """The report of ``case_id`` as ``reader`` may read it (CaseNotFound, NotAuthorized as
    ``Engine.case``; whether ``show_personal`` is allowed is the caller's check,
    ``history_view.may_see_personal``). A path that cannot be drawn (a tampered history, no
    graphviz or CJK font) is reported in place of the diagram."""
    case = engine.case(case_id, reader)
    events = engine.history(case_id, reader)
    known = held_policies(versions(engine.store))  # read once, for the timeline and the list
    timeline = history_view(engine.decider.lifecycle, events, show_personal, engine.decider,
                            known)
    svg, problem = None, None
    try:
        svg = path_svg(engine, case_id, events, lang)
    except (ValueError, RuntimeError) as error:  # RuntimeError: no graphviz, no CJK font
        problem = str(error)
    held = None if checkpoint is None else _checkpoint(
        verify_against(engine.store, checkpoint), case_id)
    return CaseReport(case_id=case_id, generated_at=now, reader=reader.label,
                      identity=_identity(case, events, show_personal), timeline=timeline,
                      path_svg=svg, path_problem=problem, guards=_guards(timeline),
                      chain=_chain(engine, case_id), checkpoint=held,
                      policies=_policies(engine, events, known), show_personal=show_personal)


# tests/browser.py: the flags a closed network needs (without the background-networking ones
# Chromium keeps opening connections the sandbox refuses).
_CHROMIUM_FLAGS = ("--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--disable-default-apps", "--hide-scrollbars",
                   "--no-pdf-header-footer")


def chromium() -> str:
    """The browser that prints PDFs: ``$JIEKUN_CHROMIUM``, else ``chromium`` on the PATH.
    InvalidInput on ``-o`` (exit 2) when there is none: an HTML report needs no browser."""
    named = os.environ.get("JIEKUN_CHROMIUM")
    if named:
        found = named if Path(named).is_file() else None
    else:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        where = named or "chromium on the PATH"
        raise InvalidInput("-o", [FieldProblem(
            "-o", f"a PDF report is printed by Chromium, and there is none ({where}): install "
                  "Debian's chromium, set JIEKUN_CHROMIUM, or write the report as .html",
            f"PDF 报告须由 Chromium 打印，但未找到（{where}）：请安装 chromium，设置 "
            "JIEKUN_CHROMIUM，或输出 .html 报告")])
    return found


def print_pdf(html: Path, pdf: Path, browser: str) -> Path:
    """Print ``html`` to ``pdf`` with headless ``browser`` (its page size from the CSS
    ``@page``: A4). InvalidInput on ``-o`` when the browser prints nothing."""
    profile = tempfile.mkdtemp(prefix="jiekun-report-")
    command = [browser, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180,
                              check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not pdf.exists() or not pdf.read_bytes().startswith(b"%PDF"):
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidInput("-o", [FieldProblem(
            "-o", f"Chromium ({browser}) printed no PDF: {said}",
            f"Chromium（{browser}）未能打印 PDF：{said}")])
    return pdf
