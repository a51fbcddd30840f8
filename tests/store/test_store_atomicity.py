"""Atomicity (issue 3, "Done when"): a failure injected after the event insert and before the
commit leaves no trace — no event, no projection change, no timer row, no vault row — and no
listener hears of it. SQLite and PostgreSQL.

The failure is injected by wrapping ``UnitOfWork.write``: the real writes run (event,
projection, vault, timer, purge) inside the transaction, then it raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from store_cases import (
    DEEP_SUBMIT,
    GU,
    SYSTEM,
    at,
    deep_application,
    drive,
    dump_tables,
    resident_id,
    union,
    worker,
)

from jiekun.persistence.statements import Write
from jiekun.persistence.store import UnitOfWork
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event


class Injected(RuntimeError):
    """The failure between the writes and the commit."""


@dataclass
class Scenario:
    setup_steps: int | None  # None: no case yet; else drive() that many steps (deep, n=1)
    prepare: Callable[[Engine], None] | None
    command: Callable[[Engine], Event]
    writes: dict[str, int]  # rows the real writes add per table, seen inside the transaction


def _amended() -> dict[str, Any]:
    application = deep_application(resident_id(1))
    application["applicant"]["phone"] = "13900000002"
    return application


def _withdraw(engine: Engine) -> None:
    engine.fire("A", "withdraw", worker(resident_id(1)), at("2024-01-09T09:00:00+08:00"))


SCENARIOS = {
    # a new case: event, projection row, vault payload, the applicant's row
    "submit": Scenario(None, None, lambda e: e.submit(
        "A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT)),
        {"events": 1, "cases": 1, "personal_data": 1, "case_personal": 1}),
    # a new application text: event, vault payload, the applicant's row replaced
    "amend_application": Scenario(0, None, lambda e: e.fire(
        "A", "amend_application", union(), at("2024-01-08T09:30:00+08:00"), _amended()),
        {"events": 1, "personal_data": 1}),
    # starts the unit publicity timer: event, projection update, a new timer row
    "pass_preliminary_review": Scenario(1, None, lambda e: e.fire(
        "A", "pass_preliminary_review", union(), at("2024-01-08T11:00:00+08:00")),
        {"events": 1, "timers": 1}),
    # the worker withdraws during the unit publicity: the actor's id goes to the vault, the
    # publicity timer is replaced by the retention timer
    "withdraw": Scenario(2, None, lambda e: e.fire(
        "A", "withdraw", worker(resident_id(1)), at("2024-01-09T09:00:00+08:00")),
        {"events": 1, "personal_data": 1}),
    # withdrawn 2024-01-09: retention 10 years → due from 2034-01-09 00:00+08:00; the purge
    # destroys the personal data, and must not when it fails
    "retention_expired": Scenario(2, _withdraw, lambda e: e.fire(
        "A", "retention_expired", SYSTEM, at("2034-01-10T03:00:00+08:00")),
        {"events": 1, "personal_data": -2, "case_personal": -1}),
}


def _counts(connection: Any) -> dict[str, int]:
    return {t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("events", "cases", "timers", "personal_data", "case_personal")}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_failure_before_commit_leaves_no_trace(engine: Engine, name: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = SCENARIOS[name]
    if scenario.setup_steps is not None:
        drive(engine, "A", relative=False, n=1, steps=scenario.setup_steps)
    if scenario.prepare is not None:
        scenario.prepare(engine)
    case_before = engine.stored_case("A")
    with engine.store.reading() as connection:
        before = dump_tables(connection)
    heard: list[Event] = []
    engine.subscribe(heard.append)

    real_write = UnitOfWork.write
    inside: list[dict[str, int]] = []

    def write_then_fail(self: UnitOfWork, w: Write) -> None:
        counts = _counts(self.connection)
        real_write(self, w)
        after = _counts(self.connection)
        inside.append({t: after[t] - counts[t] for t in after if after[t] != counts[t]})
        raise Injected(f"after the writes of {w.event.trigger}, before the commit")

    monkeypatch.setattr(UnitOfWork, "write", write_then_fail)
    with pytest.raises(Injected):
        scenario.command(engine)
    # the writes did happen inside the transaction (the injection is not vacuous) …
    assert inside == [scenario.writes]
    # … and nothing of them survived
    with engine.store.reading() as connection:
        assert dump_tables(connection) == before
    assert engine.stored_case("A") == case_before
    assert heard == []

    # the store is unharmed: the same command now commits, as the next event of the case
    monkeypatch.setattr(UnitOfWork, "write", real_write)
    event = scenario.command(engine)
    assert event.seq == (0 if case_before is None else case_before.version) + 1
    assert heard == [event]
    assert [e.seq for _, e in engine.events_since(0) if e.case_id == "A"] == list(
        range(1, event.seq + 1))


def test_the_timer_row_is_rolled_back_with_the_event(engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The injection at the last write (the timer upsert): the event inserted before it is
    rolled back too."""
    drive(engine, "A", relative=False, n=1, steps=1)
    with engine.store.reading() as connection:
        before = dump_tables(connection)
    assert before["timers"] == []
    # the transition's writes run together (``Backend.run_all``; one pipeline on
    # PostgreSQL): the failure strikes once they ran, the timer upsert among them
    backend = engine.store.statements.backend
    real_run_all = backend.run_all
    timer_sql = engine.store.statements.raw_upsert_timer.sql
    seen: list[int] = []

    def run_all(cursor: Any, statements: list[tuple[str, Any]]) -> list[int]:
        counts = real_run_all(cursor, statements)
        if any(sql == timer_sql for sql, _ in statements):
            probe = cursor()
            probe.execute("SELECT count(*) FROM events WHERE case_id = 'A'")
            seen.append(int(probe.fetchone()[0]))
            raise Injected("timer upsert done, commit not reached")
        return counts

    monkeypatch.setattr(backend, "run_all", run_all)
    with pytest.raises(Injected):
        engine.fire("A", "pass_preliminary_review", union(), at("2024-01-08T11:00:00+08:00"))
    monkeypatch.undo()
    assert seen == [3]  # the third event was in the table when the failure struck
    with engine.store.reading() as connection:
        assert dump_tables(connection) == before
    case = engine.stored_case("A")
    assert case is not None and (case.state, case.version, case.timers) == (
        "preliminary_review", 2, ())
    assert case.grassroots_union == GU
