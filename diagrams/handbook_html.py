"""The handbook (``handbook.Handbook``) as one self-contained HTML page: inline CSS and SVG, no
script, no file or network fetch, the CJK font named first so Chinese is drawn in Noto Sans CJK
SC wherever it is installed. Printed on A4 by a browser (``@page``), a state starts no page
break inside its tables."""

from __future__ import annotations

from html import escape

from jiekun.diagrams.handbook import Handbook, Move, RuleText, StateSection

_WORDS = {
    "zh": {"policy": "政策", "as_of": "适用日期", "standard": "最低生活保障标准（L）",
           "overview": "总览", "contents": "目录", "meaning": "含义", "who": "谁可以操作",
           "move": "操作", "actor": "操作方", "leads": "结果", "needs": "须满足",
           "payload": "须提交", "timer": "计时", "none": "无", "timed": "（期限届满，系统自动）",
           "example": "实例", "answer": "系统答复", "no_example": "示例案例中没有此状态的操作。",
           "glossary": "规则一览", "rule": "规则", "clause": "条款", "notice": "通知原文",
           "plain": "通俗说明", "silent": "（通知未明文规定：系统的解释）",
           "yuan": "元/人·月", "from": "来源",
           "generated": "本手册由生命周期定义与政策文件自动生成，请勿手工修改。",
           "timer_text": "进入本状态即开始计时：{label}，{length}；届满时系统执行“{fires}”"},
    "en": {"policy": "Policy", "as_of": "As of", "standard": "Minimum living standard (L)",
           "overview": "Overview", "contents": "Contents", "meaning": "Meaning",
           "who": "Who may act", "move": "Move", "actor": "Who", "leads": "Leads to",
           "needs": "Requires", "payload": "Data", "timer": "Timer", "none": "none",
           "timed": " (a timer, by the system)", "example": "Example",
           "answer": "The engine answered", "no_example": "No example case acts in this state.",
           "glossary": "Glossary of rules", "rule": "Rule", "clause": "Clause",
           "notice": "The notice", "plain": "In plain words",
           "silent": "(the notice is silent: an interpretation)", "yuan": "yuan per person a month",
           "from": "source", "generated": "Generated from the lifecycle definition and the "
           "policy file: do not edit by hand.",
           "timer_text": "Entering this state starts a timer: {label}, {length}; when it runs "
                         "out the system fires \u201c{fires}\u201d"},
}

_CSS = """
@page { size: A4; margin: 14mm 13mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif;
  font-size: 10.5pt; line-height: 1.55; color: #222; margin: 0 auto; max-width: 190mm;
  padding: 8mm 4mm; }
h1 { font-size: 20pt; margin: 0 0 4pt; }
h2 { font-size: 15pt; border-bottom: 2px solid #9DBBDD; margin: 18pt 0 6pt; break-after: avoid; }
h3 { font-size: 12.5pt; margin: 14pt 0 4pt; break-after: avoid; }
h3 .en { font-weight: normal; color: #555; font-size: 10.5pt; margin-left: 6pt; }
.meta { color: #444; font-size: 9.5pt; }
.meta td { padding: 0 10pt 0 0; }
table.moves, table.glossary { border-collapse: collapse; width: 100%; font-size: 9pt; }
table.moves th, table.moves td, table.glossary th, table.glossary td {
  border: 1px solid #ccc; padding: 3pt 4pt; vertical-align: top; text-align: left; }
table.moves th, table.glossary th { background: #EAF2FB; }
table.moves { table-layout: fixed; }
table.moves th:nth-child(1) { width: 21%; } table.moves th:nth-child(2) { width: 13%; }
table.moves th:nth-child(3) { width: 14%; } table.moves th:nth-child(5) { width: 12%; }
table.moves code { word-break: break-all; }
tr { break-inside: avoid; }
.rule { margin: 0 0 3pt; }
.rule .id { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
.quote { color: #5a4a00; background: #FDF8E6; padding: 1pt 3pt; display: block; }
.timer { background: #EAF6EC; padding: 3pt 6pt; border-left: 3px solid #9CCBA5; }
.example pre { white-space: pre-wrap; word-break: break-all; background: #F4F4F4;
  padding: 4pt; font-size: 8pt; margin: 2pt 0; font-family: "DejaVu Sans Mono", monospace; }
svg.diagram { display: block; max-width: 100%; height: auto; margin: 6pt auto; }
.overview svg.diagram { max-height: 235mm; }
section.state svg.diagram { max-height: 120mm; }
section.state { break-before: page; }
section.phase > h2 { break-before: page; }
.footer { color: #777; font-size: 8.5pt; margin-top: 16pt; }
"""


def _e(text: str) -> str:
    return escape(text, quote=True)


def _rule(rule: RuleText, words: dict[str, str]) -> str:
    said = (f'<span class="quote">“{_e(rule.quote)}”</span>' if rule.quote
            else f'<span class="quote">{_e(words["silent"])}</span>')
    return (f'<div class="rule"><b>{_e(rule.short)}</b> <span class="id">{_e(rule.rule_id)}'
            f'</span> {_e(rule.clause)}：{_e(rule.plain)}<br>{said}</div>')


def _move(move: Move, words: dict[str, str], lang: str) -> str:
    label = move.label_zh if lang == "zh" else move.label_en
    other = move.label_en if lang == "zh" else move.label_zh
    timed = words["timed"] if move.timed else ""
    needs = "".join(_rule(r, words) for r in move.rules) or _e(words["none"])
    payload = ", ".join(move.payload) or words["none"]
    return (f'<tr data-trigger="{_e(move.trigger)}"><td><b>{_e(label)}</b><br>'
            f'<span class="meta">{_e(other)} · <code>{_e(move.trigger)}</code></span></td>'
            f"<td>{_e(move.who)}{_e(timed)}</td><td>{_e('；'.join(move.leads_to))}</td>"
            f"<td>{needs}</td><td><code>{_e(payload)}</code></td></tr>")


def _state(state: StateSection, words: dict[str, str], lang: str) -> str:
    name, other = (state.zh, state.en) if lang == "zh" else (state.en, state.zh)
    parts = [f'<section class="state" id="state-{_e(state.name)}" data-state="{_e(state.name)}">',
             f'<h3>{_e(name)}<span class="en">{_e(other)} · <code>{_e(state.name)}</code>'
             "</span></h3>",
             f"<p><b>{_e(words['meaning'])}</b>：{_e(state.meaning)}</p>", state.svg]
    if state.timer is not None:
        text = words["timer_text"].format(label=state.timer.label, length=state.timer.length,
                                          fires=state.timer.fires)
        parts.append(f'<p class="timer">{_e(text)}<br>{_rule(state.timer.rule, words)}</p>')
    if state.moves:
        head = "".join(f"<th>{_e(words[k])}</th>"
                       for k in ("move", "actor", "leads", "needs", "payload"))
        rows = "".join(_move(m, words, lang) for m in state.moves)
        parts.append(f'<p><b>{_e(words["who"])}</b></p><table class="moves"><tr>{head}</tr>'
                     f"{rows}</table>")
    parts.append(f'<h4>{_e(words["example"])}</h4>')
    if not state.examples:
        parts.append(f"<p class=\"meta\">{_e(words['no_example'])}</p>")
    for example in state.examples:
        parts.append(f'<div class="example"><div class="meta">{_e(example.source)} · '
                     f"line {example.line_no}</div><pre>{_e(example.line)}</pre>"
                     f"<div><b>{_e(words['answer'])}</b>：{_e(example.answer)}</div></div>")
    parts.append("</section>")
    return "\n".join(parts)


def handbook_html(book: Handbook) -> str:
    """The whole page."""
    words = _WORDS[book.lang]
    toc = "".join(
        f"<li>{_e(p.label)}：" + "、".join(
            f'<a href="#state-{_e(s.name)}">{_e(s.zh if book.lang == "zh" else s.en)}</a>'
            for s in p.states) + "</li>" for p in book.phases)
    phases = "\n".join(
        f'<section class="phase" id="phase-{_e(p.phase)}"><h2>{_e(p.label)}</h2>\n'
        + "\n".join(_state(s, words, book.lang) for s in p.states) + "</section>"
        for p in book.phases)
    glossary_rows = "".join(
        f'<tr id="rule-{_e(r.rule_id)}"><td><span class="id">{_e(r.rule_id)}</span><br>'
        f"<b>{_e(r.short)}</b></td><td>{_e(r.clause)}</td><td>{_e(r.title)}</td>"
        f"<td>{_e(r.quote) if r.quote else _e(words['silent'])}</td><td>{_e(r.plain)}</td></tr>"
        for r in book.glossary)
    glossary_head = "".join(f"<th>{_e(words[k])}</th>"
                            for k in ("rule", "clause", "meaning", "notice", "plain"))
    standard = f"{book.living_standard} {words['yuan']}（{words['from']}：" \
               f"{book.living_standard_source}）"
    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if book.lang == 'zh' else 'en'}">
<head><meta charset="utf-8"><title>{_e(book.title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(book.title)}</h1>
<table class="meta">
<tr><td>{_e(words['policy'])}</td><td>{_e(book.policy_id)} · {_e(book.policy_title)}</td></tr>
<tr><td>{_e(words['as_of'])}</td><td>{book.as_of.isoformat()}</td></tr>
<tr><td>{_e(words['standard'])}</td><td>{_e(standard)}</td></tr>
</table>
<section class="overview" id="overview"><h2>{_e(words['overview'])}</h2>
{book.overview_svg}
<h3>{_e(words['contents'])}</h3><ul>{toc}<li><a href="#glossary">{_e(words['glossary'])}</a>
</li></ul></section>
{phases}
<section class="glossary" id="glossary"><h2>{_e(words['glossary'])}</h2>
<table class="glossary"><tr>{glossary_head}</tr>{glossary_rows}</table></section>
<p class="footer">{_e(words['generated'])}</p>
</body></html>
"""
