"""What a host passes to the engine and gets back (issue 14): every public call refuses a naive
datetime with InvalidArgument (E-INPUT) naming the parameter, case ids are checked, every time
handed out is aware and in Asia/Shanghai, a missing store is not created, timers and case lists
page within the reader's remit. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_SUBMIT,
    XINWU,
    at,
    deep_application,
    drive,
    resident_id,
    union,
)

from jiekun.policies.errors import InvalidArgument, NotAuthorized, SchemaBehind
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.engine import Engine

NAIVE = datetime(2024, 1, 8, 10, 0)
EIGHT_HOURS = timedelta(hours=8)


def _tables(engine: Engine) -> list[object]:
    return [engine.events_since(0), engine.cases(AUDITOR)]


def test_every_public_call_refuses_a_naive_time_naming_it(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    before = _tables(engine)
    calls: dict[str, Callable[[], object]] = {
        "at": lambda: engine.fire("A", "start_preliminary_review", union(), NAIVE),
        "until": lambda: engine.history("A", AUDITOR, until=NAIVE),
        "when": lambda: engine.state_as_of("A", NAIVE, AUDITOR),
        "recheck_due_before": lambda: engine.cases(AUDITOR, recheck_due_before=NAIVE),
    }
    for parameter, call in calls.items():
        with pytest.raises(InvalidArgument) as refused:
            call()
        assert refused.value.code == "E-INPUT"
        assert [p.path for p in refused.value.problems] == [parameter]
    with pytest.raises(InvalidArgument) as refused:
        engine.submit("B", deep_application(resident_id(2)), union(), NAIVE)
    assert refused.value.problems[0].path == "at"
    with pytest.raises(InvalidArgument) as refused:
        engine.pending_timers(AUDITOR, NAIVE)
    assert refused.value.problems[0].path == "until"
    with pytest.raises(InvalidArgument) as refused:
        TimerFirer(engine).catch_up(SimulatedClock(at(DEEP_SUBMIT)), NAIVE)
    assert refused.value.problems[0].path == "until"
    assert _tables(engine) == before


@pytest.mark.parametrize("bad", ["", "x" * 65, "x" * 5000, "C 1", "案件-1", "C/1"])
def test_case_ids_are_checked_before_anything_is_stored(engine: Engine, bad: str) -> None:
    before = _tables(engine)
    with pytest.raises(InvalidArgument) as refused:
        engine.submit(bad, deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    assert refused.value.problems[0].path == "case_id"
    with pytest.raises(InvalidArgument):
        engine.case(bad, AUDITOR)
    assert _tables(engine) == before
    assert engine.submit("C-1.a_" + "x" * 58, deep_application(resident_id(1)), union(),
                         at(DEEP_SUBMIT)).seq == 1


def test_every_time_handed_out_is_in_wuxi(engine: Engine) -> None:
    """A caller in UTC gets +08:00 back: from fire, from reads, in timers and derivations."""
    moment = at(DEEP_SUBMIT).astimezone(UTC)
    event = engine.submit("A", deep_application(resident_id(1)), union(), moment)
    assert event.at.utcoffset() == EIGHT_HOURS and event.at == moment
    engine.fire("A", "start_preliminary_review", union(), moment + timedelta(hours=1))
    fired = engine.fire("A", "pass_preliminary_review", union(), moment + timedelta(hours=2))
    [timer] = fired.derived.timers
    assert timer.started.utcoffset() == EIGHT_HOURS and timer.due is not None
    assert timer.due.utcoffset() == EIGHT_HOURS
    for read in engine.history("A", AUDITOR):
        assert read.at.utcoffset() == EIGHT_HOURS
    case = engine.case("A", AUDITOR)
    assert case.last_at is not None and case.last_at.utcoffset() == EIGHT_HOURS
    [pending] = engine.pending_timers(AUDITOR, at("2024-12-31T00:00:00+08:00"))
    assert pending["due"] == timer.due and pending["due"].utcoffset() == EIGHT_HOURS
    assert engine.events_since(0)[-1][1].at.utcoffset() == EIGHT_HOURS


def test_opening_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    with pytest.raises(SchemaBehind) as behind:
        Engine.open(f"sqlite:///{path}")
    assert "jiekun db upgrade" in behind.value.message and "upgrade=True" in behind.value.message
    assert not path.exists()
    with Engine.open(f"sqlite:///{path}", upgrade=True) as engine:
        assert engine.cases(AUDITOR) == []
    assert path.exists()


def test_pending_timers_and_case_lists_page_within_the_readers_remit(engine: Engine) -> None:
    for n in range(5):  # deep (wuxi-city), in unit publicity from 2024-01-08
        drive(engine, f"D-{n}", relative=False, n=n, steps=2)
    for n in range(5, 8):  # relative (xinwu), from 2024-03-04
        drive(engine, f"R-{n}", relative=True, n=n, steps=2)
    end = at("2024-12-31T00:00:00+08:00")
    everything = engine.pending_timers(AUDITOR, end)
    assert [t["case"] for t in everything] == [*(f"D-{n}" for n in range(5)),
                                               *(f"R-{n}" for n in range(5, 8))]
    assert all(t["timer"] == "unit_publicity" for t in everything)
    first = engine.pending_timers(AUDITOR, end, limit=3)
    rest = engine.pending_timers(AUDITOR, end, after=(first[-1]["due"], first[-1]["case"]))
    assert first + rest == everything
    # a district federation sees the cases it reviews only
    assert [t["case"] for t in engine.pending_timers(XINWU, end)] == ["R-5", "R-6", "R-7"]
    assert [t["case"] for t in engine.pending_timers(union(), end)] == [
        t["case"] for t in everything]
    assert [t["case"] for t in engine.pending_timers(CITY, end)] == [
        t["case"] for t in everything]
    page = engine.cases(AUDITOR, limit=3)
    assert [c["case_id"] for c in page] == ["D-0", "D-1", "D-2"]
    assert [c["case_id"] for c in engine.cases(AUDITOR, limit=3, after="D-2")] == [
        "D-3", "D-4", "R-5"]
    with pytest.raises(NotAuthorized):
        engine.case("D-0", XINWU)


def test_bad_arguments_are_named_and_change_nothing(engine: Engine) -> None:
    """What a host's bug could pass: each is InvalidArgument naming the parameter, never a
    bare TypeError or AttributeError, and nothing is stored."""
    application = deep_application(resident_id(1))
    moment = at(DEEP_SUBMIT)
    calls: dict[str, Callable[[], object]] = {
        "data": lambda: engine.submit("A", "not a dict", union(), moment),  # type: ignore[arg-type]
        "actor": lambda: engine.submit("A", application, None, moment),  # type: ignore[arg-type]
        "trigger": lambda: engine.fire("A", None, union(), moment),  # type: ignore[arg-type]
        "at": lambda: engine.submit("A", application, union(), "2024-01-08"),  # type: ignore[arg-type]
        "idempotency_key": lambda: engine.submit("A", application, union(), moment,
                                                 idempotency_key=5),  # type: ignore[arg-type]
        "expected_version": lambda: engine.fire("A", "withdraw", union(), moment,
                                                expected_version="1"),  # type: ignore[arg-type]
        "position": lambda: engine.events_since(-1),
        "limit": lambda: engine.cases(AUDITOR, limit=-5),
    }
    for parameter, call in calls.items():
        with pytest.raises(InvalidArgument) as refused:
            call()
        assert refused.value.problems[0].path == parameter, parameter
    assert _tables(engine) == [[], []]


def test_a_blocked_timer_is_listed_apart_and_only_when_asked(engine: Engine) -> None:
    drive(engine, "D-0", relative=False, n=0, steps=2)  # unit publicity from 2024-01-08
    engine.fire("D-0", "raise_objection", union(), at("2024-01-09T09:00:00+08:00"),
                {"objection_id": "OBJ-1", "summary": "有异议"})
    end = at("2024-03-01T00:00:00+08:00")
    [firing] = TimerFirer(engine).catch_up(SimulatedClock(end), end)
    assert firing.outcome == "blocked"
    assert engine.pending_timers(AUDITOR, end) == []
    [waiting] = engine.pending_timers(AUDITOR, end, blocked=True)
    assert (waiting["case"], waiting["status"], waiting["fires"]) == (
        "D-0", "blocked", "unit_publicity_ended")
    assert engine.pending_timers(XINWU, end, blocked=True) == []  # not its case
