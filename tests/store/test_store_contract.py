"""The durable store's contract (issue 3): one suite, run against SQLite and a real
PostgreSQL 15 server (the ``backend`` fixture is parametrized over both).

Expected values come from states/LIFECYCLE.md / policies/RULES.md and the worked histories 01
and 05, whose
times the expected reports vouch for (see store_cases.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy import inspect, text
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_SUBMIT,
    GU,
    SYSTEM,
    XINWU,
    at,
    count,
    deep_application,
    drive,
    dump_tables,
    relative_application,
    resident_id,
    union,
    worker,
)

from jiekun.persistence.database import make_engine, require_current_schema, upgrade
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    GuardFailed,
    IdempotencyMismatch,
    InvalidInput,
    InvalidPayload,
    JiekunError,
    NotAuthorized,
    SchemaBehind,
    TransitionNotAllowed,
)
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event

OpenEngine = Callable[[str], Engine]
T1 = at("2024-01-08T10:00:00+08:00")
T2 = at("2024-01-08T11:00:00+08:00")


def stored(engine: Engine) -> list[tuple[str, int, str]]:
    return [(e.case_id, e.seq, e.trigger) for _, e in engine.events_since(0)]


def tables(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.store.reading() as connection:
        return dump_tables(connection)


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["case_id"] for r in rows]


# --- submit and fire --------------------------------------------------------------------------

def test_submit_and_fire_record_event_projection_and_timer(engine: Engine) -> None:
    id_number = resident_id(1)
    first = engine.submit("A", deep_application(id_number), union(), at(DEEP_SUBMIT))
    assert (first.case_id, first.seq, first.trigger) == ("A", 1, "submit")
    case = engine.stored_case("A")
    assert case is not None
    assert (case.state, case.version, case.grassroots_union, case.applicant_id) == (
        "submitted", 1, GU, id_number)
    assert case.application is not None and case.application.applicant.id_number == id_number

    second = engine.fire("A", "start_preliminary_review", union(), T1)
    third = engine.fire("A", "pass_preliminary_review", union(), T2)
    assert (second.seq, third.seq) == (2, 3)
    case = engine.stored_case("A")
    assert case is not None
    # 12,000 a year for two people = 500 a month each, under L = 1095 (Jan 2024): deep, and
    # deep cases are reviewed by wuxi-city (policies/RULES.md §1.1).
    assert (case.state, case.version, case.category, case.reviewing_body) == (
        "unit_publicity", 3, "deep", "wuxi-city")
    # Unit publicity started Mon 2024-01-08, 5 working days 01-09 … 01-15 → elapsed from
    # 2024-01-16 00:00+08:00 (policies/RULES.md's example) = 2024-01-15 16:00 UTC.
    [timer] = case.timers
    assert (timer.kind.value, timer.due) == ("unit_publicity", at("2024-01-16T00:00:00+08:00"))
    with engine.store.reading() as connection:
        rows = dump_tables(connection)["timers"]
    assert rows == [("A", "unit_publicity", "2024-01-15T16:00:00.000000Z", "pending", 3)]
    assert stored(engine) == [("A", 1, "submit"), ("A", 2, "start_preliminary_review"),
                              ("A", 3, "pass_preliminary_review")]


def test_refused_commands_store_nothing(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    rich = deep_application(resident_id(2))
    rich["household"]["members"][0]["annual_income"] = "200000"  # 100,000 a year each: no way
    engine.submit("R", rich, union(), at(DEEP_SUBMIT))
    engine.fire("R", "start_preliminary_review", union(), T1)
    good = resident_id(3)
    bad_id = deep_application(good[:17] + ("1" if good[17] == "0" else "0"))  # check char

    refusals: list[tuple[type[JiekunError], str | None, Callable[[], Event]]] = [
        (TransitionNotAllowed, None, lambda: engine.fire("NOPE", "start_preliminary_review",
                                                         union(), T1)),
        (InvalidInput, "E-PAYLOAD", lambda: engine.submit("B", bad_id, union(), T1)),
        # the applicant of A already has an open case
        (GuardFailed, "R-ONE-OPEN-CASE", lambda: engine.submit(
            "C", deep_application(resident_id(1)), union(), T1)),
        (TransitionNotAllowed, None, lambda: engine.submit(
            "A", deep_application(resident_id(4)), union(), T1)),
        (TransitionNotAllowed, None, lambda: engine.fire("A", "approve", CITY, T1)),
        (NotAuthorized, None, lambda: engine.fire("A", "start_preliminary_review",
                                                  union("gu-other"), T1)),
        (NotAuthorized, None, lambda: engine.fire("A", "start_preliminary_review", AUDITOR, T1)),
        (InvalidPayload, None, lambda: engine.fire("R", "request_supplement", union(), T2)),
        (GuardFailed, "R-ELIGIBLE", lambda: engine.fire("R", "pass_preliminary_review",
                                                        union(), T2)),
    ]
    before = tables(engine)
    for error, rule, call in refusals:
        with pytest.raises(error) as refused:
            call()
        if rule is not None:
            assert refused.value.rule == rule
        assert tables(engine) == before, f"{error.__name__} left a trace"
    assert stored(engine) == [("A", 1, "submit"), ("R", 1, "submit"),
                              ("R", 2, "start_preliminary_review")]


# --- idempotency and optimistic concurrency ---------------------------------------------------

def test_the_same_command_twice_records_one_event(engine: Engine, backend: str,
                                                  open_engine: OpenEngine) -> None:
    application = deep_application(resident_id(1))
    first = engine.submit("A", application, union(), at(DEEP_SUBMIT), idempotency_key="k-sub")
    again = engine.submit("A", application, union(), at(DEEP_SUBMIT), idempotency_key="k-sub")
    assert again == first
    started = engine.fire("A", "start_preliminary_review", union(), T1, idempotency_key="k-st")
    engine.fire("A", "pass_preliminary_review", union(), T2)
    # a retry that arrives after the case moved on still gets the original event back,
    # also through another engine on the same store (another process retrying)
    other = open_engine(backend)
    assert other.fire("A", "start_preliminary_review", union(), T1,
                      idempotency_key="k-st") == started
    assert engine.fire("A", "start_preliminary_review", union(), T1,
                       idempotency_key="k-st").seq == 2
    assert stored(engine) == [("A", 1, "submit"), ("A", 2, "start_preliminary_review"),
                              ("A", 3, "pass_preliminary_review")]
    case = engine.stored_case("A")
    assert case is not None and (case.state, case.version) == ("unit_publicity", 3)


def test_an_idempotency_key_reused_for_another_command_is_refused(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT),
                  idempotency_key="k-1")
    engine.fire("A", "start_preliminary_review", union(), T1, idempotency_key="k-2")
    before = tables(engine)
    with pytest.raises(JiekunError):  # same case, another trigger
        engine.fire("A", "request_supplement", union(), T2, {"reason": "补材料"},
                    idempotency_key="k-2")
    with pytest.raises(IdempotencyMismatch) as mismatch:  # same trigger, another payload
        engine.submit("A", deep_application(resident_id(3)), union(), at(DEEP_SUBMIT),
                      idempotency_key="k-1")
    assert mismatch.value.code == "E-IDEMPOTENCY"
    assert tables(engine) == before
    # the key is the caller's for this case: on another case it is another request
    event = engine.submit("B", deep_application(resident_id(2)), union(), at(DEEP_SUBMIT),
                          idempotency_key="k-1")
    assert (event.case_id, event.seq) == ("B", 1)


def test_a_repeated_key_gives_nothing_to_another_caller(engine: Engine) -> None:
    """Issue 14: another union re-sending ``submit`` with a used key and another application
    is a new request of its own (here refused, the case exists), and gets nothing stored;
    the caller that used the key gets its own event back, once."""
    first = engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT),
                          idempotency_key="k-1")
    before = tables(engine)
    evil = Actor("grassroots_union", org="gu-evil")
    with pytest.raises(JiekunError) as refused:
        engine.submit("A", deep_application(resident_id(2)), evil, at(DEEP_SUBMIT),
                      idempotency_key="k-1")
    assert not isinstance(refused.value, IdempotencyMismatch)
    shown = f"{refused.value} {vars(refused.value)}"
    assert resident_id(1) not in shown and "13900000001" not in shown
    assert tables(engine) == before
    again = engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT),
                          idempotency_key="k-1")
    assert again == first and tables(engine) == before


def test_a_key_scope_keeps_no_worker_id_number(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    applicant = resident_id(1)
    event = engine.fire("A", "withdraw", worker(applicant), T1, idempotency_key="withdraw-1")
    with engine.store.reading() as connection:
        keys = [str(k) for (k,) in connection.execute(
            text("SELECT idempotency_key FROM events WHERE idempotency_key IS NOT NULL"))]
    assert len(keys) == 1 and applicant not in keys[0] and "withdraw-1" not in keys[0]
    # the worker's retry finds its event; the same key from another worker is theirs alone
    assert engine.fire("A", "withdraw", worker(applicant), T1,
                       idempotency_key="withdraw-1") == event
    with pytest.raises(JiekunError) as other:
        engine.fire("A", "withdraw", worker(resident_id(2)), T1, idempotency_key="withdraw-1")
    assert not isinstance(other.value, IdempotencyMismatch)


def test_a_stale_expected_version_is_a_concurrency_conflict(engine: Engine, backend: str,
                                                            open_engine: OpenEngine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    assert engine.fire("A", "start_preliminary_review", union(), T1,
                       expected_version=1).seq == 2
    before = tables(engine)
    for stale in (0, 1):
        with pytest.raises(ConcurrencyConflict) as conflict:
            engine.fire("A", "pass_preliminary_review", union(), T2, expected_version=stale)
        assert isinstance(conflict.value, JiekunError)
        assert (conflict.value.case_id, conflict.value.expected, conflict.value.actual) == (
            "A", stale, 2)
    # a reviewer in another process who read version 2 before this one moved the case on
    other = open_engine(backend)
    engine.fire("A", "request_supplement", union(), T2, {"reason": "补充收入证明"},
                expected_version=2)
    with pytest.raises(ConcurrencyConflict):
        other.fire("A", "pass_preliminary_review", union(), T2, expected_version=2)
    assert tables(other)["events"] == tables(engine)["events"]
    assert len(tables(engine)["events"]) == len(before["events"]) + 1
    case = engine.stored_case("A")
    assert case is not None and (case.state, case.version) == ("submitted", 3)


# --- queries ----------------------------------------------------------------------------------

@pytest.fixture
def three_cases(engine: Engine) -> Engine:
    """D: deep, archived 2024-01-25 (wuxi-city); R: relative, archived 2024-03-21 (xinwu);
    P: deep, in preliminary review (no reviewing body yet)."""
    drive(engine, "D", relative=False, n=1, steps=5)
    drive(engine, "R", relative=True, n=2, steps=5)
    drive(engine, "P", relative=False, n=3, steps=1)
    return engine


def test_case_and_case_lists(three_cases: Engine) -> None:
    engine = three_cases
    case = engine.case("D", AUDITOR)
    assert (case.state, case.version, case.category, case.reviewing_body) == (
        "archived", 6, "deep", "wuxi-city")
    assert case.archive_number is not None
    # re-check of a deep case: 12 months after the archive date 2024-01-25 → due from
    # 2025-01-25 00:00+08:00 (policies/RULES.md, month timers)
    [timer] = case.timers
    assert (timer.kind.value, timer.due) == ("recheck", at("2025-01-25T00:00:00+08:00"))
    with pytest.raises(CaseNotFound):
        engine.case("nope", AUDITOR)

    assert ids(engine.cases(AUDITOR)) == ["D", "P", "R"]
    assert ids(engine.cases(AUDITOR, state="archived")) == ["D", "R"]
    assert ids(engine.cases(AUDITOR, state="preliminary_review")) == ["P"]
    assert ids(engine.cases(AUDITOR, state="rejected")) == []
    assert ids(engine.cases(AUDITOR, reviewing_body="xinwu")) == ["R"]
    assert ids(engine.cases(AUDITOR, reviewing_body="wuxi-city")) == ["D"]
    assert ids(engine.cases(AUDITOR, state="archived", reviewing_body="xinwu")) == ["R"]
    [row] = engine.cases(AUDITOR, reviewing_body="xinwu")
    assert (row["state"], row["version"], row["category"]) == ("archived", 6, "relative")


def test_cases_by_recheck_due(three_cases: Engine) -> None:
    engine = three_cases
    # R (relative) archived 2024-03-21: due 6 months later, 2024-09-21 00:00+08:00;
    # D (deep) archived 2024-01-25: due 12 months later, 2025-01-25 00:00+08:00.
    due = lambda when: ids(engine.cases(AUDITOR, recheck_due_before=at(when)))  # noqa: E731
    assert due("2024-09-20T12:00:00+08:00") == []
    assert due("2024-09-22T00:00:00+08:00") == ["R"]
    assert due("2025-01-24T12:00:00+08:00") == ["R"]
    assert due("2025-01-26T00:00:00+08:00") == ["D", "R"]
    # once R's re-check is under way it is no longer due
    engine.fire("R", "recheck_due", SYSTEM, at("2024-09-21T02:00:00+08:00"))
    assert due("2025-01-26T00:00:00+08:00") == ["D"]


def test_history_and_state_as_of_a_past_time(three_cases: Engine) -> None:
    engine = three_cases
    history = engine.history("D", AUDITOR)
    assert [(e.seq, e.trigger) for e in history] == [
        (1, "submit"), (2, "start_preliminary_review"), (3, "pass_preliminary_review"),
        (4, "unit_publicity_ended"), (5, "approve"), (6, "media_publicity_ended")]
    assert history[0].data == deep_application(resident_id(1))  # joined from the vault
    until = engine.history("D", AUDITOR, until=at("2024-01-16T12:00:00+08:00"))
    assert [e.seq for e in until] == [1, 2, 3, 4]

    assert engine.state_as_of("D", at("2024-01-08T08:59:59+08:00"), AUDITOR) is None
    then = engine.state_as_of("D", at("2024-01-10T12:00:00+08:00"), AUDITOR)
    assert then is not None
    assert (then.state, then.version, then.category, then.reviewing_body) == (
        "unit_publicity", 3, "deep", "wuxi-city")
    upper = engine.state_as_of("D", at("2024-01-17T08:00:00+08:00"), AUDITOR)
    assert upper is not None and (upper.state, upper.version) == ("upper_review", 4)
    now = engine.state_as_of("D", at("2030-01-01T00:00:00+08:00"), AUDITOR)
    assert now == engine.stored_case("D")


# --- the notification log and listeners -------------------------------------------------------

def test_events_since_is_a_durable_cursor_in_commit_order(engine: Engine, backend: str,
                                                          open_engine: OpenEngine) -> None:
    fired = [
        engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT)),
        engine.submit("B", relative_application(resident_id(2)), union(), at(DEEP_SUBMIT)),
        engine.fire("B", "start_preliminary_review", union(), T1),
        engine.fire("A", "start_preliminary_review", union(), T1),
    ]
    with pytest.raises(JiekunError):  # refused: never in the log
        engine.fire("A", "approve", CITY, T2)
    fired.append(engine.fire("A", "pass_preliminary_review", union(), T2))
    log = engine.events_since(0)
    assert [event for _, event in log] == fired
    positions = [position for position, _ in log]
    assert positions == sorted(set(positions))

    assert engine.events_since(positions[1]) == log[2:]
    assert engine.events_since(0, limit=2) == log[:2]
    assert engine.events_since(positions[-1]) == []

    # a consumer restarted in another process resumes from the position it kept
    cursor = positions[2]
    later = open_engine(backend)
    assert later.events_since(cursor) == log[3:]
    newest = later.fire("B", "pass_preliminary_review", union(), T2)
    tail = engine.events_since(positions[-1])
    assert [event for _, event in tail] == [newest] and tail[0][0] > positions[-1]


def test_listeners_are_called_after_commit_and_never_for_refusals(engine: Engine) -> None:
    calls: list[Event] = []
    visible: list[bool] = []

    def listener(event: Event) -> None:
        calls.append(event)
        # committed already: another connection reading the log sees it
        visible.append(any(e == event for _, e in engine.events_since(0)))

    unsubscribe = engine.subscribe(listener)
    first = engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    assert calls == [first] and visible == [True]
    for refused in (lambda: engine.fire("A", "approve", CITY, T1),
                    lambda: engine.fire("A", "start_preliminary_review", union(), T1,
                                        expected_version=0),
                    lambda: engine.fire("A", "start_preliminary_review", union("gu-x"), T1)):
        with pytest.raises(JiekunError):
            refused()
    assert calls == [first]
    second = engine.fire("A", "start_preliminary_review", union(), T1)
    assert calls == [first, second] and visible == [True, True]
    unsubscribe()
    engine.fire("A", "pass_preliminary_review", union(), T2)
    assert calls == [first, second]


# --- reads within the reader's remit ----------------------------------------------------------

@pytest.fixture(scope="module")
def remit_cases(module_backend: str, decider: Decider) -> Iterator[Engine]:
    """X: relative, union gu-a, archived, reviewed by xinwu; D: deep, union gu-b, in upper
    review, reviewed by wuxi-city; S: deep, union gu-a, only submitted (no reviewing body).
    Shared by the read-only tests below."""
    engine = Engine.open(module_backend, decider=decider)
    drive(engine, "X", relative=True, n=11, steps=5, org="gu-a")
    drive(engine, "D", relative=False, n=12, steps=3, org="gu-b")
    drive(engine, "S", relative=False, n=13, steps=0, org="gu-a")
    yield engine
    engine.store.engine.dispose()


READERS = [
    (Actor("federation", org="xinwu"), ["X"]),
    (Actor("federation", org="wuxi-city"), ["D", "S", "X"]),
    (Actor("federation", org="binhu"), []),
    (Actor("grassroots_union", org="gu-a"), ["S", "X"]),
    (Actor("grassroots_union", org="gu-b"), ["D"]),
    (Actor("grassroots_union", org="gu-c"), []),
    (worker(resident_id(11)), ["X"]),
    (worker(resident_id(13)), ["S"]),
    (worker(resident_id(99)), []),
    (Actor("worker"), []),
    (Actor("auditor"), ["D", "S", "X"]),
    (Actor("guest", org="gu-a"), []),
]


@pytest.mark.parametrize(("reader", "sees"), READERS, ids=[r.label for r, _ in READERS])
def test_reads_are_within_the_readers_remit(remit_cases: Engine, reader: Actor,
                                            sees: list[str]) -> None:
    engine = remit_cases
    assert ids(engine.cases(reader)) == sees
    for case_id in ("D", "S", "X"):
        if case_id in sees:
            assert engine.case(case_id, reader).case_id == case_id
            assert len(engine.history(case_id, reader)) == engine.case(case_id, reader).version
            assert engine.state_as_of(case_id, at("2030-01-01T00:00:00+08:00"),
                                      reader) is not None
        else:
            with pytest.raises(NotAuthorized):
                engine.case(case_id, reader)
            with pytest.raises(NotAuthorized):
                engine.history(case_id, reader)
            with pytest.raises(NotAuthorized):
                engine.state_as_of(case_id, at("2030-01-01T00:00:00+08:00"), reader)


def test_a_list_filtered_outside_the_remit_is_empty(remit_cases: Engine) -> None:
    engine = remit_cases
    assert engine.cases(XINWU, reviewing_body="wuxi-city") == []
    assert ids(engine.cases(XINWU, reviewing_body="xinwu")) == ["X"]
    assert ids(engine.cases(CITY, reviewing_body="xinwu")) == ["X"]
    assert ids(engine.cases(union("gu-a"), state="submitted")) == ["S"]
    assert engine.cases(union("gu-b"), state="submitted") == []


# --- the schema -------------------------------------------------------------------------------

def test_the_engine_refuses_a_schema_that_is_behind(new_store: Callable[..., str],
                                                    decider: Decider) -> None:
    url = new_store(upgraded=False)
    with pytest.raises(SchemaBehind) as behind:
        Engine.open(url, decider=decider)
    assert isinstance(behind.value, JiekunError)
    assert "jiekun db upgrade" in str(behind.value)
    raw = make_engine(url)
    try:
        # refusing created nothing: the schema is made by migrations only
        with raw.connect() as connection:
            assert "events" not in inspect(connection).get_table_names()
        upgrade(raw)
        require_current_schema(raw)
        with raw.connect() as connection:
            assert {"events", "cases", "timers", "personal_data", "case_personal"} <= set(
                inspect(connection).get_table_names())
            assert count(connection, "events") == 0
    finally:
        raw.dispose()
    opened = Engine.open(url, decider=decider)
    try:
        opened.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
        assert stored(opened) == [("A", 1, "submit")]
    finally:
        opened.store.engine.dispose()


def test_times_are_stored_in_utc_and_read_back_as_the_same_instant(engine: Engine) -> None:
    moment = datetime.fromisoformat("2024-01-08T09:00:00.123456+08:00")
    engine.submit("A", deep_application(resident_id(1)), union(), moment)
    [(_, event)] = engine.events_since(0)
    assert event.at == moment and event.at.utcoffset() is not None
    with engine.store.reading() as connection:
        [row] = dump_tables(connection)["events"]
    assert "2024-01-08T01:00:00.123456Z" in row


def test_a_projection_row_has_exactly_the_case_table_columns_in_order() -> None:
    """The store writes a ProjectionRow's fields as the ``cases`` row (``vars`` of it)."""
    import dataclasses

    from jiekun.persistence.schema import cases
    from jiekun.persistence.statements import ProjectionRow
    assert [f.name for f in dataclasses.fields(ProjectionRow)] == [c.name for c in cases.c]
