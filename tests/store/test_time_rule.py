"""The time rule in the durable engine (issue 14; states/LIFECYCLE.md, Timers), on SQLite and
PostgreSQL: one rule for the engine, replay, audit and reads.

- a command dated before the case's last event is refused with E-ORDER, naming both times;
- a case's due timers fire before a later command, in its transaction, dated at their due
  time; a refused command keeps those firings (the back office's 09:00 ``grant_aid`` on the
  day a re-check falls due meets ``under_recheck``: R-AID-STATE);
- the export of what the engine stored replays with no violation; ``state_as_of`` and
  ``history(until=)`` never raise for a stored case.
"""

from __future__ import annotations

from typing import Any

import pytest
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_SUBMIT,
    SYSTEM,
    at,
    deep_application,
    drive,
    resident_id,
    union,
)

from jiekun.policies.errors import GuardFailed, HistoryOutOfOrder
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import export_lines

ARCHIVED_DEEP = 5  # the steps of DEEP_STEPS that archive a deep case on 2024-01-25
RECHECK_DUE = at("2025-01-25T00:00:00+08:00")  # 12 months after the archive date


def _replayed(engine: Engine, decider: Any) -> Any:
    return replay(list(export_lines(engine)), decider)


def test_a_command_before_the_cases_last_event_is_e_order(engine: Engine) -> None:
    drive(engine, "A", relative=False, n=1, steps=2)  # last event 2024-01-08 11:00
    before = engine.history("A", AUDITOR)
    with pytest.raises(HistoryOutOfOrder) as refused:
        engine.fire("A", "raise_objection", union(), at("2024-01-01T09:00:00+08:00"),
                    {"objection_id": "OBJ-1", "summary": "有异议"})
    assert refused.value.code == "E-ORDER"
    assert "2024-01-01T09:00:00+08:00" in refused.value.message
    assert "2024-01-08T11:00:00+08:00" in refused.value.message
    assert engine.history("A", AUDITOR) == before


def test_a_due_recheck_fires_before_the_days_grant_which_is_then_refused(
        engine: Engine, decider: Any) -> None:
    drive(engine, "A", relative=False, n=1, steps=ARCHIVED_DEEP)
    assert engine.case("A", AUDITOR).state == "archived"
    with pytest.raises(GuardFailed) as refused:
        engine.fire("A", "grant_aid", CITY, at("2025-01-25T09:00:00+08:00"),
                    {"item": "living", "tier": "1", "amount": "800", "period": "2025-01"})
    assert refused.value.rule == "R-AID-STATE"
    # the firing stands although the command was refused, dated at its due time
    history = engine.history("A", AUDITOR)
    assert [e.trigger for e in history[-2:]] == ["media_publicity_ended", "recheck_due"]
    assert history[-1].at == RECHECK_DUE and history[-1].derived.due is None
    assert engine.case("A", AUDITOR).state == "under_recheck"
    report = _replayed(engine, decider)
    assert report.violations == 0, report.as_json()


def test_firings_before_a_command_are_dated_at_their_due_time_in_order(
        engine: Engine, decider: Any) -> None:
    """A command long after two due timers (unit publicity, then nothing until the federation
    acts): the publicity's end is recorded at its due time, before the command."""
    drive(engine, "A", relative=False, n=1, steps=2)  # unit publicity from 2024-01-08
    event = engine.fire("A", "approve", CITY, at("2024-02-20T09:00:00+08:00"))
    history = engine.history("A", AUDITOR)
    ended = history[-2]
    assert (ended.trigger, ended.actor) == ("unit_publicity_ended", {"role": "system"})
    assert ended.at < event.at and ended.at.utcoffset() is not None
    assert ended.at.hour == 0 and ended.at.utcoffset().total_seconds() == 8 * 3600
    assert event.derived.state == "media_publicity"
    assert _replayed(engine, decider).violations == 0


def test_reads_in_the_past_never_raise(engine: Engine) -> None:
    drive(engine, "A", relative=False, n=1, steps=ARCHIVED_DEEP)
    assert engine.state_as_of("A", at("2023-12-31T00:00:00+08:00"), AUDITOR) is None
    middle = engine.state_as_of("A", at("2024-01-16T12:00:00+08:00"), AUDITOR)
    assert middle is not None and middle.state == "upper_review"
    assert [e.seq for e in engine.history("A", AUDITOR,
                                          until=at("2024-01-16T12:00:00+08:00"))] == [1, 2, 3, 4]


def test_a_scheduler_running_late_dates_the_firing_at_its_due_time(
        engine: Engine, decider: Any) -> None:
    from jiekun.scheduler.firing import TimerFirer
    from jiekun.workflow.clock import SimulatedClock

    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    engine.fire("A", "start_preliminary_review", union(), at("2024-01-08T10:00:00+08:00"))
    engine.fire("A", "pass_preliminary_review", union(), at("2024-01-08T11:00:00+08:00"))
    late = at("2024-03-01T00:00:00+08:00")
    [firing] = TimerFirer(engine).catch_up(SimulatedClock(late), late)
    assert firing.outcome == "fired"
    [event] = [e for e in engine.history("A", AUDITOR) if e.trigger == "unit_publicity_ended"]
    assert event.at == at("2024-01-16T00:00:00+08:00")  # its due time, not 2024-03-01
    assert SYSTEM.role == event.actor["role"]
    assert _replayed(engine, decider).violations == 0


def test_a_timer_event_dated_after_its_due_time_keeps_it_and_derives_from_it(
        engine: Engine) -> None:
    """History 01 records the unit publicity's end at 00:05, five minutes after it fell due:
    the event keeps its own time, its derivation the due time, and the media publicity it
    starts counts from the due time (the time rule's "dated late")."""
    drive(engine, "A", relative=False, n=1, steps=ARCHIVED_DEEP)
    history = engine.history("A", AUDITOR)
    ended = next(e for e in history if e.trigger == "unit_publicity_ended")
    assert ended.at == at("2024-01-16T00:05:00+08:00")
    assert ended.derived.due == at("2024-01-16T00:00:00+08:00")
    archived = next(e for e in history if e.trigger == "media_publicity_ended")
    [recheck] = archived.derived.timers
    assert archived.derived.due == at("2024-01-25T00:00:00+08:00")
    assert recheck.started == archived.derived.due and recheck.due == RECHECK_DUE
    assert archived.derived.archive_number is not None
    assert "20240125" in archived.derived.archive_number
