"""What the demo's people do, by the state a case enters: grassroots unions and federations
act by simple seeded rules (supplements, objections, rejections, aid, re-checks, refusals to
exit, relapses, and a few wrong moves the engine refuses). Each plan puts its steps on the
simulation's agenda a few days on; the case's own random generator decides, so a seed gives
the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import local_date
from jiekun.workflow.demo.caseload import new_household

if TYPE_CHECKING:  # only for annotations: the simulation imports PLANS at run time
    from jiekun.workflow.demo.simulation import Simulation, Tracked


def _plan(simulation: Simulation, case: Tracked, after: datetime, low: int, high: int,
          step: Callable[[Simulation, Tracked, datetime], object]) -> None:
    def action(at: datetime) -> None:
        step(simulation, case, at)
    simulation.later(case, after, low, high, action)


def _preliminary(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.04 and not c.relapsed:
        s.fire(c, "request_supplement", s.union(c), at, {"reason": "请补充收入证明"})
    elif c.rng.random() < 0.02:
        s.fire(c, "withdraw", s.worker(c), at)
    elif s.eligible(c, at) or c.rng.random() < 0.15:
        if not s.fire(c, "pass_preliminary_review", s.union(c), at):
            s.fire(c, "reject_preliminary", s.union(c), at + timedelta(hours=2),
                   {"reason": "家庭收入超过认定标准"})
    else:
        s.fire(c, "reject_preliminary", s.union(c), at, {"reason": "家庭收入超过认定标准"})


def _publicity(s: Simulation, c: Tracked, at: datetime) -> None:
    runner = s.union(c) if c.state == "unit_publicity" else s.federation(c)
    objection = f"O-{c.version}"
    if s.fire(c, "raise_objection", runner, at, {"objection_id": objection,
                                                  "summary": "群众反映情况待核实"}):
        decide = "uphold_objection" if c.rng.random() < 0.3 else "dismiss_objection"
        _plan(s, c, at, 1, 3, lambda s2, c2, t: s2.fire(
            c2, decide, runner, t, {"objection_id": objection, "reason": "经核实"}))


def _upper(s: Simulation, c: Tracked, at: datetime) -> None:
    roll = c.rng.random()
    if roll < 0.03:
        s.fire(c, "return_to_grassroots", s.federation(c), at, {"reason": "材料不全"})
    elif roll < 0.06:
        s.fire(c, "reject_upper", s.federation(c), at, {"reason": "审核不予认定"})
    else:
        if roll < 0.08:  # a district federation tries to approve a case it does not review
            s.fire(c, "approve", Actor("federation", org="liangxi" if c.body != "liangxi"
                                       else "binhu"), at)
        if not s.fire(c, "approve", s.federation(c), at):
            s.fire(c, "reject_upper", s.federation(c), at + timedelta(hours=1),
                   {"reason": "复核不符合认定标准"})


def _grant(s: Simulation, c: Tracked, at: datetime) -> None:
    """Aid by the illustrative tier tables: living aid at the case's tier, sometimes medical
    or education aid, and now and then a cut the rules refuse."""
    category = s.engine.stored_case(c.household.case_id)
    if category is None or category.category is None:
        return
    table = s.engine.decider.policy.aid.table("living", category.category, None)
    if table is None:
        return
    rank = min(c.grant_rank, len(table.tiers) - 1)
    if c.rng.random() < 0.05 and rank + 1 < len(table.tiers):
        rank += 1  # an arbitrary cut: R-NO-ARBITRARY-CUT refuses it unless the category moved
    tier = table.tiers[rank]
    period = f"{at:%Y-%m}"
    if s.fire(c, "grant_aid", s.federation(c), at, {
            "item": "living", "tier": tier.id, "amount": str(tier.min), "period": period}):
        c.grant_rank = rank
    if c.rng.random() < 0.2:
        paid = Decimal(c.rng.randint(2_000, 30_000))
        s.fire(c, "grant_aid", s.federation(c), at + timedelta(minutes=10), {
            "item": "medical", "tier": "2", "amount": str(min(paid, Decimal(8000))),
            "period": period, "self_paid_medical_total": str(paid)})
    if c.rng.random() < 0.1:
        s.fire(c, "grant_aid", s.federation(c), at + timedelta(minutes=20),
               {"item": c.rng.choice(("training", "job_referral", "legal_aid")),
                "period": period})


def _archived(s: Simulation, c: Tracked, at: datetime) -> None:
    _plan(s, c, at, 5, 25, _grant)
    roll = c.rng.random()
    if roll < 0.01:
        _plan(s, c, at, 30, 300, lambda s2, c2, t: s2.fire(
            c2, "cancel", s2.federation(c2), t, {"reason": c2.rng.choice(
                ("deceased", "moved_out", "false_information"))}))
    elif roll < 0.04:
        _plan(s, c, at, 20, 120, lambda s2, c2, t: s2.fire(
            c2, "start_recheck", s2.federation(c2), t))


def _changed_household(s: Simulation, c: Tracked, at: datetime) -> dict[str, Any]:
    standard = s.engine.decider.policy.living_standard_on(local_date(at)).amount
    members = c.household.application["household"]["members"]
    improved = c.rng.random() < 0.35
    scale = Decimal("3.2") if improved else Decimal("1")
    household = new_household(c.rng, standard * scale, len(members), members[0]["name"])
    return household


def _recheck(s: Simulation, c: Tracked, at: datetime) -> None:
    household = _changed_household(s, c, at)
    payload: dict[str, Any] = {"household": household, "accident": None}
    if s.eligible(c, at, household):
        s.fire(c, "confirm_eligibility", s.federation(c), at, payload)
        return
    months = c.rng.randint(3, 6)
    if c.rng.random() < 0.05:  # more than the notice allows: refused, then corrected
        s.fire(c, "start_phase_out", s.federation(c), at,
               {**payload, "months": 7, "contact_person": "社工李某"})
    s.fire(c, "start_phase_out", s.federation(c), at + timedelta(minutes=5),
           {**payload, "months": months, "contact_person": "社工李某"})


def _phase_out(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.06 and not c.relapsed:
        c.relapsed = True
        _plan(s, c, at, 20, 80, lambda s2, c2, t: s2.fire(
            c2, "report_relapse", s2.worker(c2), t, {"summary": "家人患病，收入下降"}))


def _re_entered(s: Simulation, c: Tracked, at: datetime) -> None:
    standard = s.engine.decider.policy.living_standard_on(local_date(at)).amount
    members = c.household.application["household"]["members"]
    household = new_household(c.rng, standard * Decimal("0.8"), len(members),
                              members[0]["name"])
    if c.came_from == "exited":
        s.fire(c, "readmit", s.federation(c), at)
    elif s.eligible(c, at, household) and c.rng.random() < 0.7:
        s.fire(c, "readmit", s.federation(c), at, {"household": household, "accident": None})
    else:
        s.fire(c, "decline_readmission", s.federation(c), at, {"reason": "仍未达到认定标准"})


def _exit_pending(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.1:
        s.fire(c, "refuse_exit", s.worker(c), at, {"reason": "不同意退档"})
        return
    s.fire(c, "confirm_exit", s.worker(c), at)
    s.fire(c, "confirm_exit", s.union(c), at + timedelta(hours=c.rng.randint(2, 72)))


def _exit_verification(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.2:
        s.fire(c, "accept_refusal", s.federation(c), at, {"reason": "确有正当理由"})
        return
    s.fire(c, "verify_exit", s.federation(c), at)
    s.fire(c, "verify_exit", s.union(c), at + timedelta(hours=3))


def _exited(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.04 and not c.relapsed:
        c.relapsed = True
        _plan(s, c, at, 30, 240, lambda s2, c2, t: s2.fire(
            c2, "report_relapse", s2.union(c2), t, {"summary": "返困申报"}))


def _submitted(s: Simulation, c: Tracked, at: datetime) -> None:
    def start(s2: Simulation, c2: Tracked, t: datetime) -> None:
        s2.fire(c2, "start_preliminary_review", s2.union(c2), t)

    def amend(s2: Simulation, c2: Tracked, t: datetime) -> None:
        if s2.fire(c2, "amend_application", s2.union(c2), t, c2.household.application):
            _plan(s2, c2, t, 1, 2, start)

    _plan(s, c, at, 2, 6, amend) if c.last_trigger == "request_supplement" else _plan(
        s, c, at, 1, 3, start)


PLANS: dict[str, Callable[[Simulation, Tracked, datetime], None]] = {
    "submitted": _submitted,
    "preliminary_review": lambda s, c, at: _plan(s, c, at, 2, 7, _preliminary),
    "unit_publicity": lambda s, c, at: _plan(s, c, at, 1, 3, _publicity)
    if c.rng.random() < 0.07 else None,
    "upper_review": lambda s, c, at: _plan(s, c, at, 1, 6, _upper),
    "media_publicity": lambda s, c, at: _plan(s, c, at, 1, 3, _publicity)
    if c.rng.random() < 0.02 else None,
    "archived": _archived,
    "under_recheck": lambda s, c, at: _plan(s, c, at, 3, 15, _recheck),
    "phase_out": _phase_out,
    "re_entered": lambda s, c, at: _plan(s, c, at, 3, 10, _re_entered),
    "exit_pending": lambda s, c, at: _plan(s, c, at, 1, 5, _exit_pending),
    "exit_verification": lambda s, c, at: _plan(s, c, at, 2, 6, _exit_verification),
    "exited": _exited,
}
