"""``jiekun aid report``: aid granted, per item, category and reviewing body (grants are
events: the report adds up what their recorded derivations say)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from jiekun.policies.aid_tables import ITEM_LABELS
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Derived


def aid_report(engine: Engine, year: str | None = None, body: str | None = None,
               case_id: str | None = None) -> dict[str, Any]:
    with engine.store.reads() as reads:
        rows = reads.derivations_of("grant_aid", case_id)
    totals: dict[tuple[str, str, str], list[Decimal]] = defaultdict(list)
    for _case, _at, derived_text in rows:
        aid = Derived.model_validate_json(derived_text).aid
        if aid is None or (year is not None and aid.year != year):
            continue
        if body is not None and aid.reviewing_body != body:
            continue
        key = (aid.item, str(aid.category), str(aid.reviewing_body))
        totals[key].append(aid.amount or Decimal(0))
    lines: list[dict[str, Any]] = [
        {"item": item, "item_zh": ITEM_LABELS[item], "category": category,
              "reviewing_body": reviewing_body, "grants": len(amounts),
              "amount": str(sum(amounts, Decimal(0)))}
             for (item, category, reviewing_body), amounts in sorted(totals.items())]
    return {"year": year, "reviewing_body": body, "case": case_id, "lines": lines,
            "grants": sum(x["grants"] for x in lines),
            "amount": str(sum((Decimal(str(x["amount"])) for x in lines), Decimal(0)))}


def render_text(report: dict[str, Any]) -> str:
    rows = [f"{x['item_zh']} {x['item']:<13} {x['category']:<9} {x['reviewing_body']:<10} "
            f"{x['grants']:>6} grants {x['amount']:>14} yuan" for x in report["lines"]]
    return "\n".join([*rows, f"total: {report['grants']} grants, {report['amount']} yuan"])
