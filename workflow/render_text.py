"""The ``--format text`` views: the same JSON the machines get, laid out for people."""

from __future__ import annotations

from typing import Any

_CATEGORY = {"deep": "深度困难 deep", "relative": "相对困难 relative",
             "accident": "意外致困 accident", None: "不符合 not eligible"}


def assessment(result: dict[str, Any]) -> str:
    body = result["reviewing_body"]
    lines = [
        f"类别 category:        {_CATEGORY[result['category']]}",
        f"审核单位 reviewed by: {body['name'] + ' (' + body['code'] + ')' if body else '—'}",
        f"低保标准 standard L:  {result['living_standard']} 元/人/月 (policy {result['policy']})",
        f"人均收入 income I:    {result['per_capita_income']}",
        f"人均纯收入 net N:     {result['per_capita_net_income']}",
    ]
    if result["per_capita_net_income_after_accident"] is not None:
        lines.append(f"意外后纯收入 N_a:     {result['per_capita_net_income_after_accident']}")
    lines.append("")
    for rule in result["rules"]:
        mark = "✓" if rule["passed"] else "✗"
        lines.append(f" {mark} {rule['id']:<14} {rule['citation']}  {rule['explanation_zh']}")
        lines.append(f"   {'':<14}       {rule['explanation_en']}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def replay(report: dict[str, Any]) -> str:
    lines = []
    for case_id, case in report["cases"].items():
        head = (f"{case_id}: {case['state'] or '(nothing applied)'}"
                f"  category={case['category'] or '—'} body={case['reviewing_body'] or '—'}"
                f"  events={case['events_applied']}")
        if case.get("unverifiable"):
            head += f" unverifiable={case['unverifiable']}"
        lines.append(head)
        violation = case["violation"]
        if violation:
            lines.append(f"  violation at line {violation['line']} ({violation['event']}): "
                         f"{violation['rule']}: {violation['message']}")
            if violation.get("message_zh"):
                lines.append(f"  违规（第 {violation['line']} 行）：{violation['message_zh']}")
    lines.append(f"{report['violations']} case(s) with a violation")
    return "\n".join(lines)
