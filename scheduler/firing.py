"""Turning due timers into events, through the durable engine, as the ``system`` actor.

Each firing is its own transaction that first claims the timer row (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, a conditional update on SQLite) and carries an idempotency key made of
the case, the event that armed the timer and its kind: however many scheduler processes run,
a timer fires once. A timer whose state was left is void (the transition that left rewrote
its row), so it is never found here. A firing that the lifecycle refuses (an objection still
open) leaves its timer ``blocked`` until the transition that settles it re-arms it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from jiekun.persistence.chain import utc_text
from jiekun.persistence.timer_queries import DueTimer
from jiekun.policies.authorization import SYSTEM
from jiekun.policies.deadlines import publicity_elapsed_at, require_aware
from jiekun.policies.errors import JiekunError, PolicyNotInForce, TimerGone
from jiekun.states import TimerKind
from jiekun.workflow.clock import Clock, SimulatedClock
from jiekun.workflow.engine import Engine, TimerBatch
from jiekun.workflow.policy_versions import WaitingTimer, waiting_timers
from jiekun.workflow.records import Command
from jiekun.workflow.transactions import TimerClaim, timer_key


@dataclass(frozen=True)
class Firing:
    timer: DueTimer
    trigger: str
    at: datetime
    outcome: str  # fired, taken (by another process, or void), blocked
    detail: str = ""
    next_due: datetime | None = None  # the timer the firing armed, if any


class TimerFirer:
    def __init__(self, engine: Engine, page: int = 500) -> None:
        self.engine = engine
        self.page = page
        self._fires = {t.kind.value: t.fires for t in engine.decider.lifecycle.timers}

    def trigger_of(self, kind: str) -> str:
        return self._fires[TimerKind(kind).value]

    def fire(self, timer: DueTimer, at: datetime) -> Firing:
        """Fire one timer in its own transaction."""
        with self.engine.timer_batch() as batch:
            return self._fire_in(batch, timer, at)

    def _fire_in(self, batch: TimerBatch, timer: DueTimer, at: datetime) -> Firing:
        trigger = self.trigger_of(timer.kind)
        key = timer_key(timer.case_id, timer.armed_seq, timer.kind)
        command = Command(timer.case_id, trigger, SYSTEM, at, {}, key)
        claim = TimerClaim(timer.case_id, timer.armed_seq)
        try:
            event = batch.fire(command, claim)
        except TimerGone as gone:
            return Firing(timer, trigger, at, "taken", gone.message)
        except JiekunError as refusal:
            batch.block(claim)
            return Firing(timer, trigger, at, "blocked", f"{refusal.rule}: {refusal.message}")
        armed = event.derived.timers
        return Firing(timer, trigger, at, "fired", next_due=armed[0].due if armed else None)

    def _due(self, until: datetime) -> Iterator[DueTimer]:
        after: tuple[str, str] | None = None
        while True:
            with self.engine.store.reads() as reads:
                page = reads.due_timers(until, self.page, after)
            if not page:
                return
            yield from page
            last = page[-1]
            after = (utc_text(last.due), last.case_id)

    def waiting(self) -> list[WaitingTimer]:
        """The timers waiting for a calendar year the store's current policy version does not
        know: listed and counted, never fired, until the operator publishes the year."""
        with self.engine.store.reads() as reads:
            decider = self.engine.book.decider(reads.current_policy_number(), reads)
            return waiting_timers(reads, decider)

    def date_undated(self) -> int:
        """Give a due time to timers armed while their calendar year was unknown that the
        store's current policy version knows. Publishing the version dates them in its own
        transaction (``policy_versions.publish``): this only catches a timer armed by a
        command decided under the version before, while the new one was being published."""
        dated = 0
        with self.engine.store.reads() as reads:
            rows = reads.undated_timers(10_000)
        if not rows:
            return 0
        decider = self.engine.current_decider()
        for case_id, kind, armed_seq in rows:
            case = self.engine.stored_case(case_id)
            timer = case.timer(TimerKind(kind)) if case is not None else None
            if timer is None:
                continue
            days = decider.policy.durations.working_days(kind)
            try:
                due = publicity_elapsed_at(timer.started, days, decider.calendar)
            except PolicyNotInForce:
                continue  # still unknown: it waits for the operator
            with self.engine.timer_batch() as batch:
                dated += batch.date_timer(case_id, armed_seq, utc_text(due))
        return dated

    def _fire_page(self, page: list[DueTimer], clock: SimulatedClock,
                   until: datetime) -> list[Firing]:
        fired: list[Firing] = []
        horizon: datetime | None = None
        with self.engine.timer_batch() as batch:
            batch.prefetch([timer.case_id for timer in page])
            for timer in page:
                if horizon is not None and timer.due > horizon:
                    break
                clock.advance_to(max(timer.due, clock.now()))
                # dated at its due time (the engine dates it at the case's last event if that
                # is later): the history does not depend on when the scheduler ran
                firing = self._fire_in(batch, timer, timer.due)
                fired.append(firing)
                new = firing.next_due
                if new is not None and new <= until:
                    horizon = new if horizon is None else min(horizon, new)
        return fired

    def fire_due(self, clock: Clock, on_fire: Callable[[Firing], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> list[Firing]:
        """Fire every timer due now, in due order (the real clock: ``at`` is now); ``stop``
        ends it early, between two firings."""
        self.date_undated()
        done = []
        for timer in self._due(clock.now()):
            if stop is not None and stop():
                break
            firing = self.fire(timer, timer.due)  # dated at its due time, as in catch_up
            done.append(firing)
            if on_fire is not None:
                on_fire(firing)
        return done

    def catch_up(self, clock: SimulatedClock, until: datetime,
                 on_fire: Callable[[Firing], None] | None = None) -> list[Firing]:
        """With a simulated clock: fire, in due order, every timer due up to ``until`` —
        the ones firing creates included — each at its due time; the clock ends at ``until``.

        A page of due timers is fired in order, in one transaction with a savepoint per
        firing, until a firing arms a timer due before the rest of the page: then the page
        is read again, so the order stays strict. ``on_fire`` hears of firings once their
        transaction has committed."""
        require_aware(until, "until")
        self.date_undated()
        done: list[Firing] = []
        while True:
            with self.engine.store.reads() as reads:
                page = reads.due_timers(until, self.page)
            if not page:
                break
            fired = self._fire_page(page, clock, until)
            done += fired
            if on_fire is not None:
                for firing in fired:
                    on_fire(firing)
        if until > clock.now():
            clock.advance_to(until)
        return done
