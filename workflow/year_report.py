"""``jiekun report year``: what a federation files for a calendar year, per reviewing body and
category — households on file (archived, under re-check, in phase-out, re-entered) at the start
and at the end of the year; households entered, re-checked, moved to phase-out, exited,
re-entered and cancelled in it; aid per item (households, grants, yuan, also items with none)
and the medical cap. Every figure is counted from the stored events (``Engine.events_since``),
so it is reproducible from the export. A line whose amounts come from a tier table marked
illustrative says so.

Counting rules: a case counts in the body and category its event recorded (``derived``); "at
the start" is the state after its last event before 1 January 00:00 (Asia/Shanghai), "at the
end" before the next 1 January. Entered: archived from the media publicity (a first archive, or
a re-entered case reviewed again). Re-checked: a re-check started (``recheck_due`` or
``start_recheck``). Exited: a move into ``exited`` other than a declined re-admission (which
returns to an exit already counted). Each is counted once per household and year.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jiekun.policies.aid_tables import AID_ITEMS, ITEM_LABELS, PAID_ITEMS
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.policy_file import Policy
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event

ON_FILE = frozenset({"archived", "under_recheck", "phase_out", "re_entered"})
FLOWS = ("entered", "rechecked", "phase_out", "exited", "re_entered", "cancelled")
MEASURES = ("households_start", *FLOWS, "households_end")
MEASURE_LABELS = {
    "households_start": "年初在档户数", "entered": "新建档", "rechecked": "核查",
    "phase_out": "进入渐退期", "exited": "退档", "re_entered": "返困", "cancelled": "注销退档",
    "households_end": "年末在档户数",
}
CATEGORY_LABELS = {"deep": "深度困难", "relative": "相对困难", "accident": "意外致困"}
ILLUSTRATIVE = "illustrative"
_PAGE = 5000


@dataclass
class _Group:
    households: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    aid_households: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    grants: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    yuan: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    medical_declared: dict[str, Decimal] = field(default_factory=dict)  # case → latest
    medical_granted: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def _events(engine: Engine) -> dict[str, list[Event]]:
    cases: dict[str, list[Event]] = defaultdict(list)
    position = 0
    while True:
        page = engine.events_since(position, _PAGE)
        if not page:
            break
        for position, event in page:  # noqa: B007 - the last position pages on
            cases[event.case_id].append(event)
    for events in cases.values():
        events.sort(key=lambda e: e.seq)
    return cases


def _illustrative(policy: Policy, item: str, category: str, body: str) -> bool:
    if item not in PAID_ITEMS:
        return False
    table = policy.aid.table(item, category, body)
    return table is not None and table.illustrative


def year_report(engine: Engine, year: int, body: str | None = None) -> dict[str, Any]:
    """The year's report from the store behind ``engine`` (``body``: that reviewing body
    only). Amounts are strings of yuan (Decimal), counts integers."""
    if not 1900 <= year <= 2200:
        raise ValueError(f"--year: {year} is not a calendar year")
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    end = datetime(year + 1, 1, 1, tzinfo=SHANGHAI)
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for case_id, events in _events(engine).items():
        _count_case(case_id, events, start, end, str(year), groups)
    policy = engine.decider.policy
    lines = []
    for (reviewing_body, category), group in sorted(groups.items()):
        if body is not None and reviewing_body != body:
            continue
        aid = []
        for item in AID_ITEMS:
            aid.append({
                "item": item, "item_zh": ITEM_LABELS[item],
                "households": len(group.aid_households[item]), "grants": group.grants[item],
                "yuan": str(group.yuan[item]),
                ILLUSTRATIVE: _illustrative(policy, item, category, reviewing_body)})
        capped = [c for c, declared in group.medical_declared.items()
                  if group.medical_granted[c] >= declared]
        lines.append({
            "reviewing_body": reviewing_body, "category": category,
            **{m: len(group.households[m]) for m in MEASURES},
            "aid": aid,
            "medical_cap": {
                "households_declared": len(group.medical_declared),
                "self_paid_declared": str(sum(group.medical_declared.values(), Decimal(0))),
                "medical_granted": str(sum(group.medical_granted.values(), Decimal(0))),
                "households_at_cap": len(capped),
                ILLUSTRATIVE: _illustrative(policy, "medical", category, reviewing_body)},
        })
    return {"year": year, "reviewing_body": body, "policy": policy.id, "groups": lines}


def _count_case(case_id: str, events: list[Event], start: datetime, end: datetime,
                year: str, groups: dict[tuple[str, str], _Group]) -> None:
    before: Event | None = None
    for event in events:
        derived = event.derived
        previous = before.derived.state if before is not None else None
        before = event
        if not start <= event.at < end:
            continue
        if derived.category is None or derived.reviewing_body is None:
            continue
        group = groups[(derived.reviewing_body, derived.category)]
        flow = _flow(event.trigger, previous, derived.state)
        if flow is not None:
            group.households[flow].add(case_id)
        aid = derived.aid
        if event.trigger == "grant_aid" and aid is not None and aid.year == year:
            group.aid_households[aid.item].add(case_id)
            group.grants[aid.item] += 1
            group.yuan[aid.item] += aid.amount or Decimal(0)
            if aid.item == "medical":
                group.medical_granted[case_id] += aid.amount or Decimal(0)
                declared = event.data.get("self_paid_medical_total")
                if declared is not None:  # the latest declaration for the year counts
                    group.medical_declared[case_id] = Decimal(str(declared))
    last_before_start = [e for e in events if e.at < start]
    if last_before_start:
        _on_file(case_id, last_before_start[-1], "households_start", groups)
    last_before_end = [e for e in events if e.at < end]
    if last_before_end:
        _on_file(case_id, last_before_end[-1], "households_end", groups)


def _on_file(case_id: str, event: Event, measure: str,
             groups: dict[tuple[str, str], _Group]) -> None:
    d = event.derived
    if d.state in ON_FILE and d.category is not None and d.reviewing_body is not None:
        groups[(d.reviewing_body, d.category)].households[measure].add(case_id)


def _flow(trigger: str, previous: str | None, state: str) -> str | None:
    if state == "archived" and previous == "media_publicity":
        return "entered"
    if trigger in ("recheck_due", "start_recheck"):
        return "rechecked"
    if trigger == "start_phase_out":
        return "phase_out"
    if state == "exited" and previous not in ("exited", "re_entered"):
        return "exited"
    if trigger == "report_relapse":
        return "re_entered"
    if trigger == "cancel":
        return "cancelled"
    return None


# output ------------------------------------------------------------------------------------

CSV_HEADER = ("year", "reviewing_body", "category", "section", "measure", "households",
              "grants", "yuan", "note")


def rows(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One flat table: the archive measures, then aid per item, then the medical cap, each
    row marked "illustrative" where its amounts come from an illustrative tier table."""
    out: list[tuple[Any, ...]] = []
    year = report["year"]
    for g in report["groups"]:
        key = (year, g["reviewing_body"], g["category"])
        out += [(*key, "archive", m, g[m], "", "", "") for m in MEASURES]
        out += [(*key, "aid", a["item"], a["households"], a["grants"], a["yuan"],
                 ILLUSTRATIVE if a[ILLUSTRATIVE] else "") for a in g["aid"]]
        cap = g["medical_cap"]
        note = ILLUSTRATIVE if cap[ILLUSTRATIVE] else ""
        out.append((*key, "medical_cap", "self_paid_declared", cap["households_declared"], "",
                    cap["self_paid_declared"], note))
        out.append((*key, "medical_cap", "granted_at_cap", cap["households_at_cap"], "",
                    cap["medical_granted"], note))
    return out


def render_csv(report: dict[str, Any]) -> str:
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(rows(report))
    return sink.getvalue()


def render_text(report: dict[str, Any]) -> str:
    lines = [f"{report['year']} 年度报告 yearly report (policy {report['policy']})"]
    for g in report["groups"]:
        lines.append(f"\n{g['reviewing_body']} · {CATEGORY_LABELS.get(g['category'], '')} "
                     f"{g['category']}")
        lines += [f"  {MEASURE_LABELS[m]:<8} {m:<17} {g[m]:>6} households" for m in MEASURES]
        for a in g["aid"]:
            mark = "  ILLUSTRATIVE amounts (示例分档表，非官方标准)" if a[ILLUSTRATIVE] else ""
            lines.append(f"  {a['item_zh']} {a['item']:<13} {a['households']:>5} households "
                         f"{a['grants']:>6} grants {a['yuan']:>14} yuan{mark}")
        cap = g["medical_cap"]
        mark = "  ILLUSTRATIVE" if cap[ILLUSTRATIVE] else ""
        lines.append(f"  医疗救助封顶 medical cap: {cap['households_declared']} households "
                     f"declared {cap['self_paid_declared']} yuan self-paid, granted "
                     f"{cap['medical_granted']} yuan, {cap['households_at_cap']} at the cap"
                     f"{mark}")
    if not report["groups"]:
        lines.append("no households")
    return "\n".join(lines)


def write_xlsx(report: dict[str, Any], path: Path) -> None:
    """The report as a workbook: one sheet, the CSV's table with Chinese headings; amounts
    are numbers (exact decimal strings converted once, for the spreadsheet only)."""
    # openpyxl ships no type stubs (pyproject's mypy overrides could list it instead)
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{report['year']}"
    headings = ("年度", "审核单位", "类别", "部分", "项目", "户数", "次数", "金额（元）", "备注")
    sheet.append(list(headings))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows(report):
        values = list(row)
        if values[7] != "":
            values[7] = Decimal(values[7])
        if values[8] == ILLUSTRATIVE:
            values[8] = "illustrative 示例数据"
        if values[3] == "archive":
            values[4] = f"{MEASURE_LABELS[values[4]]} {values[4]}"
        elif values[3] == "aid":
            values[4] = f"{ITEM_LABELS[values[4]]} {values[4]}"
        sheet.append(values)
    for column, width in zip("ABCDEFGHI", (7, 12, 10, 12, 30, 8, 8, 14, 22), strict=True):
        sheet.column_dimensions[column].width = width
    # printed (or converted to PDF) as a federation files it: landscape, every column on
    # the page, the heading repeated on each page
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.print_title_rows = "1:1"
    sheet.freeze_panes = "A2"
    book.save(path)
