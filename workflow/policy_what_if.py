"""The policy what-if behind ``jiekun simulate-policy``: what a proposed policy would do to
the open archive and to the households that could enter, changing nothing.

Every case in ``archived``, ``under_recheck`` or ``phase_out`` is re-assessed with its latest
household data under the proposed policy on one date. A case's current standing is its
category, or ``out`` for a case in phase-out (its last re-check found it out of hardship);
its standing under the proposal is the assessed category or ``out``. Cases moving from a
category to ``out`` would leave; cases moving from ``out`` to a category would enter.

The households that could enter (issue 15) are counted too: ``rejected``, ``exited``, and
``withdrawn`` after review (the case was assessed: it has a category) cases whose application
the store still holds, re-assessed on their last application — "last known figures", said so
in the report — from ``out``. Every move is also counted by the region of the applicant's
unit, and the report names the store's current policy version and the proposed policy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.eligibility import assess
from jiekun.policies.policy_file import Policy
from jiekun.workflow.engine import Engine
from jiekun.workflow.policy_versions import current

OPEN_ARCHIVE = ("archived", "under_recheck", "phase_out")
COULD_ENTER = ("rejected", "withdrawn", "exited")
STANDINGS = ("deep", "relative", "accident", "out")
LAST_KNOWN = "last known figures"


@dataclass(frozen=True)
class Movement:
    case_id: str
    reviewing_body: str
    before: str
    after: str
    after_body: str | None
    region: str = ""  # of the applicant's unit (without one: of the residence)
    basis: str = "current figures"  # or LAST_KNOWN: a closed case's last application


@dataclass
class WhatIfReport:
    policy: str
    as_of: date
    movements: list[Movement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no household data left
    proposed_hash: str = ""
    current: dict[str, Any] = field(default_factory=dict)  # the store's current version

    def matrix(self, body: str | None = None) -> dict[str, dict[str, int]]:
        counts = Counter((m.before, m.after) for m in self.movements
                         if body is None or m.reviewing_body == body)
        return {b: {a: counts[(b, a)] for a in STANDINGS} for b in STANDINGS}

    def cells(self, region: str | None = None) -> dict[str, list[str]]:
        """``before→after``: the case ids of each move (within ``region``), moves only."""
        out: dict[str, list[str]] = {}
        for m in self.movements:
            if region is None or m.region == region:
                out.setdefault(f"{m.before}→{m.after}", []).append(m.case_id)
        return out

    def _region_matrix(self, region: str) -> dict[str, dict[str, int]]:
        counts = Counter((m.before, m.after) for m in self.movements if m.region == region)
        return {b: {a: counts[(b, a)] for a in STANDINGS} for b in STANDINGS}

    def as_json(self) -> dict[str, Any]:
        bodies = sorted({m.reviewing_body for m in self.movements})
        leaving = [m for m in self.movements if m.before != "out" and m.after == "out"]
        entering = [m for m in self.movements if m.before == "out" and m.after != "out"]
        regions = sorted({m.region for m in self.movements})
        return {
            "policy": self.policy, "as_of": self.as_of.isoformat(),
            "proposed": {"id": self.policy, "hash": self.proposed_hash},
            "current_version": self.current,
            "basis": {"open archive": "current figures",
                      "rejected, withdrawn after review, exited": LAST_KNOWN},
            "could_enter": sum(1 for m in self.movements if m.basis == LAST_KNOWN),
            "by_region": {r: {"matrix": self._region_matrix(r), "cases": self.cells(r)}
                          for r in regions},
            "cases_by_move": self.cells(),
            "cases": len(self.movements),
            "matrix": self.matrix(),
            "by_reviewing_body": {b: self.matrix(b) for b in bodies},
            "leaving": [m.case_id for m in leaving],
            "entering": [m.case_id for m in entering],
            "totals": {"cases": len(self.movements), "leaving": len(leaving),
                       "entering": len(entering),
                       "changing_category": sum(1 for m in self.movements
                                                if m.before != m.after),
                       "changing_reviewing_body": sum(
                           1 for m in self.movements
                           if m.after_body is not None and m.after_body != m.reviewing_body)},
            "skipped": self.skipped,
        }


def simulate_policy(engine: Engine, proposed: Policy, on: date) -> WhatIfReport:
    """PolicyNotInForce when the proposal does not cover ``on``."""
    proposed.living_standard_on(on)
    held = current(engine.store)
    report = WhatIfReport(proposed.id, on, proposed_hash=proposed.content_hash,
                          current={"version": held.version, "id": held.id, "hash": held.hash})
    reader = Actor("auditor")
    for state in (*OPEN_ARCHIVE, *COULD_ENTER):
        for row in engine.cases(reader, state=state):
            case = engine.stored_case(str(row["case_id"]))
            if case is None or case.application is None:
                report.skipped.append(str(row["case_id"]))
                continue
            if state == "withdrawn" and case.category is None:
                continue  # withdrawn before review: never assessed
            closed = state in COULD_ENTER
            before = "out" if state == "phase_out" or closed else str(case.category)
            result = assess(case.application, proposed, on)
            unit = case.application.unit  # no unit: the household's own region
            region = unit.region if unit is not None else case.application.residence.region
            report.movements.append(Movement(
                case.case_id, case.reviewing_body or "none", before, result.category or "out",
                result.reviewing_body, str(region), LAST_KNOWN if closed else "current figures"))
    report.movements.sort(key=lambda m: m.case_id)
    return report


def render_text(report: dict[str, Any]) -> str:
    head = "now \\ proposed".ljust(16) + "".join(s.rjust(10) for s in STANDINGS)
    rows = [f"{b:<16}" + "".join(str(report["matrix"][b][a]).rjust(10) for a in STANDINGS)
            for b in STANDINGS]
    t = report["totals"]
    now = report["current_version"]
    lines = [f"proposed policy {report['policy']} ({report['proposed']['hash'][:19]}…) against "
             f"the store's version {now['version']} ({now['id']}) on {report['as_of']}: "
             f"{t['cases']} cases, of which {report['could_enter']} rejected, withdrawn after "
             f"review or exited, re-assessed on their last application ({LAST_KNOWN})",
             head, *rows, "",
             f"would leave: {t['leaving']}   would enter: {t['entering']}   change category: "
             f"{t['changing_category']}   change reviewing body: {t['changing_reviewing_body']}"]
    for body, matrix in report["by_reviewing_body"].items():
        moved = {f"{b}→{a}": n for b, row in matrix.items() for a, n in row.items()
                 if n and a != b}
        lines.append(f"  {body:<10} " + (", ".join(f"{k} {v}" for k, v in moved.items())
                                         or "no movement"))
    lines.append("by region of the applicant's unit:")
    for region, cell in report["by_region"].items():
        moved = {move: len(ids) for move, ids in cell["cases"].items()
                 if move.split("→")[0] != move.split("→")[1]}
        lines.append(f"  {region:<8} " + (", ".join(f"{k} {v}" for k, v in moved.items())
                                          or "no movement"))
    return "\n".join(lines)

