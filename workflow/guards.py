"""The guards of the lifecycle, by rule id: each returns a RuleResult at the event's time.

A guard that needs the living standard or the working-day calendar on a date the policy does
not cover raises PolicyNotInForce, which a replay reports as E-POLICY.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from jiekun.policies.aid import aid_state, aid_tier, find_table, medical_cap, no_arbitrary_cut
from jiekun.policies.aid_tables import TierTable
from jiekun.policies.deadlines import publicity_elapsed_at
from jiekun.policies.eligibility import eligible_result, out_of_hardship_result
from jiekun.policies.results import RuleResult
from jiekun.policies.rules import rule
from jiekun.states import TimerKind
from jiekun.workflow.context import Decision

Guard = Callable[[Decision], RuleResult]


def _result(rule_id: str, passed: bool, zh: str, en: str, **figures: str) -> RuleResult:
    return RuleResult(rule_id, passed, rule(rule_id).citation, zh, en, dict(figures))


def timer_due(d: Decision, kind: TimerKind) -> datetime:
    timer = d.case.timer(kind)
    if timer is None:
        raise LookupError(f"case {d.case.case_id} has no {kind} timer in {d.case.state}")
    if timer.due is not None:
        return timer.due
    length = d.policy.durations.working_days(kind.value)
    return publicity_elapsed_at(timer.started, length, d.calendar)


def _is_due(d: Decision, kind: TimerKind) -> tuple[bool, datetime]:
    """Whether the case's ``kind`` timer is due at the command's time, and its due time."""
    due = timer_due(d, kind)
    return d.command.at >= due, due


def _due_result(d: Decision, rule_id: str, kind: TimerKind, zh: str, en: str) -> RuleResult:
    passed, due = _is_due(d, kind)
    at = d.command.at
    verdict_zh, verdict_en = ("已到期", "due") if passed else ("未到期", "not due yet")
    return _result(rule_id, passed, f"{zh}{due.isoformat()} 起到期，事件时间 {at.isoformat()}："
                   f"{verdict_zh}", f"{en} is due from {due.isoformat()}, the event is at "
                   f"{at.isoformat()}: {verdict_en}", due=due.isoformat(), at=at.isoformat())


def _other_open_case(d: Decision) -> tuple[bool, str | None]:
    """Whether the applicant has no open case but this one, and the open case found."""
    application = d.application
    applicant = application.applicant.id_number if application else d.case.applicant_id
    other = d.open_cases.open_case_of(applicant) if applicant else None
    return other is None or other == d.case.case_id, other


def one_open_case(d: Decision) -> RuleResult:
    passed, other = _other_open_case(d)
    return _result("R-ONE-OPEN-CASE", passed,
                   "申请人无其他未结案件" if passed else f"申请人已有未结案件 {other}",
                   "no other open case" if passed else f"the applicant already has open case "
                   f"{other}", open_case=other or "")


def eligible(d: Decision) -> RuleResult:
    return eligible_result(d.assessment())


def out_of_hardship(d: Decision) -> RuleResult:
    return out_of_hardship_result(d.assessment())


# the publicity state and its timer share a name (looked up, not ``TimerKind(name)``: an
# enum's call by value costs a microsecond, on every publicity's end)
_KIND_OF_STATE: dict[str | None, TimerKind] = {kind.value: kind for kind in TimerKind}


def publicity_kind(d: Decision) -> TimerKind:
    """The timer of the publicity the case is in."""
    kind = _KIND_OF_STATE.get(d.source)
    return TimerKind(str(d.source)) if kind is None else kind  # (raises as it did)


def publicity_elapsed(d: Decision) -> RuleResult:
    kind = publicity_kind(d)
    return _due_result(d, "R-PUBLICITY-ELAPSED", kind, "公示期满，", "the publicity")


def _objection_holds(d: Decision) -> bool:
    """The objection named is open; or, naming none, no objection is open."""
    wanted = d.payload.get("objection_id")
    return wanted in d.case.objections_open if wanted is not None else not d.case.objections_open


def objection(d: Decision) -> RuleResult:
    open_ = d.case.objections_open
    wanted = d.payload.get("objection_id")
    if wanted is not None:
        passed = _objection_holds(d)
        return _result("E-OBJECTION", passed,
                       f"异议 {wanted} {'处于未决状态' if passed else '不是未决异议'}",
                       f"objection {wanted} is {'open' if passed else 'not open'}",
                       objection_id=str(wanted))
    listed = ", ".join(sorted(open_))
    return _result("E-OBJECTION", _objection_holds(d),
                   "无未决异议" if not open_ else f"尚有未决异议：{listed}",
                   "no open objection" if not open_ else f"open objections: {listed}",
                   open_objections=listed)


def recheck_cadence(d: Decision) -> RuleResult:
    return _due_result(d, "R-RECHECK-CADENCE", TimerKind.RECHECK, "定期核查", "the re-check")


def phase_out_max(d: Decision) -> RuleResult:
    months = int(d.payload["months"])
    limit = d.policy.durations.phase_out_max_months
    passed = months <= limit
    return _result("R-PHASEOUT-MAX", passed, f"渐退期 {months} 个月，上限 {limit} 个月",
                   f"a phase-out of {months} months, at most {limit}",
                   months=str(months), limit=str(limit))


def phase_out_elapsed(d: Decision) -> RuleResult:
    return _due_result(d, "R-PHASEOUT-ELAPSED", TimerKind.PHASE_OUT, "渐退期", "the phase-out")


def retention(d: Decision) -> RuleResult:
    return _due_result(d, "R-RETENTION", TimerKind.RETENTION, "档案保管期", "retention")


def exit_confirm(d: Decision) -> RuleResult:
    party = d.command.actor.role
    done = d.case.confirmations
    if d.command.trigger == "refuse_exit":
        passed = "worker" not in done
        return _result("R-EXIT-CONFIRM", passed,
                       "职工尚未确认退档" if passed else "职工已确认退档，不能再拒绝",
                       "the worker has not confirmed" if passed else
                       "the worker has already confirmed the exit",
                       confirmed=",".join(sorted(done)))
    passed = party not in done
    return _result("R-EXIT-CONFIRM", passed,
                   f"{party} 首次确认" if passed else f"{party} 已经确认过",
                   f"first confirmation by {party}" if passed else f"{party} has already confirmed",
                   confirmed=",".join(sorted(done)))


def exit_refusal(d: Decision) -> RuleResult:
    party = d.command.actor.role
    done = d.case.verifications
    passed = party not in done
    return _result("R-EXIT-REFUSAL", passed,
                   f"{party} 核实确认" if passed else f"{party} 已核实过，须由另一方核实",
                   f"verification by {party}" if passed else
                   f"{party} has verified already: the other party must verify",
                   verified=",".join(sorted(done)))


def aid_table(d: Decision) -> TierTable | None:
    """The tier table of the grant being decided (found once per decision)."""
    if "aid_table" in d.memo:
        found: TierTable | None = d.memo["aid_table"]
        return found
    application = d.case.application
    cause = (application.accident.kind if application is not None and application.accident
             is not None and d.case.category == "accident" else None)
    found = find_table(d.policy, str(d.payload["item"]), d.case.category,
                       d.case.reviewing_body, cause)
    d.memo["aid_table"] = found
    return found


def aid_rank(d: Decision) -> int | None:
    table = aid_table(d)
    tier = d.payload.get("tier")
    return None if table is None or tier is None else table.rank(str(tier))


def aid_state_guard(d: Decision) -> RuleResult:
    return aid_state(d.case.state)


def aid_tier_guard(d: Decision) -> RuleResult:
    p = d.payload
    return aid_tier(d.policy, str(p["item"]), p.get("tier"), p.get("amount"), aid_table(d),
                    d.case.category, d.case.reviewing_body)


def medical_cap_guard(d: Decision) -> RuleResult:
    p = d.payload
    if p["item"] != "medical":
        return RuleResult("R-MEDICAL-CAP", True, rule("R-MEDICAL-CAP").citation,
                          "非医疗救助", "not medical aid")
    year = str(p["period"])[:4]
    declared = p.get("self_paid_medical_total", d.case.medical_declared.get(year))
    granted = d.case.medical_granted.get(year, Decimal(0))
    return medical_cap(year, granted, p.get("amount") or Decimal(0), declared)


def no_cut_guard(d: Decision) -> RuleResult:
    item = str(d.payload["item"])
    return no_arbitrary_cut(item, d.case.aid_ranks.get(item), aid_rank(d),
                            d.case.category_changed_at_last_recheck)


GUARDS: dict[str, Guard] = {
    "R-AID-STATE": aid_state_guard,
    "R-AID-TIER": aid_tier_guard,
    "R-MEDICAL-CAP": medical_cap_guard,
    "R-NO-ARBITRARY-CUT": no_cut_guard,
    "R-ONE-OPEN-CASE": one_open_case,
    "R-ELIGIBLE": eligible,
    "R-OUT-OF-HARDSHIP": out_of_hardship,
    "R-PUBLICITY-ELAPSED": publicity_elapsed,
    "E-OBJECTION": objection,
    "R-RECHECK-CADENCE": recheck_cadence,
    "R-PHASEOUT-MAX": phase_out_max,
    "R-PHASEOUT-ELAPSED": phase_out_elapsed,
    "R-RETENTION": retention,
    "R-EXIT-CONFIRM": exit_confirm,
    "R-EXIT-REFUSAL": exit_refusal,
}

# What a guard concludes, without its explanation, for the guards whose explanation costs
# much more than the outcome (an assessment's seven explained rules, due times and texts): the
# machine asks these first and runs the guard itself, explained, only when one says no. Each
# is the guard's own decisive test (the helper both call), never a second version of it.
Outcome = Callable[[Decision], bool]
OUTCOMES: dict[str, Outcome] = {
    "R-ONE-OPEN-CASE": lambda d: _other_open_case(d)[0],
    "R-ELIGIBLE": lambda d: d.verdict().category is not None,
    "R-OUT-OF-HARDSHIP": lambda d: d.verdict().category is None,
    "R-PUBLICITY-ELAPSED": lambda d: _is_due(d, publicity_kind(d))[0],
    "E-OBJECTION": _objection_holds,
    "R-RECHECK-CADENCE": lambda d: _is_due(d, TimerKind.RECHECK)[0],
    "R-PHASEOUT-ELAPSED": lambda d: _is_due(d, TimerKind.PHASE_OUT)[0],
    "R-RETENTION": lambda d: _is_due(d, TimerKind.RETENTION)[0],
}
