"""The figures ``jiekun demo`` reports once the run is over, read back from the store."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.workflow.demo.simulation import DemoStats
from jiekun.workflow.engine import Engine

AUDITOR = Actor("auditor")


def summarize(engine: Engine, stats: DemoStats, seconds: float) -> dict[str, Any]:
    """Cases per state, category and reviewing body, the timers fired, the refusals by rule."""
    rows = engine.cases(AUDITOR)
    by = {key: Counter(str(r[key]) for r in rows) for key in ("state", "category",
                                                               "reviewing_body")}
    return {
        "households": len(rows), "events": stats.events, "seconds": round(seconds, 1),
        "cases_per_state": dict(by["state"].most_common()),
        "cases_per_category": dict(by["category"].most_common()),
        "cases_per_reviewing_body": dict(by["reviewing_body"].most_common()),
        "timers_fired": dict(stats.timers_fired.most_common()),
        "refusals_by_rule": dict(stats.refusals.most_common()),
    }


def aid_per_item(report: dict[str, Any]) -> dict[str, int]:
    """Yuan granted per aid item of an ``aid_report``, the item labelled with its grants."""
    amounts: dict[str, Decimal] = {}
    grants: Counter[str] = Counter()
    for line in report["lines"]:
        amounts[line["item"]] = amounts.get(line["item"], Decimal(0)) + Decimal(line["amount"])
        grants[line["item"]] += line["grants"]
    return {f"{item} ({grants[item]} grants)": int(total) for item, total in amounts.items()}
