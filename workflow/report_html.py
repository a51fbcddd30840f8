"""The case report (``case_report.CaseReport``) as one self-contained HTML page: inline CSS, the
path diagram as inline SVG, no script and no external URL, so the file alone is the record (and
prints to A4 as it is: ``@page { size: A4 }``). Chinese by default, English with ``lang="en"``.

Every value is escaped; the classes and ``data-`` attributes (``event``, ``chain-status``,
``checkpoint-status``, ``clause``) are what a reader's tools and the tests find things by.
"""

from __future__ import annotations

from html import escape
from typing import Any

from jiekun.policies.deadlines import SHANGHAI
from jiekun.workflow.case_report import NOTICE_NAME, CaseReport, GuardClause
from jiekun.workflow.history_view import MASK

FONT_STACK = '"Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans SC", sans-serif'

_TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "困难职工案件审计报告", "en": "Case audit report"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "reader": {"zh": "读者", "en": "Reader"},
    "identity": {"zh": "一、案件信息", "en": "1. The case"},
    "path": {"zh": "二、案件路径", "en": "2. The case's path"},
    "timeline": {"zh": "三、时间线", "en": "3. Timeline"},
    "clauses": {"zh": "四、规则条款（摘自通知原文）", "en": "4. The rules and the notice's words"},
    "chain": {"zh": "五、哈希链", "en": "5. Hash chain"},
    "checkpoint": {"zh": "六、检查点", "en": "6. Checkpoint"},
    "policies": {"zh": "七、政策版本", "en": "7. Policy versions"},
    "case": {"zh": "案件编号", "en": "Case"},
    "state": {"zh": "当前状态", "en": "State"},
    "version": {"zh": "事件数", "en": "Events"},
    "category": {"zh": "困难类别", "en": "Category"},
    "reviewing_body": {"zh": "审核单位", "en": "Reviewing body"},
    "grassroots_union": {"zh": "受理基层工会", "en": "Grassroots union"},
    "archive_number": {"zh": "档案编号", "en": "Archive number"},
    "first_event_at": {"zh": "首个事件", "en": "First event"},
    "last_event_at": {"zh": "最近事件", "en": "Last event"},
    "applicant_name": {"zh": "申请人", "en": "Applicant"},
    "applicant_id": {"zh": "身份证号", "en": "ID number"},
    "personal_hidden": {"zh": "个人信息已隐去（须有权限的读者使用 --show-personal）。",
                        "en": "Personal data is left out (--show-personal, by a reader "
                              "allowed to see it)."},
    "by": {"zh": "执行人", "en": "By"},
    "to": {"zh": "进入", "en": "To"},
    "payload": {"zh": "数据", "en": "Payload"},
    "derived": {"zh": "推导", "en": "Derived"},
    "policy": {"zh": "政策", "en": "Policy"},
    "rules": {"zh": "规则结果（按事件所用政策重新计算）",
              "en": "Rule results (recomputed under the event's policy)"},
    "no_rules": {"zh": "此事件不经任何规则检查。", "en": "No rule guards this event."},
    "passed": {"zh": "通过", "en": "passed"},
    "failed": {"zh": "未通过", "en": "failed"},
    "not_rechecked": {"zh": "未重新核验", "en": "not re-checked"},
    "no_quote": {"zh": "通知中没有专门表述此规则的原文（系对通知的解释，见 policies/RULES.md）。",
                 "en": "The notice has no sentence of its own for this rule (an "
                       "interpretation of it: policies/RULES.md)."},
    "intact": {"zh": "完整：本案每个事件的哈希、链接与折叠结果均一致",
               "en": "intact: every event's hash, link and fold agree"},
    "broken": {"zh": "已损坏", "en": "BROKEN"},
    "broken_at": {"zh": "第 {seq} 个事件处断裂：", "en": "broken at event {seq}: "},
    "no_checkpoint": {"zh": "未提供检查点（--against CHECKPOINT），未与审计方保存的日志比对。",
                      "en": "No checkpoint was given (--against CHECKPOINT): the store was "
                            "not held to an auditor's log."},
    "checkpoint_ok": {"zh": "库中仍完整保存该检查点的日志（其后仅有追加），一致性证明已验证",
                      "en": "the store still holds the checkpoint's log as a prefix (it only "
                            "grew); consistency proof verified"},
    "checkpoint_of": {"zh": "检查点：{time}，{size} 个事件，根 {root}；现有 {now} 个事件",
                      "en": "checkpoint of {time}: {size} events, root {root}; the store "
                            "now holds {now}"},
    "this_case": {"zh": "涉及本案", "en": "about this case"},
    "elsewhere": {"zh": "涉及其他位置", "en": "elsewhere in the log"},
    "policy_held": {"zh": "本引擎持有此版本", "en": "held by this engine"},
    "policy_missing": {"zh": "本引擎没有此版本：规则结果未重新计算",
                       "en": "not held by this engine: rule results not recomputed"},
    "events": {"zh": "事件", "en": "events"},
    "path_missing": {"zh": "无法绘制路径：", "en": "The path cannot be drawn: "},
}

_CSS = f"""
@page {{ size: A4; margin: 14mm 12mm; }}
* {{ box-sizing: border-box; }}
body {{ font-family: {FONT_STACK}; color: #222; font-size: 10.5pt; line-height: 1.5;
       margin: 0 auto; max-width: 186mm; padding: 8mm 0; }}
h1 {{ font-size: 19pt; margin: 0 0 2mm; }}
h2 {{ font-size: 13.5pt; border-bottom: 1.5px solid #9DBBDD; padding-bottom: 1mm;
     margin: 7mm 0 3mm; break-after: avoid; }}
.meta {{ color: #555; font-size: 9.5pt; }}
table.identity {{ border-collapse: collapse; width: 100%; }}
table.identity th, table.identity td {{ border: 1px solid #ccc; padding: 1mm 2mm;
                                        text-align: left; vertical-align: top; }}
table.identity th {{ background: #EAF2FB; width: 30%; font-weight: 600; }}
figure.path {{ margin: 0; text-align: center; break-inside: avoid; }}
figure.path svg {{ width: 100%; height: auto; max-height: 245mm; }}
.event {{ border-left: 3px solid #9DBBDD; padding: 1mm 0 1mm 3mm; margin: 0 0 3mm;
          break-inside: avoid; }}
.event h3 {{ font-size: 11pt; margin: 0; }}
.event .when {{ color: #555; font-weight: normal; margin-left: 2mm; }}
.event p {{ margin: 0.5mm 0; }}
.label {{ color: #666; }}
ul.rules {{ margin: 1mm 0 0; padding-left: 5mm; }}
ul.rules li {{ margin: 0.5mm 0; }}
.pass {{ color: #1E7B34; font-weight: 600; }}
.fail {{ color: #B03A2E; font-weight: 600; }}
.skip {{ color: #8A6D1E; font-weight: 600; }}
.figures {{ color: #555; font-size: 9pt; }}
.clause {{ margin: 0 0 3mm; break-inside: avoid; }}
blockquote {{ margin: 1mm 0 1mm 4mm; padding: 1mm 3mm; border-left: 3px solid #E0BC80;
              background: #FDF3E3; }}
.status {{ font-weight: 600; padding: 1.5mm 3mm; border-radius: 2px; }}
.status.ok {{ background: #EAF6EC; color: #1E7B34; }}
.status.bad {{ background: #FBEAEA; color: #B03A2E; }}
.status.none {{ background: #F2F2F2; color: #555; }}
code {{ font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; word-break: break-all; }}
"""


def _t(key: str, lang: str) -> str:
    return _TEXT[key][lang]


def _e(value: Any) -> str:
    return escape("—" if value is None or value == "" else str(value))


def _value(value: Any, lang: str) -> str:
    """A payload or derived value in words: a labelled code (``{"code", "zh", "en"}``, a
    timer's ``{"kind", "zh", "en", …}``) by its label in ``lang``."""
    if isinstance(value, dict):
        code = value.get("code", value.get("kind"))
        if lang in value or code is not None:
            rest = {k: v for k, v in value.items() if k not in ("zh", "en", "code", "kind")}
            label = value.get(lang)
            head = f"{label} ({code})" if label and code else str(label or code)
            return head + "".join(f", {k} {_value(v, lang)}" for k, v in rest.items())
        return "{" + ", ".join(f"{k}: {_value(v, lang)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "; ".join(_value(v, lang) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _identity(report: CaseReport, lang: str) -> str:
    i = report.identity
    rows = [("case", i["case"]), ("state", _state(report, lang)),
            ("version", i["version"]),
            ("category", i[f"category_{lang}"] and f"{i[f'category_{lang}']} ({i['category']})"),
            ("reviewing_body", _body(i, lang)),
            ("grassroots_union", i["grassroots_union"]), ("archive_number", i["archive_number"]),
            ("first_event_at", i["first_event_at"]), ("last_event_at", i["last_event_at"])]
    if report.show_personal:
        rows += [("applicant_name", i.get("applicant_name")),
                 ("applicant_id", i.get("applicant_id"))]
    body = "".join(f"<tr><th>{_t(k, lang)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    note = "" if report.show_personal else f'<p class="meta">{_t("personal_hidden", lang)}</p>'
    return f'<table class="identity">{body}</table>{note}'


def _body(identity: dict[str, Any], lang: str) -> str | None:
    code, name = identity["reviewing_body"], identity["reviewing_body_zh"]
    return f"{name}（{code}）" if lang == "zh" and name else code


def _state(report: CaseReport, lang: str) -> str:
    last = report.timeline[-1] if report.timeline else None
    if last is None:
        return str(report.identity["state"])
    return f"{last[f'state_{lang}']} ({last['state']})"


def _actor(actor: dict[str, Any], lang: str) -> str:
    who = actor.get("org_zh") if lang == "zh" and actor.get("org_zh") else actor.get("org")
    if "id_number" in actor:
        who = actor["id_number"]
    return f"{actor[f'role_{lang}']}{' ' + str(who) if who else ''}"


def _rule(result: dict[str, Any], lang: str) -> str:
    head = (f'<code>{_e(result["id"])}</code> {_e(result["citation"])} '
            f'{_e(result[f"title_{lang}"])}')
    if not result["recomputed"]:
        why = result["because_zh"] if lang == "zh" else result["because"]
        return (f'<li data-rule="{_e(result["id"])}" data-passed="unknown">{head}：'
                f'<span class="skip">{_t("not_rechecked", lang)}</span> — {_e(why)}</li>')
    verdict = (f'<span class="pass">✓ {_t("passed", lang)}</span>' if result["passed"]
               else f'<span class="fail">✗ {_t("failed", lang)}</span>')
    said = result[f"explanation_{lang}"]
    text = "" if said == MASK else f" — {_e(said)}"
    figures = result["figures"]
    shown = (f'<div class="figures">{_e(", ".join(f"{k}={v}" for k, v in figures.items()))}'
             "</div>") if figures else ""
    parts = "".join(_rule(r, lang) for r in result.get("rules", ()))
    inner = f'<ul class="rules">{parts}</ul>' if parts else ""
    flag = "true" if result["passed"] else "false"
    return (f'<li data-rule="{_e(result["id"])}" data-passed="{flag}">{head}：{verdict}{text}'
            f"{shown}{inner}</li>")


def _event(row: dict[str, Any], lang: str) -> str:
    lines = [f'<p><span class="label">{_t("by", lang)}:</span> {_e(_actor(row["actor"], lang))}'
             f' → <span class="label">{_t("to", lang)}:</span> '
             f'{_e(row[f"state_{lang}"])} (<code>{_e(row["state"])}</code>)</p>']
    if row["data"]:
        lines.append(f'<p><span class="label">{_t("payload", lang)}:</span> '
                     + _e("; ".join(f"{k}={_value(v, lang)}" for k, v in row["data"].items()))
                     + "</p>")
    if row["derived"]:
        lines.append(f'<p><span class="label">{_t("derived", lang)}:</span> '
                     + _e("; ".join(f"{k}={_value(v, lang)}" for k, v in row["derived"].items()))
                     + "</p>")
    lines.append(f'<p><span class="label">{_t("policy", lang)}:</span> '
                 f'<code>{_e(row["policy"])}</code></p>')
    rules = row.get("rules", [])
    if rules:
        lines.append(f'<p class="label">{_t("rules", lang)}:</p><ul class="rules">'
                     + "".join(_rule(r, lang) for r in rules) + "</ul>")
    else:
        lines.append(f'<p class="label">{_t("no_rules", lang)}</p>')
    return (f'<section class="event" id="event-{row["seq"]}" data-seq="{row["seq"]}" '
            f'data-event="{_e(row["event"])}"><h3>#{row["seq"]} {_e(row[f"event_{lang}"])} '
            f'<code>{_e(row["event"])}</code><span class="when">{_e(row["at"])}</span></h3>'
            + "".join(lines) + "</section>")


def _clause(guard: GuardClause, lang: str) -> str:
    title = guard.title_zh if lang == "zh" else guard.title_en
    quotes = "".join(f"<blockquote lang=\"zh\">{_e(q)}</blockquote>" for q in guard.quotes)
    if not quotes:
        quotes = f'<p class="meta">{_t("no_quote", lang)}</p>'
    return (f'<div class="clause" data-rule="{_e(guard.rule_id)}"><p><code>{_e(guard.rule_id)}'
            f"</code> {NOTICE_NAME} {_e(guard.citation)} — {_e(title)}</p>{quotes}</div>")


def _chain(report: CaseReport, lang: str) -> str:
    chain = report.chain
    if chain["ok"]:
        return (f'<p class="status ok chain-status" data-status="intact">'
                f'{_t("intact", lang)}（{chain["events"]} {_t("events", lang)}）</p>')
    first = chain["problems"][0]
    return (f'<p class="status bad chain-status" data-status="broken" '
            f'data-seq="{first["seq"]}">{_t("broken", lang)} — '
            f'{_t("broken_at", lang).format(seq=first["seq"])}{_e(first["reason"])}</p>')


def _checkpoint(report: CaseReport, lang: str) -> str:
    held = report.checkpoint
    if held is None:
        return (f'<p class="status none checkpoint-status" data-status="none">'
                f'{_t("no_checkpoint", lang)}</p>')
    mark = held["checkpoint"]
    about = _t("checkpoint_of", lang).format(time=mark["time"], size=mark["size"],
                                             root=mark["root"][:16] + "…", now=held["size"])
    if held["ok"]:
        return (f'<p class="status ok checkpoint-status" data-status="holds">'
                f'{_t("checkpoint_ok", lang)}</p><p class="meta">{_e(about)}</p>')
    items = [f"<li>{_t(group, lang)} — {_e(f['kind'])}: {_e(f['message'])}</li>"
             for group in ("this_case", "elsewhere") for f in held[group]]
    return (f'<p class="status bad checkpoint-status" data-status="broken">'
            f'{_t("broken", lang)}</p><p class="meta">{_e(about)}</p><ul>{"".join(items)}</ul>')


def _policies(report: CaseReport, lang: str) -> str:
    items = []
    for used in report.policies:
        held = _t("policy_held" if used["available"] else "policy_missing", lang)
        seqs = ", ".join(f"#{s}" for s in used["events"])
        items.append(f'<li><code>{_e(used["policy"])}</code> — {held}; {_t("events", lang)} '
                     f"{seqs}</li>")
    return f'<ul class="policies">{"".join(items)}</ul>'


def render_html(report: CaseReport, lang: str = "zh") -> str:
    """The report as one HTML page in ``lang`` (``zh`` or ``en``)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be zh or en, not {lang!r}")
    path = (report.path_svg if report.path_svg is not None else
            f'<p class="status bad">{_t("path_missing", lang)}{_e(report.path_problem)}</p>')
    sections = [
        (_t("identity", lang), _identity(report, lang)),
        (_t("path", lang), f'<figure class="path">{path}</figure>'),
        (_t("timeline", lang), "".join(_event(row, lang) for row in report.timeline)),
        (_t("clauses", lang), "".join(_clause(g, lang) for g in report.guards)),
        (_t("chain", lang), _chain(report, lang)),
        (_t("checkpoint", lang), _checkpoint(report, lang)),
        (_t("policies", lang), _policies(report, lang)),
    ]
    body = "".join(f"<section><h2>{title}</h2>{inner}</section>" for title, inner in sections)
    html_lang = "zh-CN" if lang == "zh" else "en"
    generated = report.generated_at.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
    return (f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
            f"<title>{_t('title', lang)} {_e(report.case_id)}</title><style>{_CSS}</style>"
            f"</head><body><header><h1>{_t('title', lang)} · {_e(report.case_id)}</h1>"
            f'<p class="meta">{_t("generated", lang)}: {_e(generated)}'
            f' · {_t("reader", lang)}: {_e(report.reader)} · {NOTICE_NAME}</p></header>'
            f"{body}</body></html>\n")
