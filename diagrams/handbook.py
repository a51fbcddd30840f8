"""The handbook's content, generated from the definition (states/) and the policy in force:
per phase and state, its names, who may act there with which trigger, what each move requires
(rule id, the notice's sentence, the rule in plain words with the policy's figures), which
timer runs and for how long, a small picture, worked examples; and a glossary of every rule.

Nothing here repeats by hand what states/ or the policy says: names, actors, routes, guards,
timers and figures are read from them. The plain words of each rule are written here once,
with every figure a placeholder the policy fills (``现行 1167 元 × 2``). ``handbook_html``
turns the content into a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from jiekun.diagrams.extract import lifecycle_diagram
from jiekun.diagrams.guard_names import GuardName, guard_name
from jiekun.diagrams.labels import (
    BRANCH_LABELS,
    PHASE_LABELS,
    actor_label,
    check_lang,
    length_label,
    pick,
)
from jiekun.diagrams.model import Diagram, Lang
from jiekun.diagrams.notice import quote
from jiekun.diagrams.page_plan import OVERVIEW, plan_pages
from jiekun.diagrams.page_render import PAGES, lay_out
from jiekun.diagrams.views import focus_view
from jiekun.policies.policy_file import Policy
from jiekun.policies.rules import RULES
from jiekun.states import Lifecycle, Phase, StateDef, TriggerDef


@dataclass(frozen=True)
class RuleText:
    """One rule as the handbook explains it."""

    rule_id: str
    short: str  # 收入≤2L
    clause: str  # §1.2
    title: str  # the catalogue's title (policies/rules.py)
    quote: str | None  # the notice's sentence; None where the notice is silent
    plain: str  # the rule in plain words, with the policy's figures


@dataclass(frozen=True)
class Move:
    """A trigger that may be fired in a state, and where each of its routes leads."""

    trigger: str
    label_zh: str
    label_en: str
    who: str
    leads_to: tuple[str, ...]  # "单位（社区）公示", or "（原状态）" for an internal route
    rules: tuple[RuleText, ...]
    payload: tuple[str, ...]
    timed: bool


@dataclass(frozen=True)
class TimerText:
    label: str
    length: str
    fires: str
    rule: RuleText


@dataclass(frozen=True)
class Example:
    """A real history line and what the engine answered to it (from the shipped examples)."""

    state: str  # the state the case was in when the line was decided
    source: str  # file name
    line_no: int
    line: str
    answer: str


@dataclass(frozen=True)
class StateSection:
    name: str
    zh: str
    en: str
    meaning: str
    moves: tuple[Move, ...]
    timer: TimerText | None
    examples: tuple[Example, ...]
    svg: str


@dataclass(frozen=True)
class PhaseSection:
    phase: str
    label: str
    states: tuple[StateSection, ...]


@dataclass(frozen=True)
class Handbook:
    lang: Lang
    title: str
    policy_id: str
    policy_title: str
    as_of: date
    living_standard: Decimal
    living_standard_source: str
    overview_svg: str
    phases: tuple[PhaseSection, ...]
    glossary: tuple[RuleText, ...]


def _n(value: Decimal | int) -> str:
    text = str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _times(policy: Policy, as_of: date, multiplier: Decimal, lang: Lang) -> str:
    """``现行 1167 元 × 2 = 2334 元``."""
    standard = policy.living_standard_on(as_of).amount
    product = _n(standard * multiplier)
    if lang == "zh":
        return f"现行 {_n(standard)} 元 × {_n(multiplier)} = {product} 元/人·月"
    return f"now {_n(standard)} yuan × {_n(multiplier)} = {product} yuan per person a month"


Words = Callable[[Policy, date], tuple[str, str]]


def _income(kind_zh: str, kind_en: str, field: str, strict: bool) -> Words:
    def words(policy: Policy, as_of: date) -> tuple[str, str]:
        m = getattr(policy.multipliers, field)
        net = field.endswith("_net")
        what_zh = "扣减后家庭人均纯收入" if net else "家庭人均收入"
        what_en = "per-capita net income" if net else "per-capita income"
        cmp_zh, cmp_en = ("低于", "below") if strict else ("不超过", "at most")
        return (f"{kind_zh}：{what_zh}{cmp_zh}最低生活保障标准 {_n(m)} 倍："
                f"{_times(policy, as_of, m, 'zh')}",
                f"{kind_en}: {what_en} {cmp_en} {_n(m)} × the minimum living standard: "
                f"{_times(policy, as_of, m, 'en')}")
    return words


def _fixed(zh: str, en: str) -> Words:
    return lambda _policy, _as_of: (zh, en)


def _eligible(policy: Policy, as_of: date) -> tuple[str, str]:
    m = policy.multipliers
    parts_zh, parts_en = [], []
    for name_zh, name_en, income, net, strict in (
            ("深度困难", "deep", m.deep_income, m.deep_net, True),
            ("相对困难", "relative", m.relative_income, m.relative_net, False),
            ("意外致困", "accident", m.accident_income, m.accident_net, True)):
        parts_zh.append(f"{name_zh}（收入≤{_n(income)}L，纯收入{'<' if strict else '≤'}"
                        f"{_n(net)}L）")
        parts_en.append(f"{name_en} (income ≤ {_n(income)}L, net {'<' if strict else '≤'} "
                        f"{_n(net)}L)")
    standard = _n(policy.living_standard_on(as_of).amount)
    return ("按序认定，符合其一即可：" + "、".join(parts_zh) + f"；现行 L = {standard} 元/人·月",
            "the first that holds, in this order: " + ", ".join(parts_en)
            + f"; L now {standard} yuan per person a month")


def _publicity(policy: Policy, _as_of: date) -> tuple[str, str]:
    d = policy.durations
    days = (d.unit_publicity_working_days, d.media_publicity_working_days,
            d.exit_publicity_working_days)
    return (f"单位公示 {days[0]} 个、媒体公示 {days[1]} 个、退出公示 {days[2]} 个工作日已满"
            "（开始当日不计）",
            f"the unit, media and exit publicity have run {days[0]}, {days[1]} and {days[2]} "
            "working days (the starting day not counted)")


def _recheck(policy: Policy, _as_of: date) -> tuple[str, str]:
    d = policy.durations
    return (f"深度困难每 {d.recheck_months_deep} 个月、相对困难每 {d.recheck_months_relative}"
            f" 个月、意外致困每 {d.recheck_months_accident} 个月核查一次",
            f"deep cases every {d.recheck_months_deep} months, relative every "
            f"{d.recheck_months_relative}, accident every {d.recheck_months_accident}")


def _retention(policy: Policy, _as_of: date) -> tuple[str, str]:
    d = policy.durations
    return (f"撤档（退档、注销）后保管 {d.retention_years} 年；不予认定、撤回的申请保管 "
            f"{d.retention_years_rejected_withdrawn} 年；期满销毁个人信息",
            f"kept {d.retention_years} years after the archive closes; rejected and withdrawn "
            f"applications {d.retention_years_rejected_withdrawn} years; then the personal "
            "data is destroyed")


def _phase_out_max(policy: Policy, _as_of: date) -> tuple[str, str]:
    months = policy.durations.phase_out_max_months
    return (f"渐退期不超过 {months} 个月（决定时可定得更短），期间联系人跟踪",
            f"the phase-out lasts at most {months} months (the decision may set fewer); a "
            "contact person follows the household")


def _exit_refusal(policy: Policy, _as_of: date) -> tuple[str, str]:
    days = policy.durations.exit_publicity_working_days
    return (f"县级以上总工会与所在单位或社区工会各核实一次，再退出公示 {days} 个工作日",
            f"one verification each by a county-level federation and the unit or community "
            f"union, then {days} working days of exit publicity")


def _aid_tier(policy: Policy, _as_of: date) -> tuple[str, str]:
    tables = policy.aid.tables
    illustrative = sum(1 for t in tables if t.illustrative)
    note_zh = f"（其中 {illustrative} 张为示例数据，非官方标准）" if illustrative else ""
    note_en = f" ({illustrative} of them illustrative, not official)" if illustrative else ""
    return (f"金额须落在该项目、类别（医疗救助：审核单位）分档表的所选档次内；现行政策有 "
            f"{len(tables)} 张分档表{note_zh}",
            f"the amount lies in the chosen tier of the table for the item and category "
            f"(medical: the reviewing body); the policy has {len(tables)} tables{note_en}")


PLAIN: Mapping[str, Words] = {
    "R-DEEP-INCOME": _income("深度困难", "deep", "deep_income", False),
    "R-DEEP-NET": _income("深度困难", "deep", "deep_net", True),
    "R-REL-INCOME": _income("相对困难", "relative", "relative_income", False),
    "R-REL-NET": _income("相对困难", "relative", "relative_net", False),
    "R-ACC-EVENT": _fixed("意外致困：申报时已发生突发事件、意外伤害或重大疾病",
                          "accident: a sudden event, injury or major illness has happened"),
    "R-ACC-INCOME": _income("意外致困", "accident", "accident_income", False),
    "R-ACC-NET": _income("意外致困", "accident", "accident_net", True),
    "R-ELIGIBLE": _eligible,
    "R-ONE-OPEN-CASE": _fixed("同一申请人（按身份证号）只能有一件未结案件"
                              "（通知未明文规定，系统的解释）",
                              "one case that is not closed per applicant (by id number; an "
                              "interpretation: the notice is silent)"),
    "R-NONEXCL": _fixed("不审查是否工会会员、是否下岗或农民工",
                        "membership and employment are never examined"),
    "R-PUBLICITY-ELAPSED": _publicity,
    "R-RECHECK-CADENCE": _recheck,
    "R-NO-ARBITRARY-CUT": _fixed("上次核查类别未变的，同一帮扶项目不得低于上次的档次",
                                 "while the category is unchanged at the last re-check, an "
                                 "item's tier is not lowered"),
    "R-RETENTION": _retention,
    "R-OUT-OF-HARDSHIP": _fixed("核查时不再符合任何类别（已脱困）",
                                "the re-check finds no category (out of hardship)"),
    "R-PHASEOUT-MAX": _phase_out_max,
    "R-PHASEOUT-ELAPSED": _fixed("决定的渐退月数已满（按日历月计）",
                                 "the months decided have elapsed (calendar months)"),
    "R-EXIT-CONFIRM": _fixed("职工本人和基层工会各确认一次；本人确认后不能再拒绝",
                             "one confirmation each by the worker and the grassroots union; "
                             "the worker cannot refuse after confirming"),
    "R-EXIT-REFUSAL": _exit_refusal,
    "R-CANCEL": _fixed("虚假信息、死亡、迁出辖区或其他写明的理由",
                       "false information, death, moving away, or another stated reason"),
    "R-REENTRY": _fixed("渐退期内返困：评估后回到建档；已退档后返困：重新审核",
                        "from phase-out: back to the archive after assessment; from exit: "
                        "reviewed again"),
    "R-AID-STATE": _fixed("仅已建档和渐退期的案件可发放帮扶",
                          "aid only to archived and phase-out cases"),
    "R-AID-TIER": _aid_tier,
    "R-MEDICAL-CAP": _fixed("一年内医疗救助合计不超过当年申报的家庭自付医疗费用总额",
                            "medical aid in a year at most the household's declared "
                            "self-paid medical total for that year"),
    "E-OBJECTION": _fixed("公示期满时不得有未处理的异议；处理异议须针对尚未处理的异议",
                          "no objection may be open when a publicity ends; a decision "
                          "names an open objection"),
}

_TITLE = {"zh": "困难职工帮扶案件办理手册", "en": "Handbook of hardship-worker cases"}
_SAME = {"zh": "（原状态）", "en": "(stays)"}


def rule_text(rule_id: str, policy: Policy, as_of: date, lang: Lang) -> RuleText:
    """``rule_id`` explained: its short name, clause, title, the notice's sentence and the
    rule in plain words with the figures of ``policy`` on ``as_of``."""
    name = guard_name(rule_id, policy, lang)
    zh, en = PLAIN[rule_id](policy, as_of)
    return RuleText(rule_id, name.short, RULES[rule_id].citation, name.title, quote(rule_id),
                    zh if lang == "zh" else en)


def build_handbook(lifecycle: Lifecycle, policy: Policy, as_of: date, lang: str = "zh",
                   examples: Sequence[Example] = ()) -> Handbook:
    """The handbook under ``policy`` on ``as_of`` (its living standard must be known then:
    PolicyNotInForce otherwise)."""
    language = check_lang(lang)
    standard = policy.living_standard_on(as_of)
    lengths = policy.durations.model_dump()
    whole = lifecycle_diagram(lifecycle, language, True, lengths)
    names = {rule_id: guard_name(rule_id, policy, language) for rule_id in RULES}
    overview_page = plan_pages(whole, lifecycle, PAGES["a3"], names, OVERVIEW)[0]
    phases = []
    for phase in Phase:
        states = tuple(_state(lifecycle, s, policy, as_of, language, whole, names, examples)
                       for s in lifecycle.states if s.phase is phase)
        phases.append(PhaseSection(phase.value, pick(PHASE_LABELS[phase], language), states))
    glossary = tuple(rule_text(r, policy, as_of, language) for r in RULES)
    return Handbook(language, _TITLE[language], policy.id, policy.title, as_of,
                    standard.amount, standard.source,
                    _svg(overview_page.laid.graph.pipe(format="svg")), tuple(phases), glossary)


def _state(lifecycle: Lifecycle, state: StateDef, policy: Policy, as_of: date, lang: Lang,
           whole: Diagram, names: Mapping[str, GuardName], examples: Sequence[Example]
           ) -> StateSection:
    moves = tuple(_move(lifecycle, lifecycle.trigger(t), state.name, policy, as_of, lang)
                  for t in lifecycle.triggers_from(state.name))
    timer_def = lifecycle.timer_for_state(state.name)
    timer = None
    if timer_def is not None:
        fires = lifecycle.trigger(timer_def.fires)
        timer = TimerText(pick(timer_def.label, lang),
                          length_label(timer_def, state.name, policy.durations.model_dump(),
                                       lang),
                          pick(fires.label, lang),
                          rule_text(timer_def.guard, policy, as_of, lang))
    view = focus_view(whole, [state.name], pick(state.label, lang))
    laid = lay_out(view, PAGES["a4"], names)
    return StateSection(state.name, state.label.zh, state.label.en,
                        _meaning(lifecycle, state, lang), moves, timer,
                        tuple(e for e in examples if e.state == state.name),
                        _svg(laid.graph.pipe(format="svg")))


def _move(lifecycle: Lifecycle, trigger: TriggerDef, source: str, policy: Policy,
          as_of: date, lang: Lang) -> Move:
    routes = [r for r in trigger.routes if r.source == source]
    leads = []
    for route in routes:
        where = (_SAME[lang] if route.dest is None
                 else pick(lifecycle.state(route.dest).label, lang))
        if route.branch is not None:
            where += f"（{pick(BRANCH_LABELS[route.branch], lang)}）"
        leads.append(where)
    guards = list(dict.fromkeys(g for r in routes for g in r.guards))
    cited = [c for c in trigger.cites if c not in guards]
    rules = tuple(rule_text(g, policy, as_of, lang) for g in (*guards, *cited))
    payload = tuple(f.name + ("" if f.required else "?") for f in trigger.payload)
    return Move(trigger.name, trigger.label.zh, trigger.label.en,
                actor_label(trigger.actors, source, lang), tuple(leads), rules, payload,
                trigger.timed)


def _meaning(lifecycle: Lifecycle, state: StateDef, lang: Lang) -> str:
    """What the definition says of the state: its phase, how a case gets there and whether
    it counts as closed."""
    entered = [t.label for t in lifecycle.triggers
               if any(r.dest == state.name and r.source != state.name for r in t.routes)]
    ins = "、" if lang == "zh" else ", "
    parts = [pick(PHASE_LABELS[state.phase], lang)]
    if state.initial:
        parts.append("案件从此开始" if lang == "zh" else "where a case starts")
    if state.final:
        parts.append("终态" if lang == "zh" else "final")
    elif state.closed:
        parts.append("已结案（不计入“仅一件未结”）" if lang == "zh"
                     else "closed (does not count as an open case)")
    via = ins.join(dict.fromkeys(pick(label, lang) for label in entered))
    parts.append(f"经由：{via}" if lang == "zh" else f"reached by: {via}")
    return "；".join(parts) if lang == "zh" else "; ".join(parts)


def _svg(data: bytes) -> str:
    """graphviz's SVG for inlining: no XML prolog, and as wide as the page allows."""
    text = data.decode("utf-8")
    text = text[text.index("<svg"):]
    return re.sub(r'<svg width="[\d.]+pt" height="[\d.]+pt"',
                  '<svg class="diagram" preserveAspectRatio="xMidYMin meet"', text, count=1)
