"""Refused commands leave a trace (issue 16), on SQLite and PostgreSQL: every refusal on the
store is one line of the ``attempts`` log (time, case, actor, trigger, code), apart from the
chain; no payload, no personal data; an accepted command adds none; E-INPUT and E-BUSY none;
a blocked timer one, however often the scheduler passes; a failing log write never turns a
refusal into an acceptance."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_SUBMIT,
    GU,
    at,
    deep_application,
    drive,
    resident_id,
    union,
    worker,
)

from jiekun.persistence.chain import utc_text
from jiekun.persistence.schema import attempts
from jiekun.persistence.store import UnitOfWork
from jiekun.policies.errors import (
    GuardFailed,
    HistoryOutOfOrder,
    InvalidArgument,
    NotAuthorized,
    TransitionNotAllowed,
)
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.attempts import attempt_actor
from jiekun.workflow.cli import main
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.engine import Engine

T1 = at("2024-01-08T10:00:00+08:00")
PERSONAL = ("成员0", "成员1", "13900000001", "测试企业", "测试社区", "12000")


def lines(engine: Engine) -> list[dict[str, Any]]:
    with engine.store.reading() as connection:
        rows = connection.execute(select(attempts).order_by(attempts.c.position))
        return [dict(r._mapping) for r in rows]


def short(engine: Engine) -> list[tuple[Any, ...]]:
    return [(r["case_id"], r["trigger"], r["actor_role"], r["actor_org"], r["code"])
            for r in lines(engine)]


def every_cell(engine: Engine) -> str:
    return "\n".join(str(v) for row in lines(engine) for v in row.values())


def url_of(engine: Engine) -> str:
    return engine.store.engine.url.render_as_string(hide_password=False)


def test_each_refusal_leaves_one_line_without_personal_data(engine: Engine) -> None:
    id_number = resident_id(1)
    engine.submit("A", deep_application(id_number), union(), at(DEEP_SUBMIT))
    assert lines(engine) == []
    refusals: list[tuple[type[Exception], str, Any]] = [
        (TransitionNotAllowed, "E-TRANSITION",
         lambda: engine.fire("A", "approve", CITY, T1)),
        (GuardFailed, "R-ONE-OPEN-CASE",  # the applicant of A already has an open case
         lambda: engine.submit("C", deep_application(id_number), union(), T1)),
        (HistoryOutOfOrder, "E-ORDER",
         lambda: engine.fire("A", "start_preliminary_review", union(),
                             at("2024-01-01T09:00:00+08:00"))),
        (NotAuthorized, "E-ACTOR",
         lambda: engine.fire("A", "start_preliminary_review", union("gu-other"), T1)),
        (NotAuthorized, "E-ACTOR",  # the applicant themself: kept by a digest only
         lambda: engine.fire("A", "start_preliminary_review", worker(id_number), T1)),
    ]
    for count, (error, code, call) in enumerate(refusals, start=1):
        with pytest.raises(error) as refused:
            call()
        assert refused.value.code == code
        assert len(lines(engine)) == count, code
        assert lines(engine)[-1]["code"] == code
    digest = attempt_actor(worker(id_number))[1]
    assert digest is not None and digest.startswith("id:")
    assert short(engine) == [
        ("A", "approve", "federation", "wuxi-city", "E-TRANSITION"),
        ("C", "submit", "grassroots_union", GU, "R-ONE-OPEN-CASE"),
        ("A", "start_preliminary_review", "grassroots_union", GU, "E-ORDER"),
        ("A", "start_preliminary_review", "grassroots_union", "gu-other", "E-ACTOR"),
        ("A", "start_preliminary_review", "worker", digest, "E-ACTOR"),
    ]
    first = lines(engine)[0]
    assert first["at"] == utc_text(T1) == "2024-01-08T02:00:00.000000Z"
    assert first["recorded_at"] > "2025"  # the moment it was written, not the command's time
    cells = every_cell(engine)
    for personal in (id_number, id_number.lower(), *PERSONAL):
        assert personal not in cells
    assert [e.seq for e in engine.history("A", AUDITOR)] == [1]  # nothing else stored


def test_an_accepted_command_adds_no_line_and_no_statement(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(self: UnitOfWork, attempt: Any) -> None:
        raise AssertionError(f"an accepted command logged {attempt}")

    monkeypatch.setattr(UnitOfWork, "record_attempt", never)
    drive(engine, "A", relative=False, n=1, steps=5)  # timer firings before commands included
    assert lines(engine) == []


def test_a_firing_before_a_refused_command_stands_and_the_refusal_is_logged(
        engine: Engine) -> None:
    drive(engine, "A", relative=False, n=1, steps=5)  # archived 2024-01-25
    with pytest.raises(GuardFailed) as refused:
        engine.fire("A", "grant_aid", CITY, at("2025-01-25T09:00:00+08:00"),
                    {"item": "living", "tier": "1", "amount": "800", "period": "2025-01"})
    assert refused.value.rule == "R-AID-STATE"
    assert engine.history("A", AUDITOR)[-1].trigger == "recheck_due"
    assert engine.case("A", AUDITOR).state == "under_recheck"
    assert short(engine) == [("A", "grant_aid", "federation", "wuxi-city", "R-AID-STATE")]
    assert lines(engine)[0]["at"] == "2025-01-25T01:00:00.000000Z"
    assert "800" not in every_cell(engine)


def test_a_failing_log_write_keeps_the_refusal_and_the_firings(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    drive(engine, "A", relative=False, n=1, steps=5)

    def broken(self: UnitOfWork, attempt: Any) -> None:
        self.connection.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(UnitOfWork, "record_attempt", broken)
    with pytest.raises(GuardFailed):  # in the firings' transaction: a savepoint undoes it
        engine.fire("A", "grant_aid", CITY, at("2025-01-25T09:00:00+08:00"),
                    {"item": "living", "tier": "1", "amount": "800", "period": "2025-01"})
    assert engine.history("A", AUDITOR)[-1].trigger == "recheck_due"
    with pytest.raises(TransitionNotAllowed):  # in a transaction of its own
        engine.fire("A", "approve", CITY, at("2025-01-26T09:00:00+08:00"))
    assert engine.case("A", AUDITOR).state == "under_recheck"
    monkeypatch.undo()
    assert lines(engine) == []
    with pytest.raises(TransitionNotAllowed):  # the store is unharmed
        engine.fire("A", "approve", CITY, at("2025-01-26T09:00:00+08:00"))
    assert len(lines(engine)) == 1


def test_argument_errors_leave_no_line(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    with pytest.raises(InvalidArgument):
        engine.fire("A", "start_preliminary_review", union(), datetime(2024, 1, 8, 10))
    with pytest.raises(InvalidArgument):
        engine.fire("bad id!", "start_preliminary_review", union(), T1)
    assert lines(engine) == []
    with pytest.raises(TransitionNotAllowed):  # the check is not vacuous
        engine.fire("A", "approve", CITY, T1)
    assert len(lines(engine)) == 1


def test_a_blocked_timer_is_logged_once(engine: Engine) -> None:
    drive(engine, "OB", relative=False, n=21, steps=2)  # unit publicity due 2024-01-16 00:00
    engine.fire("OB", "raise_objection", union(), at("2024-01-10T10:00:00+08:00"),
                {"objection_id": "O-1", "summary": "群众反映收入不实"})
    firer = TimerFirer(engine)
    clock = SimulatedClock(at("2024-01-10T11:00:00+08:00"))
    fired = firer.catch_up(clock, at("2024-01-20T00:00:00+08:00"))
    assert [f.outcome for f in fired] == ["blocked"]
    assert firer.catch_up(clock, at("2024-01-21T00:00:00+08:00")) == []
    assert [f.outcome for f in firer.fire_due(clock)] == []
    assert short(engine) == [("OB", "unit_publicity_ended", "system", None, "E-OBJECTION")]
    assert lines(engine)[0]["at"] == "2024-01-15T16:00:00.000000Z"  # its due time
    assert "群众反映收入不实" not in every_cell(engine)


def _attempts_cli(engine: Engine, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["audit", "attempts", "--db", url_of(engine),
                                       "--format", "json", *args])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, Any]] = json.loads(result.output)["attempts"]
    assert all(str(a["at"]).endswith("+08:00") and str(a["recorded_at"]).endswith("+08:00")
               for a in listed)  # times shown to a person are Wuxi's
    return listed


def test_audit_attempts_lists_for_an_auditor_and_filters_for_another_org(
        engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    with pytest.raises(TransitionNotAllowed):
        engine.fire("A", "approve", CITY, T1)
    with pytest.raises(NotAuthorized):
        engine.fire("A", "start_preliminary_review", union("gu-other"), T1)
    with pytest.raises(TransitionNotAllowed):  # on a case of another union
        engine.fire("Z", "approve", union("gu-other"), T1)

    def codes(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(r["case_id"], str(r["actor_org"]), r["code"]) for r in rows]

    everything = [("A", "wuxi-city", "E-TRANSITION"), ("A", "gu-other", "E-ACTOR"),
                  ("Z", "gu-other", "E-TRANSITION")]
    assert codes(_attempts_cli(engine)) == everything  # --as auditor, the default
    assert codes(_attempts_cli(engine, "--as", "auditor", "--case", "A")) == everything[:2]
    assert codes(_attempts_cli(engine, "--actor", "grassroots_union:gu-other")) == everything[1:]
    assert codes(_attempts_cli(engine, "--since", "2024-01-09")) == []
    # another union: its own attempts only (case A is not its to read)
    assert codes(_attempts_cli(engine, "--as", "grassroots_union:gu-other")) == everything[1:]
    # the union of case A: every attempt on its case, none of another's on case Z
    assert codes(_attempts_cli(engine, "--as", f"grassroots_union:{GU}")) == everything[:2]
    # a federation that reviews none of these cases and made none: nothing
    assert _attempts_cli(engine, "--as", "federation:xinwu") == []
    text = CliRunner().invoke(main, ["audit", "attempts", "--db", url_of(engine)])
    assert text.exit_code == 0 and "E-ACTOR" in text.output and "gu-other" in text.output
