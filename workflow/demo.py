"""The demo: two and a half years of a Wuxi caseload on the embedded default (SQLite).

Households apply from 2024-01 to 2025-12; grassroots unions and federations act by simple
seeded rules (supplements, objections, rejections, refusals to exit, relapses, a few wrong
moves the engine refuses); the scheduler fires every timer on a simulated clock up to
2026-06-30, the last day the default policy covers. Everything goes through the durable
engine, exactly as the larger system would drive it.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from jiekun.policies.application import validate_application
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI, local_date
from jiekun.policies.eligibility import assess
from jiekun.policies.errors import JiekunError
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.demo_caseload import Household, new_household
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event

START = datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)
END = datetime(2026, 6, 30, 23, 59, tzinfo=SHANGHAI)
Action = Callable[[datetime], None]


@dataclass
class Tracked:
    household: Household
    rng: random.Random
    state: str | None = None
    version: int = 0
    body: str | None = None
    came_from: str | None = None
    relapsed: bool = False
    last_trigger: str = ""
    grant_rank: int = 0


@dataclass
class DemoStats:
    events: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    timers_fired: Counter[str] = field(default_factory=Counter)


class Simulation:
    """People's decisions on an agenda; timers fired between them in due order."""

    def __init__(self, engine: Engine, households: list[Household]) -> None:
        self.engine = engine
        self.firer = TimerFirer(engine)
        self.clock = SimulatedClock(START)
        self.stats = DemoStats()
        self.cases = {h.case_id: Tracked(h, random.Random(h.seed)) for h in households}
        self._agenda: list[tuple[datetime, int, str, int, Action]] = []
        self._serial = 0
        engine.subscribe(self._on_event)
        for h in households:
            self._at(h.applies_at, h.case_id, self._submitter(self.cases[h.case_id]))

    # the agenda ------------------------------------------------------------------------

    def _at(self, when: datetime, case_id: str, action: Action) -> None:
        if when <= END:
            self._serial += 1
            version = self.cases[case_id].version
            heapq.heappush(self._agenda, (when, self._serial, case_id, version, action))

    def _later(self, case: Tracked, after: datetime, low: int, high: int, action: Action,
               ) -> None:
        day = local_date(after) + timedelta(days=case.rng.randint(low, high))
        when = datetime.combine(day, time(9 + case.rng.randint(0, 8), case.rng.randint(0, 59)),
                                tzinfo=SHANGHAI)
        self._at(max(when, after + timedelta(minutes=1)), case.household.case_id, action)

    def run(self, progress: Callable[[int], None] | None = None) -> DemoStats:
        days_done = 0
        while self._agenda:
            when, _, case_id, version, action = heapq.heappop(self._agenda)
            self._fire_timers(when)
            if self.cases[case_id].version == version:  # stale plans are dropped
                action(when)
            if progress is not None and (when - START).days > days_done:
                progress((when - START).days - days_done)
                days_done = (when - START).days
        self._fire_timers(END)
        if progress is not None:
            progress((END - START).days - days_done)
        return self.stats

    def _fire_timers(self, until: datetime) -> None:
        def count(firing: Firing) -> None:
            if firing.outcome == "fired":
                self.stats.timers_fired[firing.trigger] += 1
            else:
                self.stats.refusals[firing.detail.split(":")[0]] += 1

        self.firer.catch_up(self.clock, max(until, self.clock.now()), count)

    # engine calls ------------------------------------------------------------------------

    def _fire(self, case: Tracked, trigger: str, actor: Actor, at: datetime,
              data: dict[str, Any] | None = None) -> bool:
        try:
            self.engine.fire(case.household.case_id, trigger, actor, at, data or {})
        except JiekunError as refusal:
            self.stats.refusals[refusal.rule] += 1
            return False
        return True

    def _on_event(self, event: Event) -> None:
        case = self.cases[event.case_id]
        case.version = event.seq
        self.stats.events += 1
        entered = event.derived.state != case.state
        if event.trigger == "report_relapse":
            case.came_from = case.state
        case.last_trigger = event.trigger
        case.state, case.body = event.derived.state, event.derived.reviewing_body
        if entered:
            plan = _PLANS.get(case.state or "")
            if plan is not None:
                plan(self, case, event.at)

    def union(self, case: Tracked) -> Actor:
        return Actor("grassroots_union", org=case.household.application["grassroots_union"])

    def federation(self, case: Tracked) -> Actor:
        return Actor("federation", org=case.body)

    def worker(self, case: Tracked) -> Actor:
        return Actor("worker", id_number=case.household.application["applicant"]["id_number"])

    def eligible(self, case: Tracked, at: datetime, household: dict[str, Any] | None = None
                 ) -> bool:
        application = dict(case.household.application)
        if household is not None:  # a re-check's new data: the accident is behind them
            application["household"] = household
            application["accident"] = None
        valid = validate_application(application, local_date(at))
        return assess(valid, self.engine.decider.policy, local_date(at)).category is not None

    def _submitter(self, case: Tracked) -> Action:
        def submit(at: datetime) -> None:
            actor = self.worker(case) if case.rng.random() < 0.3 else self.union(case)
            self._fire(case, "submit", actor, at, case.household.application)
        return submit


def _plan(simulation: Simulation, case: Tracked, after: datetime, low: int, high: int,
          step: Callable[[Simulation, Tracked, datetime], object]) -> None:
    def action(at: datetime) -> None:
        step(simulation, case, at)
    simulation._later(case, after, low, high, action)


def _preliminary(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.04 and not c.relapsed:
        s._fire(c, "request_supplement", s.union(c), at, {"reason": "请补充收入证明"})
    elif c.rng.random() < 0.02:
        s._fire(c, "withdraw", s.worker(c), at)
    elif s.eligible(c, at) or c.rng.random() < 0.15:
        if not s._fire(c, "pass_preliminary_review", s.union(c), at):
            s._fire(c, "reject_preliminary", s.union(c), at + timedelta(hours=2),
                    {"reason": "家庭收入超过认定标准"})
    else:
        s._fire(c, "reject_preliminary", s.union(c), at, {"reason": "家庭收入超过认定标准"})


def _publicity(s: Simulation, c: Tracked, at: datetime) -> None:
    runner = s.union(c) if c.state == "unit_publicity" else s.federation(c)
    objection = f"O-{c.version}"
    if s._fire(c, "raise_objection", runner, at, {"objection_id": objection,
                                                   "summary": "群众反映情况待核实"}):
        decide = "uphold_objection" if c.rng.random() < 0.3 else "dismiss_objection"
        _plan(s, c, at, 1, 3, lambda s2, c2, t: s2._fire(
            c2, decide, runner, t, {"objection_id": objection, "reason": "经核实"}))


def _upper(s: Simulation, c: Tracked, at: datetime) -> None:
    roll = c.rng.random()
    if roll < 0.03:
        s._fire(c, "return_to_grassroots", s.federation(c), at, {"reason": "材料不全"})
    elif roll < 0.06:
        s._fire(c, "reject_upper", s.federation(c), at, {"reason": "审核不予认定"})
    else:
        if roll < 0.08:  # a district federation tries to approve a case it does not review
            s._fire(c, "approve", Actor("federation", org="liangxi" if c.body != "liangxi"
                                        else "binhu"), at)
        if not s._fire(c, "approve", s.federation(c), at):
            s._fire(c, "reject_upper", s.federation(c), at + timedelta(hours=1),
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
    if s._fire(c, "grant_aid", s.federation(c), at, {
            "item": "living", "tier": tier.id, "amount": str(tier.min), "period": period}):
        c.grant_rank = rank
    if c.rng.random() < 0.2:
        paid = Decimal(c.rng.randint(2_000, 30_000))
        s._fire(c, "grant_aid", s.federation(c), at + timedelta(minutes=10), {
            "item": "medical", "tier": "2", "amount": str(min(paid, Decimal(8000))),
            "period": period, "self_paid_medical_total": str(paid)})
    if c.rng.random() < 0.1:
        s._fire(c, "grant_aid", s.federation(c), at + timedelta(minutes=20),
                {"item": c.rng.choice(("training", "job_referral", "legal_aid")),
                 "period": period})


def _archived(s: Simulation, c: Tracked, at: datetime) -> None:
    _plan(s, c, at, 5, 25, _grant)
    roll = c.rng.random()
    if roll < 0.01:
        _plan(s, c, at, 30, 300, lambda s2, c2, t: s2._fire(
            c2, "cancel", s2.federation(c2), t, {"reason": c2.rng.choice(
                ("deceased", "moved_out", "false_information"))}))
    elif roll < 0.04:
        _plan(s, c, at, 20, 120, lambda s2, c2, t: s2._fire(
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
        s._fire(c, "confirm_eligibility", s.federation(c), at, payload)
        return
    months = c.rng.randint(3, 6)
    if c.rng.random() < 0.05:  # more than the notice allows: refused, then corrected
        s._fire(c, "start_phase_out", s.federation(c), at,
                {**payload, "months": 7, "contact_person": "社工李某"})
    s._fire(c, "start_phase_out", s.federation(c), at + timedelta(minutes=5),
            {**payload, "months": months, "contact_person": "社工李某"})


def _phase_out(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.06 and not c.relapsed:
        c.relapsed = True
        _plan(s, c, at, 20, 80, lambda s2, c2, t: s2._fire(
            c2, "report_relapse", s2.worker(c2), t, {"summary": "家人患病，收入下降"}))


def _re_entered(s: Simulation, c: Tracked, at: datetime) -> None:
    standard = s.engine.decider.policy.living_standard_on(local_date(at)).amount
    members = c.household.application["household"]["members"]
    household = new_household(c.rng, standard * Decimal("0.8"), len(members),
                              members[0]["name"])
    if c.came_from == "exited":
        s._fire(c, "readmit", s.federation(c), at)
    elif s.eligible(c, at, household) and c.rng.random() < 0.7:
        s._fire(c, "readmit", s.federation(c), at, {"household": household, "accident": None})
    else:
        s._fire(c, "decline_readmission", s.federation(c), at, {"reason": "仍未达到认定标准"})


def _exit_pending(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.1:
        s._fire(c, "refuse_exit", s.worker(c), at, {"reason": "不同意退档"})
        return
    s._fire(c, "confirm_exit", s.worker(c), at)
    s._fire(c, "confirm_exit", s.union(c), at + timedelta(hours=c.rng.randint(2, 72)))


def _exit_verification(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.2:
        s._fire(c, "accept_refusal", s.federation(c), at, {"reason": "确有正当理由"})
        return
    s._fire(c, "verify_exit", s.federation(c), at)
    s._fire(c, "verify_exit", s.union(c), at + timedelta(hours=3))


def _exited(s: Simulation, c: Tracked, at: datetime) -> None:
    if c.rng.random() < 0.04 and not c.relapsed:
        c.relapsed = True
        _plan(s, c, at, 30, 240, lambda s2, c2, t: s2._fire(
            c2, "report_relapse", s2.union(c2), t, {"summary": "返困申报"}))


def _submitted(s: Simulation, c: Tracked, at: datetime) -> None:
    def start(s2: Simulation, c2: Tracked, t: datetime) -> None:
        s2._fire(c2, "start_preliminary_review", s2.union(c2), t)

    def amend(s2: Simulation, c2: Tracked, t: datetime) -> None:
        if s2._fire(c2, "amend_application", s2.union(c2), t, c2.household.application):
            _plan(s2, c2, t, 1, 2, start)

    _plan(s, c, at, 2, 6, amend) if c.last_trigger == "request_supplement" else _plan(
        s, c, at, 1, 3, start)


_PLANS: dict[str, Callable[[Simulation, Tracked, datetime], None]] = {
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

__all__ = ["END", "START", "DemoStats", "Simulation"]
