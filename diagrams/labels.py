"""The words a diagram needs that the lifecycle definition does not carry: phase and branch
names (the actors' are the lifecycle's own), timer lengths, titles and legend text, in Chinese
and English.

Kept apart from ``extract`` so the vocabulary can be reviewed (and corrected by a trainer) in
one place, and so ``extract`` stays about structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jiekun.diagrams.model import LANGS, Lang, LegendSample
from jiekun.states import (
    ActorRule,
    Branch,
    Label,
    LengthUnit,
    Phase,
    Role,
    Scope,
    TimerDef,
    TimerKind,
)
from jiekun.states.lifecycle import ROLE_LABELS as LIFECYCLE_ROLE_LABELS

PHASE_LABELS: Mapping[Phase, Label] = {
    Phase.APPLICATION: Label("申报审核", "Application and review"),
    Phase.ARCHIVE: Label("建档管理", "Archive"),
    Phase.EXIT: Label("退出", "Exit"),
    Phase.CLOSED: Label("关闭", "Closed"),
}

ROLE_LABELS: Mapping[Role, Label] = LIFECYCLE_ROLE_LABELS  # one definition, in states/

# states/LIFECYCLE.md: where "county level or above" applies, wuxi-city may act as well.
COUNTY_OR_ABOVE_FEDERATION = Label("县级以上总工会", "county-level or higher federation")

BRANCH_LABELS: Mapping[Branch, Label] = {
    Branch.CAME_FROM_PHASE_OUT: Label("自渐退期返困", "came from phase-out"),
    Branch.CAME_FROM_EXITED: Label("自已退档返困", "came from exited"),
    Branch.CONFIRMATIONS_COMPLETE: Label("双方均已确认", "both have confirmed"),
    Branch.CONFIRMATIONS_INCOMPLETE: Label("尚待另一方确认", "awaiting the other party"),
    Branch.VERIFICATIONS_COMPLETE: Label("总工会与基层工会均已核实", "both have verified"),
    Branch.VERIFICATIONS_INCOMPLETE: Label("尚待另一方核实", "awaiting the other verifier"),
}

LIFECYCLE_TITLE = Label("无锡市困难职工帮扶案件生命周期",
                        "Case lifecycle of hardship-worker households (Wuxi trade unions)")
PATH_TITLE = Label("案件路径", "Case path")
LEGEND_TITLE = Label("图例", "Legend")

LEGEND_LABELS: Mapping[LegendSample, Label] = {
    LegendSample.ACTION_EDGE: Label("实线：由人操作（职工、工会）", "solid: an action by a person"),
    LegendSample.TIMER_EDGE: Label("虚线：期限届满，系统自动触发",
                                   "dashed: a timer runs out (system)"),
    LegendSample.TAKEN_EDGE: Label("粗线：本案经过的步骤（序号 日期）",
                                   "bold: steps this case took (number, date)"),
    LegendSample.FADED_EDGE: Label("浅色：本案未经过", "faint: not taken by this case"),
    LegendSample.CURRENT_STATE: Label("当前状态", "current state"),
    LegendSample.FADED_STATE: Label("灰色：本案未到达的状态", "grey: never reached by this case"),
}

#: Defaults for ``lengths``; the keys are those of ``[durations]`` in the policy file, so a
#: caller can pass ``policy.durations.model_dump()`` as it is.
DEFAULT_LENGTHS: Mapping[str, int] = {
    "unit_publicity_working_days": 5,
    "media_publicity_working_days": 5,
    "exit_publicity_working_days": 5,
    "recheck_months_deep": 12,
    "recheck_months_relative": 6,
    "recheck_months_accident": 6,
    "phase_out_max_months": 6,
    "retention_years": 10,
    "retention_years_rejected_withdrawn": 10,
}

# rejected and withdrawn applications may be kept for a different period than closed archives
# (policy file, [assumptions]); their retention edges show their own length.
_RETENTION_SHORT_STATES = frozenset({"rejected", "withdrawn"})


def check_lang(lang: str) -> Lang:
    for known in LANGS:
        if lang == known:
            return known
    raise ValueError(f"unknown diagram language {lang!r}: use one of {', '.join(LANGS)}")


def pick(label: Label, lang: Lang) -> str:
    return label.zh if lang == "zh" else label.en


def actor_label(rules: Iterable[ActorRule], source: str | None, lang: Lang) -> str:
    """Who may fire a trigger from ``source``: rules limited to other states are left out."""
    names: list[str] = []
    for rule in rules:
        if rule.in_states is not None and source not in rule.in_states:
            continue
        name = pick(COUNTY_OR_ABOVE_FEDERATION if rule.scope is Scope.COUNTY_OR_ABOVE
                    else ROLE_LABELS[rule.role], lang)
        if name not in names:
            names.append(name)
    return ("、" if lang == "zh" else ", ").join(names)


def resolve_lengths(lengths: Mapping[str, int] | None) -> dict[str, int]:
    """The defaults overridden by ``lengths``; an unknown key or a length below 1 is an error,
    since a misspelt key would otherwise silently print the default."""
    given = dict(lengths or {})
    unknown = sorted(set(given) - set(DEFAULT_LENGTHS))
    if unknown:
        raise ValueError(f"unknown timer lengths {unknown}: known are {sorted(DEFAULT_LENGTHS)}")
    bad = sorted(k for k, v in given.items() if not isinstance(v, int) or v < 1)
    if bad:
        raise ValueError(f"timer lengths must be integers of at least 1: {bad}")
    return {**DEFAULT_LENGTHS, **given}


def length_label(timer: TimerDef, source: str, lengths: Mapping[str, int], lang: Lang) -> str:
    """The length of ``timer`` as armed in ``source``, e.g. "5个工作日", "12/6个月", "≤6个月"."""
    if timer.kind is TimerKind.RECHECK:
        # deep hardship is re-checked yearly, relative and accident half-yearly (§1.3)
        months = (lengths["recheck_months_deep"], lengths["recheck_months_relative"],
                  lengths["recheck_months_accident"])
        amount = "/".join(str(m) for m in dict.fromkeys(months))
        return _with_unit(amount, max(months), timer.unit, lang)
    if timer.kind is TimerKind.PHASE_OUT:
        limit = lengths["phase_out_max_months"]
        return "≤" + _with_unit(str(limit), limit, timer.unit, lang)
    key = timer.parameter
    if timer.kind is TimerKind.RETENTION and source in _RETENTION_SHORT_STATES:
        key = "retention_years_rejected_withdrawn"
    if key not in lengths:
        raise ValueError(f"no length known for timer {timer.kind} (parameter {key!r})")
    value = lengths[key]
    return _with_unit(str(value), value, timer.unit, lang)


_UNITS: Mapping[LengthUnit, tuple[str, str, str]] = {
    # zh, en singular, en plural
    LengthUnit.WORKING_DAYS: ("个工作日", "working day", "working days"),
    LengthUnit.MONTHS: ("个月", "month", "months"),
    LengthUnit.YEARS: ("年", "year", "years"),
}


def _with_unit(amount: str, largest: int, unit: LengthUnit, lang: Lang) -> str:
    zh, singular, plural = _UNITS[unit]
    if lang == "zh":
        return f"{amount}{zh}"
    return f"{amount} {singular if largest == 1 else plural}"
