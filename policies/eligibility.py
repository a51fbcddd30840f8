"""Eligibility (policies/RULES.md §1.2): the three categories against the minimum living standard L.

Comparisons are exact and multiplied out (I ≤ 2L is Y ≤ 2·L·12·n, all in Decimal); figures are
rounded half away from zero for display only. The first category that qualifies, in the order
deep → relative → accident, is assigned. Membership and employment are never read (R-NONEXCL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from jiekun.policies.application import CATEGORIES, Application
from jiekun.policies.memo import BoundedCache
from jiekun.policies.money import display, yuan
from jiekun.policies.policy_file import LivingStandard, Multipliers, Policy
from jiekun.policies.results import RuleResult
from jiekun.policies.routing import BODY_NAMES, reviewing_body
from jiekun.policies.rules import rule

_ZH_CATEGORY = {"deep": "深度困难", "relative": "相对困难", "accident": "意外致困"}


@dataclass(frozen=True, init=False)
class Figures:
    members: int
    income: Decimal  # Y
    rigid: Decimal  # E
    accident_cost: Decimal | None  # A, None without an accident
    standard: Decimal  # L

    def __init__(self, members: int, income: Decimal, rigid: Decimal,
                 accident_cost: Decimal | None, standard: Decimal) -> None:
        # filled at once (one per assessment), with L·12·n that every limit multiplies
        self.__dict__.update(members=members, income=income, rigid=rigid,
                             accident_cost=accident_cost, standard=standard,
                             _window=standard * 12 * members)

    def monthly(self, total: Decimal) -> str:
        """The per-capita monthly figure of a yearly household total, as displayed."""
        return display(total, 12 * self.members)

    def months_of(self, multiple: Decimal) -> Decimal:
        """multiple × L over the window, for the whole household: m·L·12·n (exact, so the
        same Decimal whichever product is taken first)."""
        window: Decimal = self.__dict__["_window"]
        return multiple * window


@dataclass(frozen=True)
class Assessment:
    on: date
    policy: str
    category: str | None
    qualifies: dict[str, bool]
    reviewing_body: str | None
    figures: Figures
    rules: tuple[RuleResult, ...]
    notes: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        after = None if f.accident_cost is None else f.monthly(f.income - f.accident_cost)
        body = self.reviewing_body
        return {
            "category": self.category,
            "qualifies": dict(self.qualifies),
            "reviewing_body": None if body is None else {"code": body, "name": BODY_NAMES[body]},
            "living_standard": display(f.standard),
            "per_capita_income": f.monthly(f.income),
            "per_capita_net_income": f.monthly(f.income - f.rigid),
            "per_capita_net_income_after_accident": after,
            "policy": self.policy,
            "rules": [r.as_json() for r in self.rules],
            "notes": list(self.notes),
        }


# The comparisons of §1.2: rule id → (the household's yearly total compared, the comparison,
# the multiple of L). Whether a household qualifies and how that is explained are both read
# from this one table (``verdict`` and ``assess`` must never disagree).
_COMPARISONS: dict[str, tuple[str, str, str]] = {
    "R-DEEP-INCOME": ("income", "≤", "deep_income"),
    "R-DEEP-NET": ("net", "<", "deep_net"),
    "R-REL-INCOME": ("income", "≤", "relative_income"),
    "R-REL-NET": ("net", "≤", "relative_net"),
    "R-ACC-INCOME": ("income", "≤", "accident_income"),
    "R-ACC-NET": ("after", "<", "accident_net"),
}
# The rules each category needs, all passed (R-ACC-EVENT: ``accident_happened``).
_CATEGORY_RULES: dict[str, tuple[str, ...]] = {
    "deep": ("R-DEEP-INCOME", "R-DEEP-NET"),
    "relative": ("R-REL-INCOME", "R-REL-NET"),
    "accident": ("R-ACC-EVENT", "R-ACC-INCOME", "R-ACC-NET"),
}


def _totals(f: Figures) -> dict[str, Decimal]:
    return {"income": f.income, "net": f.income - f.rigid,
            "after": f.income - (f.accident_cost or Decimal(0))}


def _passes(f: Figures, multipliers: Multipliers) -> dict[str, bool]:
    """Each comparison of ``_COMPARISONS`` (exact: multiplied out); R-ACC-NET fails without a
    declared accident."""
    totals = _totals(f)
    passes = {}
    for rule_id, (total, op, multiple) in _COMPARISONS.items():
        value, bound = totals[total], f.months_of(getattr(multipliers, multiple))
        passes[rule_id] = value <= bound if op == "≤" else value < bound
    passes["R-ACC-NET"] = passes["R-ACC-NET"] and f.accident_cost is not None
    return passes


def accident_happened(application: Application, on: date) -> bool:
    """R-ACC-EVENT: an accident is declared, and it happened by ``on``."""
    accident = application.accident
    return accident is not None and accident.occurred_on <= on


def qualifying(passes: Mapping[str, bool]) -> dict[str, bool]:
    """Category → whether every rule it needs passed (``passes``: rule id → outcome)."""
    outcome = passes.__getitem__
    return {c: all(map(outcome, _CATEGORY_RULES[c])) for c in CATEGORIES}


class Verdict(NamedTuple):
    """What an assessment concludes, without the rules that explain it."""

    category: str | None
    reviewing_body: str | None


# What one household's §1.2 comparisons conclude under one standard, keyed by the application
# (by identity), the policy (by its content hash) and the standard: the categories it
# qualifies for, in order, each with whether it also needs the accident to have happened by
# the day assessed (R-ACC-EVENT, the one rule that reads the day) and its reviewing body. A
# case's household is judged again at its approval and at each re-check. Bounded; an entry
# holds the application (~3 KB).
_Candidates = tuple[tuple[str, bool, str], ...]
VERDICT_CACHE: BoundedCache[tuple[Application, _Candidates]] = BoundedCache(4096)


_Held = TypeVar("_Held")
_Key = tuple[int, str, date, Decimal]


def _household_key(application: Application, policy: Policy,
                   standard: LivingStandard) -> _Key:
    """What a household's figures under a standard depend on: the application (by identity:
    it is frozen, an amendment is a new object, and a cache entry holds it so its id is not
    reused), the policy's content hash (its multipliers) and the standard in force."""
    return id(application), policy.content_hash, standard.effective_from, standard.amount


def _held(cache: BoundedCache[tuple[Application, _Held]], key: _Key,
          application: Application) -> _Held | None:
    cached = cache.get(key)
    return cached[1] if cached is not None and cached[0] is application else None


def _candidates(application: Application, policy: Policy,
                standard: LivingStandard) -> _Candidates:
    key = _household_key(application, policy, standard)
    held = _held(VERDICT_CACHE, key, application)
    if held is not None:
        return held
    passes = _passes(_figures(application, standard.amount), policy.multipliers)
    found = []
    for category in CATEGORIES:
        needed = _CATEGORY_RULES[category]
        if all(passes[r] for r in needed if r != "R-ACC-EVENT"):
            found.append((category, "R-ACC-EVENT" in needed,
                          reviewing_body(category, application)))
    VERDICT_CACHE.put(key, (application, tuple(found)))
    return tuple(found)


def verdict(application: Application, policy: Policy, on: date) -> Verdict:
    """What ``assess`` concludes (the category, the reviewing body) from the same
    comparisons, none of them explained: a handful of Decimal comparisons, against ~60 µs for
    the seven explained rules. The guards that read an assessment decide on this and explain
    only a refusal. PolicyNotInForce when L is not known on ``on``, as ``assess``."""
    for category, needs_accident, body in _candidates(
            application, policy, policy.living_standard_on(on)):
        if not needs_accident or accident_happened(application, on):
            return Verdict(category, body)
    return Verdict(None, None)


# The texts of a limit (multiple × L) that every household compared against it shows alike:
# (the multiple, the per-capita limit, L), keyed by the multiple and the standard.
LIMIT_TEXTS: BoundedCache[tuple[str, str, str]] = BoundedCache(256)


def limit_texts(multiple: Decimal, standard: Decimal) -> tuple[str, str, str]:
    key = (multiple, standard)
    found = LIMIT_TEXTS.get(key)
    if found is None:
        # the per-capita limit is multiple × L exactly (bound / 12n): a Decimal, no Fraction
        found = LIMIT_TEXTS.put(key, (f"{multiple.normalize():f}", yuan(multiple * standard),
                                      yuan(standard)))
    return found


def _compare(rule_id: str, label_zh: str, label_en: str, value: str, passed: bool,
             multiplier: Multipliers, figures: Figures) -> RuleResult:
    """The comparison ``rule_id`` of ``_COMPARISONS`` explained; ``value`` is the per-capita
    figure as displayed (computed once per assessment), ``passed`` its outcome (``_passes``)."""
    op, multiple = _COMPARISONS[rule_id][1], getattr(multiplier, _COMPARISONS[rule_id][2])
    m, limit, standard = limit_texts(multiple, figures.standard)
    shown = {"value": value, "limit": limit, "comparison": op, "multiple": m,
             "living_standard": standard}
    verdict_zh, verdict_en = ("符合", "passed") if passed else ("不符合", "failed")
    r = rule(rule_id)
    return RuleResult(
        rule_id, passed, r.citation,
        f"{label_zh} {value} 元 {op} {m} × {standard} = {limit} 元：{verdict_zh}（{r.title_zh}）",
        f"{label_en} {value} {op} {m} × {standard} = {limit} yuan: {verdict_en} ({r.title_en})",
        shown,
    )


def _accident_event(application: Application, on: date) -> RuleResult:
    accident = application.accident
    r = rule("R-ACC-EVENT")
    if accident is None:
        return RuleResult(r.id, False, r.citation, "未申报意外事件：不符合",
                          "no accident declared: failed", {"accident": "none"})
    happened = accident_happened(application, on)
    figures = {"occurred_on": accident.occurred_on.isoformat(), "assessed_on": on.isoformat()}
    if happened:
        return RuleResult(r.id, True, r.citation,
                          f"{accident.occurred_on} 发生意外事件（{accident.kind}）：符合",
                          f"{accident.kind} on {accident.occurred_on}: passed", figures)
    return RuleResult(r.id, False, r.citation,
                      f"意外事件日期 {accident.occurred_on} 晚于认定日期 {on}：不符合",
                      f"the accident of {accident.occurred_on} is after {on}: failed", figures)


def _figures(application: Application, standard: Decimal) -> Figures:
    household = application.household
    accident = application.accident
    cost = None
    if accident is not None:
        cost = max(Decimal(0), accident.necessary_expenses - accident.compensation_received)
    return Figures(
        members=len(household.members),
        income=sum([m.annual_income for m in household.members], Decimal(0)),
        rigid=sum([e.annual_amount for e in household.rigid_expenses], Decimal(0)),
        accident_cost=cost,
        standard=standard,
    )


# The figures and the §1.2 comparisons of one household under one standard, which do not
# depend on the day assessed (only R-ACC-EVENT does): (figures, deep, relative, R-ACC-INCOME,
# R-ACC-NET).
_Household = tuple[Figures, tuple[RuleResult, ...], tuple[RuleResult, ...], RuleResult,
                   RuleResult]

# Keyed by the application (by identity: it is frozen, an amendment is a new object, and the
# entry holds it so its id is not reused), the policy's content hash (its multipliers) and the
# standard in force; bounded so a long replay does not grow it (an entry holds ~12 KB: the
# application and seven explained comparisons).
HOUSEHOLD_CACHE: BoundedCache[tuple[Application, _Household]] = BoundedCache(2048)


def _household_rules(application: Application, policy: Policy,
                     standard: LivingStandard) -> _Household:
    key = _household_key(application, policy, standard)
    held = _held(HOUSEHOLD_CACHE, key, application)
    if held is not None:
        return held
    f = _figures(application, standard.amount)
    k = policy.multipliers
    passes = _passes(f, k)
    net = f.income - f.rigid
    per_income, per_net = f.monthly(f.income), f.monthly(net)
    income_zh, income_en = "家庭人均月收入", "per-capita monthly income"
    net_zh, net_en = "扣减刚性支出后人均月纯收入", "per-capita monthly net income"
    deep = (
        _compare("R-DEEP-INCOME", income_zh, income_en, per_income, passes["R-DEEP-INCOME"],
                 k, f),
        _compare("R-DEEP-NET", net_zh, net_en, per_net, passes["R-DEEP-NET"], k, f),
    )
    relative = (
        _compare("R-REL-INCOME", income_zh, income_en, per_income, passes["R-REL-INCOME"],
                 k, f),
        _compare("R-REL-NET", net_zh, net_en, per_net, passes["R-REL-NET"], k, f),
    )
    if f.accident_cost is None:
        r = rule("R-ACC-NET")
        acc_net = RuleResult(r.id, False, r.citation, "未申报意外事件：不符合",
                             "no accident declared: failed", {})
    else:
        acc_net = _compare("R-ACC-NET", "扣减意外必要支出后人均月纯收入",
                           "per-capita monthly net income after the accident",
                           f.monthly(_totals(f)["after"]), passes["R-ACC-NET"], k, f)
    acc_income = _compare("R-ACC-INCOME", income_zh, income_en, per_income,
                          passes["R-ACC-INCOME"], k, f)
    found = (f, deep, relative, acc_income, acc_net)
    HOUSEHOLD_CACHE.put(key, (application, found))
    return found


def category_rules(application: Application, policy: Policy, on: date) -> tuple[
        Figures, dict[str, tuple[RuleResult, ...]]]:
    """The figures and each category's §1.2 rules on ``on`` (PolicyNotInForce when L is not
    known for that date)."""
    f, deep, relative, acc_income, acc_net = _household_rules(
        application, policy, policy.living_standard_on(on))
    accident = (_accident_event(application, on), acc_income, acc_net)
    return f, {"deep": deep, "relative": relative, "accident": accident}


def assess(application: Application, policy: Policy, on: date) -> Assessment:
    """Assess the household on ``on``; PolicyNotInForce when L is not known for that date."""
    figures, by_category = category_rules(application, policy, on)
    rules = tuple(r for c in CATEGORIES for r in by_category[c])
    qualifies = qualifying({r.id: r.passed for r in rules})
    category = next((c for c in CATEGORIES if qualifies[c]), None)
    notes = []
    declared = application.declared_category
    if category != declared:
        found = _ZH_CATEGORY[category] if category else "不符合任何类别"
        notes.append(f"申报类别为{_ZH_CATEGORY[declared]}，认定结果为{found} / declared "
                     f"{declared}, assessed {category or 'no category'}")
    body = reviewing_body(category, application) if category else None
    return Assessment(on, policy.id, category, qualifies, body, figures, rules, tuple(notes))


def _outcome(assessment: Assessment) -> dict[str, str]:
    """What R-ELIGIBLE and R-OUT-OF-HARDSHIP conclude; the figures of each §1.2 rule are in
    their ``rules``, structured as ``jiekun assess`` shows them."""
    return {"category": assessment.category or "none",
            "living_standard": yuan(assessment.figures.standard)}


def eligible_result(assessment: Assessment) -> RuleResult:
    """R-ELIGIBLE: qualifies for a category; a refusal lists every §1.2 rule with its figures."""
    r = rule("R-ELIGIBLE")
    if assessment.category:
        zh = _ZH_CATEGORY[assessment.category]
        return RuleResult(r.id, True, r.citation, f"认定为{zh}职工家庭",
                          f"qualifies as {assessment.category}", _outcome(assessment),
                          assessment.rules)
    failed = [x for x in assessment.rules if not x.passed]
    return RuleResult(
        r.id, False, r.citation,
        "不符合任何类别：" + "；".join(x.explanation_zh for x in failed),
        "qualifies for no category: " + "; ".join(x.explanation_en for x in failed),
        _outcome(assessment), assessment.rules,
    )


def out_of_hardship_result(assessment: Assessment) -> RuleResult:
    r = rule("R-OUT-OF-HARDSHIP")
    passed = assessment.category is None
    if passed:
        return RuleResult(r.id, True, r.citation, "核查不再符合任何类别，脱困",
                          "the re-check finds no category: out of hardship",
                          _outcome(assessment), assessment.rules)
    zh = _ZH_CATEGORY[assessment.category or "deep"]
    return RuleResult(r.id, False, r.citation, f"仍符合{zh}标准，不能进入渐退期",
                      f"still qualifies as {assessment.category}: no phase-out",
                      _outcome(assessment), assessment.rules)
