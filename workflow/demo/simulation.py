"""The demo's generated traffic: an agenda of people's decisions, each case's plans made when
it enters a state (``plans.PLANS``), and between them the scheduler firing every timer in due
order on a simulated clock, from 2024-01-02 up to 2026-06-30, the last day the default policy
covers. Everything goes through the durable engine, exactly as the larger system would drive it.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from jiekun.policies.application import validate_application
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI, local_date
from jiekun.policies.eligibility import assess
from jiekun.policies.errors import JiekunError
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.demo.caseload import Household
from jiekun.workflow.demo.plans import PLANS
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

    def later(self, case: Tracked, after: datetime, low: int, high: int, action: Action) -> None:
        """Put ``action`` on the agenda ``low`` … ``high`` days after ``after``, in office hours
        (dropped if the case has had another event by then, or if it falls after END)."""
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

    def fire(self, case: Tracked, trigger: str, actor: Actor, at: datetime,
             data: dict[str, Any] | None = None) -> bool:
        """Fire ``trigger`` on the case; False if the engine refused it (counted by rule)."""
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
            plan = PLANS.get(case.state or "")
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
            self.fire(case, "submit", actor, at, case.household.application)
        return submit
