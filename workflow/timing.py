"""The time rule (states/LIFECYCLE.md, Timers), one definition for the engine, replay and audit:

- a case's events never go back in time (E-ORDER);
- a case's due timer fires before any later command on the case: a command dated at or after
  the due time of a timer whose event is missing is E-ORDER (the durable engine fires such
  timers first, in the command's transaction, so it never meets this refusal itself);
- a publicity whose end found an objection open waits (it is *blocked*) until the last open
  objection is dismissed, and blocks nothing meanwhile;
- a timer whose due time needs a calendar year the policy does not know yet is *waiting*: a
  command dated after its earliest possible due time (start + its length in calendar days) is
  refused with E-POLICY until the year is added;
- a timer's event is dated at its due time, or at the case's last event time if that is later
  (then the due time is kept in the event's derivation, and what the firing derives — archive
  number, the next timer — follows the due time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import publicity_elapsed_at
from jiekun.policies.errors import HistoryOutOfOrder, PolicyNotInForce
from jiekun.policies.policy_file import Policy
from jiekun.states import LengthUnit, Lifecycle, TimerDef
from jiekun.workflow.records import CaseState, Timer


@dataclass(frozen=True)
class DueTimer:
    """A case's armed timer that is due by some moment: what must fire before it."""

    timer: Timer
    definition: TimerDef
    due: datetime

    @property
    def trigger(self) -> str:
        return self.definition.fires


def blocked(case: CaseState, definition: TimerDef) -> bool:
    """A publicity waits while an objection is open (it is re-armed when the last one is
    dismissed)."""
    return definition.unit is LengthUnit.WORKING_DAYS and bool(case.objections_open)


def due_time(timer: Timer, definition: TimerDef, policy: Policy,
             calendar: WorkingCalendar) -> datetime:
    """The timer's due time; PolicyNotInForce while its calendar year is unknown."""
    if timer.due is not None:
        return timer.due
    return publicity_elapsed_at(timer.started, policy.durations.working_days(timer.kind.value),
                                calendar)


def due_by(case: CaseState, at: datetime, lifecycle: Lifecycle, policy: Policy,
           calendar: WorkingCalendar) -> DueTimer | None:
    """The case's timer that is due at or before ``at`` and not blocked, if any.

    A waiting timer (its calendar year unknown) is not due; but once ``at`` is past its
    earliest possible due time, nothing may be decided on the case: PolicyNotInForce."""
    for timer in case.timers:
        definition = lifecycle.timer(timer.kind)
        if blocked(case, definition):
            continue
        try:
            due = due_time(timer, definition, policy, calendar)
        except PolicyNotInForce as unknown:
            days = policy.durations.working_days(timer.kind.value)
            if at >= timer.started + timedelta(days=days):
                started = timer.started.isoformat()
                raise PolicyNotInForce(
                    unknown.on, f"the {timer.kind.value} timer of case {case.case_id} (started "
                    f"{started}) waits for that calendar year: {unknown.reason}",
                    f"案件 {case.case_id} 的计时器（{started} 开始）所需年份的工作日历尚未录入，"
                    "请先由管理员补充该年度日历") from None
            continue
        if due <= at:
            return DueTimer(timer, definition, due)
    return None


def check_order(case: CaseState, trigger: str, at: datetime, lifecycle: Lifecycle,
                policy: Policy, calendar: WorkingCalendar) -> datetime | None:
    """Refuse a command that breaks the time rule (HistoryOutOfOrder, or PolicyNotInForce for
    a waiting timer). Returns the due time when the command is itself the due timer's
    firing (what it derives follows that time), else None."""
    if case.last_at is not None and at < case.last_at:
        raise HistoryOutOfOrder(case.case_id, at, case.last_at)
    due = due_by(case, at, lifecycle, policy, calendar)
    if due is None:
        return None
    if due.trigger == trigger:
        return due.due
    raise HistoryOutOfOrder(case.case_id, at, due.due, missing=due.trigger)
