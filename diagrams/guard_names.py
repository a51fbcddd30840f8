"""Short names of the rule ids for diagrams and the handbook: ``收入≤2L`` beside ``R-DEEP-INCOME``.

The rule ids and their clauses are the policy package's (policies/rules.py); what is added here
is only a name short enough to sit on an edge. Figures in a name (the multiples of L, the
months, the years) are read from the policy passed in, so a changed policy changes the name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jiekun.diagrams.model import Lang
from jiekun.policies.policy_file import Policy
from jiekun.policies.rules import RULES


def _n(value: object) -> str:
    """A multiplier or a count as a person writes it: 2, not 2.0 or Decimal('2')."""
    text = str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class GuardName:
    """One rule id as a diagram shows it, and what its legend row says."""

    rule_id: str
    short: str  # e.g. 收入≤2L
    clause: str  # §1.2 …, the clause of the notice the rule implements
    title: str  # the rule's title in the catalogue (policies/rules.py)

    @property
    def tag(self) -> str:
        """``收入≤2L R-DEEP-INCOME``: what an edge carries."""
        return f"{self.short} {self.rule_id}"


Namer = Callable[[Policy], tuple[str, str]]

_NAMES: Mapping[str, Namer] = {
    "R-DEEP-INCOME": lambda p: (f"收入≤{_n(p.multipliers.deep_income)}L",
                                f"income≤{_n(p.multipliers.deep_income)}L"),
    "R-DEEP-NET": lambda p: (f"纯收入<{_n(p.multipliers.deep_net)}L",
                             f"net<{_n(p.multipliers.deep_net)}L"),
    "R-REL-INCOME": lambda p: (f"收入≤{_n(p.multipliers.relative_income)}L",
                               f"income≤{_n(p.multipliers.relative_income)}L"),
    "R-REL-NET": lambda p: (f"纯收入≤{_n(p.multipliers.relative_net)}L",
                            f"net≤{_n(p.multipliers.relative_net)}L"),
    "R-ACC-EVENT": lambda p: ("意外事件", "accident"),
    "R-ACC-INCOME": lambda p: (f"收入≤{_n(p.multipliers.accident_income)}L",
                               f"income≤{_n(p.multipliers.accident_income)}L"),
    "R-ACC-NET": lambda p: (f"纯收入<{_n(p.multipliers.accident_net)}L",
                            f"net<{_n(p.multipliers.accident_net)}L"),
    "R-ELIGIBLE": lambda p: ("符合认定标准", "qualifies"),
    "R-ONE-OPEN-CASE": lambda p: ("仅一件未结", "one open case"),
    "R-NONEXCL": lambda p: ("不排除非会员", "no exclusion"),
    "R-PUBLICITY-ELAPSED": lambda p: ("公示期满", "publicity over"),
    "R-RECHECK-CADENCE": lambda p: (
        f"核查{p.durations.recheck_months_deep}/{p.durations.recheck_months_relative}月",
        f"re-check {p.durations.recheck_months_deep}/{p.durations.recheck_months_relative} mo"),
    "R-NO-ARBITRARY-CUT": lambda p: ("不随意降档", "no arbitrary cut"),
    "R-RETENTION": lambda p: (f"保管{p.durations.retention_years}年",
                              f"kept {p.durations.retention_years} y"),
    "R-OUT-OF-HARDSHIP": lambda p: ("已脱困", "out of hardship"),
    "R-PHASEOUT-MAX": lambda p: (f"渐退≤{p.durations.phase_out_max_months}月",
                                 f"phase-out≤{p.durations.phase_out_max_months} mo"),
    "R-PHASEOUT-ELAPSED": lambda p: ("渐退期满", "phase-out over"),
    "R-EXIT-CONFIRM": lambda p: ("本人+工会确认", "worker+union confirm"),
    "R-EXIT-REFUSAL": lambda p: ("县级+基层核实", "county+union verify"),
    "R-CANCEL": lambda p: ("注销情形", "cancel reason"),
    "R-REENTRY": lambda p: ("返困即入", "re-entry"),
    "R-AID-STATE": lambda p: ("建档或渐退期", "archived/phase-out"),
    "R-AID-TIER": lambda p: ("按档发放", "within tier"),
    "R-MEDICAL-CAP": lambda p: ("医疗≤自付", "medical≤self-paid"),
    "E-OBJECTION": lambda p: ("无未决异议", "no open objection"),
}


def guard_name(rule_id: str, policy: Policy, lang: Lang = "zh") -> GuardName:
    """The short name of ``rule_id`` under ``policy``; KeyError names an unknown id."""
    if rule_id not in RULES or rule_id not in _NAMES:
        raise KeyError(f"no short name for rule id {rule_id!r}")
    rule = RULES[rule_id]
    zh, en = _NAMES[rule_id](policy)
    return GuardName(rule_id, zh if lang == "zh" else en, rule.citation,
                     rule.title_zh if lang == "zh" else rule.title_en)


def guard_names(policy: Policy, lang: Lang = "zh") -> dict[str, GuardName]:
    """Every rule id of the catalogue with its short name, in the catalogue's order."""
    return {rule_id: guard_name(rule_id, policy, lang) for rule_id in RULES}
