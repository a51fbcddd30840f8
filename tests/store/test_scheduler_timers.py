"""The scheduler's timers through the durable engine (issue 4, "Done when"): working days from
the policy data and the calendar, void timers, objection blocking and re-arming, catch-up in
strict due order, a catch-up run twice, and the APScheduler service at its start.

Nothing here feeds a due date in: cases are driven through the engine, the timers come from
the policy (5 working days of publicity, 6 / 12 months of re-check) and the working-day
calendar, and every expected date is derived by hand in a comment from the published State
Council holiday schedules.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from store_cases import (
    CITY,
    XINWU,
    at,
    deep_application,
    drive,
    relative_application,
    resident_id,
    union,
    worker,
)

from jiekun.persistence.chain import from_utc_text
from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.schema import events, timers
from jiekun.persistence.store import UnitOfWork
from jiekun.persistence.timer_queries import DueTimer
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.scheduler.service import SchedulerService
from jiekun.workflow.audit import verify
from jiekun.workflow.cli import main
from jiekun.workflow.clock import RealClock, SimulatedClock
from jiekun.workflow.engine import Engine
from tests.workflow.builders import AUDITOR


@pytest.fixture
def sqlite_engine(tmp_path: Path, open_engine: Callable[[str], Engine]) -> Engine:
    """A fresh SQLite file store (schema upgraded) and its engine."""
    url = f"sqlite:///{tmp_path / 'timers.db'}"
    made = make_engine(url)
    upgrade(made)
    made.dispose()
    return open_engine(url)


def url_of(engine: Engine) -> str:
    return engine.store.engine.url.render_as_string(hide_password=False)


def timer_row(engine: Engine, case_id: str) -> dict[str, object]:
    with engine.store.reading() as connection:
        row = connection.execute(select(timers).where(timers.c.case_id == case_id)).first()
    assert row is not None, f"no timer row for {case_id}"
    return dict(row._mapping)


def triggers_of(engine: Engine, case_id: str | None = None) -> list[tuple[str, str]]:
    """(case, trigger) of every stored event, in commit order."""
    query = select(events.c.case_id, events.c.trigger).order_by(events.c.position)
    if case_id is not None:
        query = query.where(events.c.case_id == case_id)
    with engine.store.reading() as connection:
        return [(r.case_id, r.trigger) for r in connection.execute(query)]


def event_count(engine: Engine) -> int:
    return len(triggers_of(engine))


def audit_ok(engine: Engine) -> None:
    with engine.store.reading() as connection:
        report = verify(engine.store.reads_on(connection), engine.decider)
    assert report.ok, [str(p) for p in report.problems]


def to_publicity(engine: Engine, case_id: str, n: int, when: str, *,
                 relative: bool = False) -> None:
    """Submit, start the preliminary review and pass it at ``when``: unit publicity starts."""
    make = relative_application if relative else deep_application
    engine.submit(case_id, make(resident_id(n)), union(), at(when))
    engine.fire(case_id, "start_preliminary_review", union(), at(when))
    engine.fire(case_id, "pass_preliminary_review", union(), at(when))


def summary(firings: list[Firing]) -> list[tuple[str, str, str, str]]:
    return [(f.timer.case_id, f.trigger, f.at.isoformat(), f.outcome) for f in firings]


# 1. Working days ------------------------------------------------------------------------------

# Unit publicity = 5 working days (policy file: unit_publicity_working_days = 5), counted from
# the day after the start; elapsed from 00:00 of the day after the 5th (policies/RULES.md).
#
# Started Wed 2024-02-07. 2024 Spring Festival (国办发明电〔2023〕7号): rest 02-10 … 02-17,
# Sun 02-04 and Sun 02-18 are working days. Working days after 02-07: Thu 02-08 (1), Fri 02-09
# (2; 除夕 is an ordinary working day in 2024), [02-10 … 02-17 off], Sun 02-18 (3, adjusted),
# Mon 02-19 (4), Tue 02-20 (5) → elapsed from Wed 2024-02-21 00:00+08:00. (Counting weekdays
# only would give 02-15; counting without the adjusted Sunday would give 02-22.)
#
# Started Fri 2024-09-27. 2024 National Day: rest 10-01 … 10-07, Sun 09-29 and Sat 10-12 are
# working days. After 09-27: Sat 09-28 off, Sun 09-29 (1, adjusted), Mon 09-30 (2), [10-01 …
# 10-07 off], Tue 10-08 (3), Wed 10-09 (4), Thu 10-10 (5) → elapsed from Fri 2024-10-11 00:00.
@pytest.mark.parametrize(("started", "not_yet", "fires_at"), [
    ("2024-02-07T10:30:00+08:00", "2024-02-20T23:59:59+08:00", "2024-02-21T00:00:00+08:00"),
    ("2024-09-27T15:00:00+08:00", "2024-10-10T23:59:59+08:00", "2024-10-11T00:00:00+08:00"),
])
def test_unit_publicity_fires_after_five_working_days(sqlite_engine: Engine, started: str,
                                                      not_yet: str, fires_at: str) -> None:
    engine = sqlite_engine
    to_publicity(engine, "WD-1", 1, started)
    firer = TimerFirer(engine)
    clock = SimulatedClock(at(started))

    assert firer.catch_up(clock, at(not_yet)) == []  # not before
    assert engine.stored_case("WD-1").state == "unit_publicity"  # type: ignore[union-attr]
    assert timer_row(engine, "WD-1")["status"] == "pending"
    assert clock.now() == at(not_yet)

    fired = firer.catch_up(clock, at(fires_at.replace("00:00:00", "23:59:59")))
    assert summary(fired) == [("WD-1", "unit_publicity_ended", at(fires_at).isoformat(),
                               "fired")]
    case = engine.stored_case("WD-1")
    assert case is not None and case.state == "upper_review"
    assert case.last_at == at(fires_at)
    assert triggers_of(engine, "WD-1")[-1] == ("WD-1", "unit_publicity_ended")
    audit_ok(engine)


# A relative case (history 05's household in 新吴区: 60,000 a year for two, 10,000 of medical
# self-pay; in August 2024 L = 1115: I = 2,500 ≤ 3L, N = 2,083.33 ≤ 2L, I > 2L → relative,
# reviewed by xinwu) passes preliminary review on Mon 2024-08-12: unit publicity 08-13 … 08-19
# (no holiday in August) → fires 2024-08-20 00:00. Approved Fri 2024-08-23: media publicity
# Mon 08-26 … Fri 08-30 → fires Sat 2024-08-31 00:00: archived on 2024-08-31. Relative re-check
# every 6 months: 2024-08-31 + 6 months = 2025-02-31 → clamped to 2025-02-28 (2025 is not a leap
# year) → recheck_due fires at 2025-02-28 00:00+08:00, not before.
def test_relative_recheck_after_archive_on_august_31st(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    to_publicity(engine, "RC-1", 5, "2024-08-12T10:00:00+08:00", relative=True)
    firer = TimerFirer(engine)
    clock = SimulatedClock(at("2024-08-12T10:00:00+08:00"))

    fired = firer.catch_up(clock, at("2024-08-23T08:00:00+08:00"))
    assert summary(fired) == [("RC-1", "unit_publicity_ended", "2024-08-20T00:00:00+08:00",
                               "fired")]
    engine.fire("RC-1", "approve", XINWU, at("2024-08-23T09:00:00+08:00"))

    fired = firer.catch_up(clock, at("2025-02-27T23:59:59+08:00"))
    assert summary(fired) == [("RC-1", "media_publicity_ended", "2024-08-31T00:00:00+08:00",
                               "fired")]
    case = engine.stored_case("RC-1")
    assert case is not None and (case.state, case.category) == ("archived", "relative")
    assert case.entered_at == at("2024-08-31T00:00:00+08:00")

    fired = firer.catch_up(clock, at("2025-03-31T00:00:00+08:00"))
    assert summary(fired) == [("RC-1", "recheck_due", "2025-02-28T00:00:00+08:00", "fired")]
    case = engine.stored_case("RC-1")
    assert case is not None and case.state == "under_recheck"
    assert timer_row(engine, "RC-1")["status"] == "void"  # under_recheck has no timer
    audit_ok(engine)


# 2. Void timers -------------------------------------------------------------------------------

def test_withdrawn_during_unit_publicity_fires_nothing(engine: Engine) -> None:
    """Runs on SQLite (conditional update) and PostgreSQL (FOR UPDATE SKIP LOCKED)."""
    drive(engine, "V-1", relative=False, n=11, steps=2)  # unit publicity from 2024-01-08 11:00
    # due 2024-01-16 00:00 (working days 01-09 … 01-15, policies/RULES.md's example)
    stale = DueTimer("V-1", "unit_publicity", at("2024-01-16T00:00:00+08:00"),
                     int(timer_row(engine, "V-1")["armed_seq"]))
    assert stale.armed_seq == 3  # armed by the third event, pass_preliminary_review
    engine.fire("V-1", "withdraw", worker(resident_id(11)), at("2024-01-10T09:00:00+08:00"))
    row = timer_row(engine, "V-1")
    # The withdraw rewrote the row: the unit publicity timer is gone, replaced by retention.
    assert (row["kind"], row["armed_seq"]) == ("retention", 4)
    before = event_count(engine)

    firer = TimerFirer(engine)
    assert firer.catch_up(SimulatedClock(at("2024-01-10T10:00:00+08:00")),
                          at("2024-12-31T00:00:00+08:00")) == []
    firing = firer.fire(stale, at("2024-01-16T00:00:00+08:00"))
    assert firing.outcome == "taken"
    assert event_count(engine) == before
    assert ("V-1", "unit_publicity_ended") not in triggers_of(engine)
    assert engine.stored_case("V-1").state == "withdrawn"  # type: ignore[union-attr]
    audit_ok(engine)


def test_early_recheck_voids_the_recheck_timer(engine: Engine) -> None:
    """An archived deep case (history 01: archived 2024-01-25, re-check due 2025-01-25) that a
    federation re-checks early: under_recheck has no timer, the row is closed as void."""
    drive(engine, "V-2", relative=False, n=12, steps=5)
    row = timer_row(engine, "V-2")
    assert (row["kind"], row["status"]) == ("recheck", "pending")
    stale = DueTimer("V-2", "recheck", at("2025-01-25T00:00:00+08:00"), int(row["armed_seq"]))
    engine.fire("V-2", "start_recheck", CITY, at("2024-06-03T09:00:00+08:00"))
    row = timer_row(engine, "V-2")
    assert row["status"] == "void"
    before = event_count(engine)

    firer = TimerFirer(engine)
    assert firer.catch_up(SimulatedClock(at("2024-06-03T10:00:00+08:00")),
                          at("2025-12-31T00:00:00+08:00")) == []
    assert firer.fire(stale, at("2025-01-25T00:00:00+08:00")).outcome == "taken"
    assert event_count(engine) == before
    assert timer_row(engine, "V-2")["status"] == "void"
    assert engine.stored_case("V-2").state == "under_recheck"  # type: ignore[union-attr]
    audit_ok(engine)


def test_a_timer_fires_once_even_when_handed_over_twice(engine: Engine) -> None:
    """The same due timer handed to the firer twice (two processes that read the same page):
    one event, and only the first firing says it fired — the second was taken."""
    drive(engine, "V-3", relative=False, n=13, steps=2)
    timer = DueTimer("V-3", "unit_publicity", at("2024-01-16T00:00:00+08:00"),
                     int(timer_row(engine, "V-3")["armed_seq"]))
    firer = TimerFirer(engine)
    first = firer.fire(timer, timer.due)
    second = firer.fire(timer, timer.due)
    assert first.outcome == "fired"
    assert second.outcome == "taken"
    assert Counter(triggers_of(engine, "V-3"))[("V-3", "unit_publicity_ended")] == 1


# 3. Objections block a publicity's end --------------------------------------------------------

def pending_listing(engine: Engine) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["scheduler", "pending", "--db", url_of(engine),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.output)["timers"]
    return listed


def test_open_objection_blocks_and_the_last_dismissal_rearms(engine: Engine) -> None:
    drive(engine, "OB-1", relative=False, n=21, steps=2)  # unit publicity due 2024-01-16 00:00
    for objection in ("O-1", "O-2"):
        engine.fire("OB-1", "raise_objection", union(), at("2024-01-10T10:00:00+08:00"),
                    {"objection_id": objection, "summary": "群众反映收入不实"})
    firer = TimerFirer(engine)
    clock = SimulatedClock(at("2024-01-10T11:00:00+08:00"))

    fired = firer.catch_up(clock, at("2024-01-20T00:00:00+08:00"))
    assert [(f.outcome, f.at) for f in fired] == [("blocked", at("2024-01-16T00:00:00+08:00"))]
    assert fired[0].detail.startswith("E-OBJECTION")
    assert timer_row(engine, "OB-1")["status"] == "blocked"
    assert engine.stored_case("OB-1").state == "unit_publicity"  # type: ignore[union-attr]
    assert pending_listing(engine) == [{
        "case": "OB-1", "timer": "unit_publicity", "due": "2024-01-16T00:00:00+08:00",
        "status": "blocked", "fires": "unit_publicity_ended", "rule": "R-PUBLICITY-ELAPSED"}]

    # A blocked timer is not retried by every catch-up, and one of two dismissals changes nothing.
    assert firer.catch_up(clock, at("2024-01-21T00:00:00+08:00")) == []
    engine.fire("OB-1", "dismiss_objection", union(), at("2024-01-22T09:00:00+08:00"),
                {"objection_id": "O-1", "reason": "经核实不属实"})
    assert timer_row(engine, "OB-1")["status"] == "blocked"
    assert firer.catch_up(clock, at("2024-01-22T09:30:00+08:00")) == []

    # The last dismissal re-arms it, due at once (the dismissal's time).
    engine.fire("OB-1", "dismiss_objection", union(), at("2024-01-22T10:00:00+08:00"),
                {"objection_id": "O-2", "reason": "经核实不属实"})
    row = timer_row(engine, "OB-1")
    assert row["status"] == "pending"
    assert [(t["status"], t["due"]) for t in pending_listing(engine)] == [
        ("pending", "2024-01-22T10:00:00+08:00")]

    fired = firer.catch_up(clock, at("2024-01-31T00:00:00+08:00"))
    assert summary(fired) == [("OB-1", "unit_publicity_ended", "2024-01-22T10:00:00+08:00",
                               "fired")]
    assert engine.stored_case("OB-1").state == "upper_review"  # type: ignore[union-attr]
    assert firer.catch_up(clock, at("2024-12-31T00:00:00+08:00")) == []
    assert Counter(triggers_of(engine, "OB-1"))[("OB-1", "unit_publicity_ended")] == 1
    assert pending_listing(engine) == []
    audit_ok(engine)


def test_dismissal_at_the_moment_of_the_blocked_firing_rearms(sqlite_engine: Engine) -> None:
    """The catch-up tries the timer at its due time, 2024-01-16 00:00, and finds O-1 open;
    O-1 is dismissed at that same moment. policies/RULES.md, Time: it "is re-armed when the last
    open objection is dismissed (due at once" — it must not stay blocked for ever."""
    engine = sqlite_engine
    drive(engine, "OB-2", relative=False, n=22, steps=2)
    engine.fire("OB-2", "raise_objection", union(), at("2024-01-10T10:00:00+08:00"),
                {"objection_id": "O-1", "summary": "群众反映收入不实"})
    firer = TimerFirer(engine)
    clock = SimulatedClock(at("2024-01-10T11:00:00+08:00"))
    due = at("2024-01-16T00:00:00+08:00")
    assert [f.outcome for f in firer.catch_up(clock, due)] == ["blocked"]
    engine.fire("OB-2", "dismiss_objection", union(), due,
                {"objection_id": "O-1", "reason": "经核实不属实"})
    fired = firer.catch_up(clock, at("2024-01-31T00:00:00+08:00"))
    assert summary(fired) == [("OB-2", "unit_publicity_ended", due.isoformat(), "fired")]
    assert engine.stored_case("OB-2").state == "upper_review"  # type: ignore[union-attr]
    audit_ok(engine)


def test_a_backdated_dismissal_rearms_a_blocked_timer(sqlite_engine: Engine) -> None:
    """The scheduler found O-1 open when it tried the timer (2024-01-16 09:00); the union's
    dismissal is then recorded with the time it was decided, 2024-01-15 17:00 (before the
    publicity's end). With no objection open and the publicity elapsed, the next run fires it."""
    engine = sqlite_engine
    drive(engine, "OB-3", relative=False, n=23, steps=2)
    engine.fire("OB-3", "raise_objection", union(), at("2024-01-10T10:00:00+08:00"),
                {"objection_id": "O-1", "summary": "群众反映收入不实"})
    firer = TimerFirer(engine)
    stale_page = DueTimer("OB-3", "unit_publicity", at("2024-01-16T00:00:00+08:00"),
                          int(timer_row(engine, "OB-3")["armed_seq"]))
    assert firer.fire(stale_page, at("2024-01-16T09:00:00+08:00")).outcome == "blocked"
    engine.fire("OB-3", "dismiss_objection", union(), at("2024-01-15T17:00:00+08:00"),
                {"objection_id": "O-1", "reason": "经核实不属实"})
    fired = firer.catch_up(SimulatedClock(at("2024-01-16T09:30:00+08:00")),
                           at("2024-01-31T00:00:00+08:00"))
    assert [(f.trigger, f.outcome) for f in fired] == [("unit_publicity_ended", "fired")]
    audit_ok(engine)


# 4. Catch-up: strict due order, timers created by firing included, nothing twice ----------------

def test_catch_up_fires_everything_due_in_due_order_once(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    # A, D: unit publicity started 2024-01-08 → due 2024-01-16 00:00 (policies/RULES.md), a
    # tie broken by case id. C: history 01 up to its approval on Wed 2024-01-17 → media
    # publicity 01-18, 01-19, 01-22, 01-23, 01-24 → due 2024-01-25 00:00; archived then, deep
    # → re-check 12 months later, 2025-01-25. B: history 05 up to its approval on Wed
    # 2024-03-13 → media 03-14, 03-15, 03-18, 03-19, 03-20 → due 2024-03-21 00:00; archived
    # then, relative → re-check 6 months later, 2024-09-21 (before C's, though C was archived
    # first). E: withdrawn in unit publicity, fires nothing.
    drive(engine, "A", relative=False, n=31, steps=2)
    drive(engine, "B", relative=True, n=32, steps=4)
    drive(engine, "C", relative=False, n=33, steps=4)
    drive(engine, "D", relative=False, n=34, steps=2)
    drive(engine, "E", relative=False, n=35, steps=2)
    engine.fire("E", "withdraw", worker(resident_id(35)), at("2024-01-09T09:00:00+08:00"))
    created = event_count(engine)
    firer = TimerFirer(engine, page=2)  # small pages: the order must hold across pages
    end = at("2025-06-30T00:00:00+08:00")

    # The clock starts before the first due time, as `scheduler catch-up` starts it.
    fired = firer.catch_up(SimulatedClock(at("2024-01-09T10:00:00+08:00")), end)
    expected = [
        ("A", "unit_publicity_ended", "2024-01-16T00:00:00+08:00", "fired"),
        ("D", "unit_publicity_ended", "2024-01-16T00:00:00+08:00", "fired"),
        ("C", "media_publicity_ended", "2024-01-25T00:00:00+08:00", "fired"),
        ("B", "media_publicity_ended", "2024-03-21T00:00:00+08:00", "fired"),
        ("B", "recheck_due", "2024-09-21T00:00:00+08:00", "fired"),
        ("C", "recheck_due", "2025-01-25T00:00:00+08:00", "fired"),
    ]
    assert summary(fired) == expected
    assert all(f.at == f.timer.due for f in fired)
    moments = [f.at for f in fired]
    assert moments == sorted(moments)
    # The events carry those times, committed in that order.
    with engine.store.reading() as connection:
        stored = [(r.case_id, r.trigger) for r in connection.execute(
            select(events.c.case_id, events.c.trigger).where(events.c.position > created)
            .order_by(events.c.position))]
    assert stored == [(c, t) for c, t, _, _ in expected]

    assert firer.catch_up(SimulatedClock(at("2024-01-01T00:00:00+08:00")), end) == []
    assert event_count(engine) == created + len(expected)
    audit_ok(engine)


def test_cli_catch_up_twice(sqlite_engine: Engine) -> None:
    """`scheduler catch-up --until`: what fired, in due order; the second run fires nothing."""
    engine = sqlite_engine
    drive(engine, "A", relative=False, n=41, steps=2)   # unit publicity due 2024-01-16
    drive(engine, "B", relative=True, n=42, steps=4)    # media due 2024-03-21, re-check 09-21
    args = ["scheduler", "catch-up", "--until", "2024-12-31", "--db", url_of(engine),
            "--format", "json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    assert (out["fired"], out["blocked"]) == (3, 0)
    assert [(f["case"], f["trigger"], f["at"]) for f in out["firings"]] == [
        ("A", "unit_publicity_ended", "2024-01-16T00:00:00+08:00"),
        ("B", "media_publicity_ended", "2024-03-21T00:00:00+08:00"),
        ("B", "recheck_due", "2024-09-21T00:00:00+08:00")]
    assert all(f["at"] == f["due"] for f in out["firings"])
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["firings"] == []
    audit_ok(engine)


def test_service_start_fires_what_fell_due_while_nothing_ran(sqlite_engine: Engine) -> None:
    """The APScheduler service on the real clock: timers due since 2024 fire at its start, in
    due order, each dated at its due time (not the moment it ran); then it stops cleanly."""
    engine = sqlite_engine
    # Unit publicity started on five different days → five different due times (all 2024).
    starts = ["2024-03-04", "2024-01-08", "2024-05-06", "2024-02-19", "2024-04-08"]
    for k, day in enumerate(starts):
        to_publicity(engine, f"S-{k}", 50 + k, f"{day}T10:00:00+08:00")
    with engine.store.reading() as connection:
        due = {r.case_id: r.due for r in connection.execute(select(timers))}
    done = threading.Event()
    seen: list[Firing] = []

    def on_fire(firing: Firing) -> None:
        seen.append(firing)
        if len(seen) == len(starts):
            done.set()

    service = SchedulerService(engine, clock=RealClock(), blocking=False, on_fire=on_fire)
    service.start()
    try:
        assert done.wait(20), f"only {len(seen)} fired"
    finally:
        service.stop()
    assert not service.scheduler.running
    assert [f.outcome for f in seen] == ["fired"] * len(starts)
    assert [f.timer.case_id for f in seen] == sorted(due, key=lambda c: due[c])
    assert all(f.at == from_utc_text(due[f.timer.case_id]) for f in seen)
    for case_id in due:
        [event] = [e for e in engine.history(case_id, AUDITOR)
                   if e.trigger == "unit_publicity_ended"]
        assert event.at == from_utc_text(due[case_id]) and event.derived.due is None
    for case_id in due:
        case = engine.stored_case(case_id)
        assert case is not None and case.state == "upper_review"
        assert case.last_at == from_utc_text(due[case_id])
    assert Counter(t for _, t in triggers_of(engine))["unit_publicity_ended"] == len(starts)
    audit_ok(engine)


def test_a_failure_inside_a_batch_of_firings_leaves_none_of_it(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catch-up fires a page of timers in one transaction (a savepoint per firing): an
    unexpected failure at the third firing rolls back the whole page — no event, every timer
    still pending — and the next catch-up fires each timer once."""
    for n in range(5):  # 5 cases in unit publicity, all due 2024-01-16 00:00
        drive(sqlite_engine, f"B{n}", relative=False, n=n, steps=2)
    real_write = UnitOfWork.write
    calls: list[int] = []

    def failing_write(self: UnitOfWork, w: Any) -> None:
        if w.event.trigger == "unit_publicity_ended":
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("injected: disk gone at the third firing")
        real_write(self, w)

    monkeypatch.setattr(UnitOfWork, "write", failing_write)
    clock = SimulatedClock(at("2024-01-15T00:00:00+08:00"))
    with pytest.raises(RuntimeError):
        TimerFirer(sqlite_engine).catch_up(clock, at("2024-01-20T00:00:00+08:00"))
    monkeypatch.undo()
    with sqlite_engine.store.reading() as connection:
        fired = connection.execute(select(events.c.case_id).where(
            events.c.trigger == "unit_publicity_ended")).all()
        statuses = {r.status for r in connection.execute(select(timers.c.status))}
    assert fired == [] and statuses == {"pending"}
    again = TimerFirer(sqlite_engine).catch_up(SimulatedClock(at("2024-01-15T00:00:00+08:00")),
                                               at("2024-01-20T00:00:00+08:00"))
    assert sorted(f.timer.case_id for f in again if f.outcome == "fired") == [
        f"B{n}" for n in range(5)]
