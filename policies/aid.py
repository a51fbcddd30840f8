"""The rules of classified aid (§2, §1.3): R-AID-STATE, R-AID-TIER, R-MEDICAL-CAP,
R-NO-ARBITRARY-CUT. Pure functions over values; each returns a result that explains itself."""

from __future__ import annotations

from decimal import Decimal

from jiekun.policies.aid_tables import ITEM_LABELS, PAID_ITEMS, TierTable
from jiekun.policies.money import yuan
from jiekun.policies.policy_file import Policy
from jiekun.policies.results import RuleResult
from jiekun.policies.rules import rule

AID_STATES = ("archived", "phase_out")


def _result(rule_id: str, passed: bool, zh: str, en: str, **figures: str) -> RuleResult:
    return RuleResult(rule_id, passed, rule(rule_id).citation, zh, en, dict(figures))


def aid_state(state: str | None) -> RuleResult:
    passed = state in AID_STATES
    verdict = "可以" if passed else "不能"
    return _result("R-AID-STATE", passed,
                   f"案件状态 {state}：{verdict}发放帮扶（仅限已建档和渐退期）",
                   f"a case in {state} {'may' if passed else 'may not'} receive aid "
                   "(archived and phase-out only)", state=str(state))


def find_table(policy: Policy, item: str, category: str | None, body: str | None,
               cause: str | None) -> TierTable | None:
    return None if category is None else policy.aid.table(item, category, body, cause)


def aid_tier(policy: Policy, item: str, tier: str | None, amount: Decimal | None,
             table: TierTable | None, category: str | None, body: str | None) -> RuleResult:
    label = ITEM_LABELS[item]
    if item not in PAID_ITEMS:
        return _result("R-AID-TIER", True, f"{label}不按档发放资金", f"{item} is not paid in tiers")
    where = f"{item}/{category}" + (f"/{body}" if item == "medical" else "")
    if table is None:
        return _result("R-AID-TIER", False, f"政策 {policy.id} 中没有 {where} 的分档标准",
                       f"no tier table for {where} in policy {policy.id}", table=where)
    found = next((t for t in table.tiers if t.id == tier), None)
    if found is None or amount is None:
        return _result("R-AID-TIER", False, f"{where} 没有第 {tier} 档",
                       f"{where} has no tier {tier!r}", table=where, tier=str(tier))
    passed = found.min <= amount <= found.max
    span = f"{yuan(found.min)}–{yuan(found.max)}"
    return _result("R-AID-TIER", passed,
                   f"{label}第 {tier} 档 {span} 元，发放 {yuan(amount)} 元："
                   f"{'符合' if passed else '不符合'}分档标准",
                   f"{item} tier {tier} is {span} yuan, the grant is {yuan(amount)}: "
                   f"{'fits' if passed else 'does not fit'}",
                   table=where, tier=str(tier), amount=yuan(amount), range=span)


def medical_cap(year: str, granted: Decimal, amount: Decimal,
                declared: Decimal | None) -> RuleResult:
    if declared is None:
        return _result("R-MEDICAL-CAP", False, f"{year} 年度未申报家庭自付医疗费用总额",
                       f"no self-paid medical total declared for {year}", year=year)
    total = granted + amount
    passed = total <= declared
    return _result("R-MEDICAL-CAP", passed,
                   f"{year} 年度医疗救助合计 {yuan(total)} 元，自付医疗费用 {yuan(declared)} 元："
                   f"{'未超过' if passed else '超过'}",
                   f"medical aid in {year} would total {yuan(total)} yuan against "
                   f"{yuan(declared)} self-paid: {'within' if passed else 'over'} the cap",
                   year=year, total=yuan(total), self_paid=yuan(declared))


def no_arbitrary_cut(item: str, previous_rank: int | None, rank: int | None,
                     category_changed: bool) -> RuleResult:
    lower = previous_rank is not None and rank is not None and rank > previous_rank
    passed = not lower or category_changed
    if not lower:
        zh, en = "未降低帮扶档次", "no lower tier than the previous grant"
    elif passed:
        zh, en = "核查时类别已变化，可调整档次", "the category changed at the last re-check"
    else:
        zh, en = ("家庭经济状况无明显变化（核查时类别未变），不得降低帮扶档次",
                  "a lower tier than the previous grant while the category did not change")
    return _result("R-NO-ARBITRARY-CUT", passed, f"{ITEM_LABELS[item]}：{zh}", f"{item}: {en}",
                   previous_rank=str(previous_rank), rank=str(rank))
