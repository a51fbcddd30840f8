"""The policy what-if behind ``jiekun simulate-policy``: what a proposed policy would do to
the open archive, changing nothing.

Every case in ``archived``, ``under_recheck`` or ``phase_out`` is re-assessed with its latest
household data under the proposed policy on one date. A case's current standing is its
category, or ``out`` for a case in phase-out (its last re-check found it out of hardship);
its standing under the proposal is the assessed category or ``out``. Cases moving from a
category to ``out`` would leave; cases moving from ``out`` to a category would enter.
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

OPEN_ARCHIVE = ("archived", "under_recheck", "phase_out")
STANDINGS = ("deep", "relative", "accident", "out")


@dataclass(frozen=True)
class Movement:
    case_id: str
    reviewing_body: str
    before: str
    after: str
    after_body: str | None


@dataclass
class WhatIfReport:
    policy: str
    as_of: date
    movements: list[Movement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no household data left

    def matrix(self, body: str | None = None) -> dict[str, dict[str, int]]:
        counts = Counter((m.before, m.after) for m in self.movements
                         if body is None or m.reviewing_body == body)
        return {b: {a: counts[(b, a)] for a in STANDINGS} for b in STANDINGS}

    def as_json(self) -> dict[str, Any]:
        bodies = sorted({m.reviewing_body for m in self.movements})
        leaving = [m for m in self.movements if m.before != "out" and m.after == "out"]
        entering = [m for m in self.movements if m.before == "out" and m.after != "out"]
        return {
            "policy": self.policy, "as_of": self.as_of.isoformat(),
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
    report = WhatIfReport(proposed.id, on)
    reader = Actor("auditor")
    for state in OPEN_ARCHIVE:
        for row in engine.cases(reader, state=state):
            case = engine.stored_case(str(row["case_id"]))
            if case is None or case.application is None:
                report.skipped.append(str(row["case_id"]))
                continue
            before = "out" if state == "phase_out" else str(case.category)
            result = assess(case.application, proposed, on)
            report.movements.append(Movement(
                case.case_id, str(case.reviewing_body), before, result.category or "out",
                result.reviewing_body))
    report.movements.sort(key=lambda m: m.case_id)
    return report


def render_text(report: dict[str, Any]) -> str:
    head = "now \\ proposed".ljust(16) + "".join(s.rjust(10) for s in STANDINGS)
    rows = [f"{b:<16}" + "".join(str(report["matrix"][b][a]).rjust(10) for a in STANDINGS)
            for b in STANDINGS]
    t = report["totals"]
    lines = [f"policy {report['policy']} on {report['as_of']}: {t['cases']} open archived "
             "cases", head, *rows, "",
             f"would leave: {t['leaving']}   would enter: {t['entering']}   change category: "
             f"{t['changing_category']}   change reviewing body: {t['changing_reviewing_body']}"]
    for body, matrix in report["by_reviewing_body"].items():
        moved = {f"{b}→{a}": n for b, row in matrix.items() for a, n in row.items()
                 if n and a != b}
        lines.append(f"  {body:<10} " + (", ".join(f"{k} {v}" for k, v in moved.items())
                                         or "no movement"))
    return "\n".join(lines)

