"""The ``--format text`` views: the same JSON the machines get, laid out for people."""

from __future__ import annotations

import json
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
        for line in case.get("unverifiable_lines", []):
            lines.append(f"  line {line['line']} ({line['event']}) not re-checked: "
                         f"{', '.join(line['not_rechecked'])} — {line['because']}")
        violation = case["violation"]
        if violation:
            lines.append(f"  violation at line {violation['line']} ({violation['event']}): "
                         f"{violation['rule']}: {violation['message']}")
            if violation.get("message_zh"):
                lines.append(f"  违规（第 {violation['line']} 行）：{violation['message_zh']}")
    lines.append(f"{report['violations']} case(s) with a violation")
    return "\n".join(lines)


def _actor_text(actor: dict[str, Any]) -> str:
    text = f"{actor['role_zh']} {actor['role_en']}"
    if actor.get("org"):
        name = actor.get("org_zh")
        text += f" {name}（{actor['org']}）" if name else f" {actor['org']}"
    if "id_number" in actor:
        text += f" 身份证号 id {actor['id_number']}"
    return text


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _derived_text(derived: dict[str, Any]) -> list[str]:
    parts = []
    if "category" in derived:
        c = derived["category"]
        parts.append(f"类别 category {c['zh']} {c['en']}")
    if "category_changed" in derived:
        changed = "是 yes" if derived["category_changed"] else "否 no"
        parts.append(f"类别变化 category changed: {changed}")
    if "reviewing_body" in derived:
        b = derived["reviewing_body"]
        parts.append(f"审核单位 reviewing body {b['zh']}（{b['code']}）")
    if "archive_number" in derived:
        parts.append(f"档案编号 archive number {derived['archive_number']}")
    for t in derived.get("timers_started", ()):
        parts.append(f"计时开始 timer started {t['zh']} {t['en']}, "
                     f"到期 due {t['due'] or '待定 not dated yet'}")
    if "due" in derived:
        parts.append(f"原定到期 was due {derived['due']}")
    if "phase_out_end" in derived:
        parts.append(f"渐退期至 phase-out ends {derived['phase_out_end']}")
    if "exited_at" in derived:
        parts.append(f"退档于 exited at {derived['exited_at']}")
    if "aid" in derived:
        a = derived["aid"]
        parts.append(f"帮扶 aid {a['item']} {a['tier'] or ''} {a['amount'] or ''} "
                     f"({a['year']})".replace("  ", " "))
    return parts


def history(rows: list[dict[str, Any]]) -> str:
    """``jiekun case history``: a small block per event, times in +08:00."""
    lines: list[str] = []
    for row in rows:
        lines.append(f"#{row['seq']:<3} {row['at']}  {row['event_zh']} {row['event_en']}"
                     f" ({row['event']})")
        lines.append(f"     执行人 by: {_actor_text(row['actor'])}")
        lines.append(f"     → {row['state_zh']} {row['state_en']} ({row['state']})")
        if row["data"]:
            lines.append("     数据 payload: " + "; ".join(
                f"{k}={_value_text(v)}" for k, v in row["data"].items()))
        for part in _derived_text(row["derived"]):
            lines.append(f"     {part}")
        if row["policy"]:
            lines.append(f"     政策 policy {row['policy']}")
    return "\n".join(lines) or "(no event)"
