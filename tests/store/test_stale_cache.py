"""Two engines on one store: each decides on the case it committed last without reading its
rows, and must notice when the other one moved it meanwhile (the write is conditional on the
stored version and head hash) — then decide again from the rows, never on a stale case."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from store_cases import CITY, DEEP_STEPS, SYSTEM, at, drive, union

from jiekun.persistence.chain import GENESIS
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import ConcurrencyConflict
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.audit import verify
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine


def _chain_ok(engine: Engine) -> None:
    with engine.store.reading() as connection:
        report = verify(engine.store.reads_on(connection), engine.decider)
    assert report.ok, report.problems[:3]


def test_an_engine_whose_case_was_moved_by_another_decides_from_the_rows(
        backend: str, open_engine: Callable[[str], Engine]) -> None:
    first, second = open_engine(backend), open_engine(backend)
    drive(first, "K", relative=False, n=21, steps=1)  # submitted, preliminary review started
    # the second engine moves the case: the first engine's remembered case is now stale
    second.fire("K", *DEEP_STEPS[1][:1], union(), at(DEEP_STEPS[1][2]))
    # the first engine fires the next step: it must see unit_publicity (version 3), not
    # preliminary_review (version 2) — deciding on its stale copy would refuse the trigger
    event = first.fire("K", "unit_publicity_ended", SYSTEM, at(DEEP_STEPS[2][2]))
    assert (event.seq, event.derived.state) == (4, "upper_review")
    case = second.stored_case("K")
    assert case is not None and (case.version, case.state) == (4, "upper_review")
    _chain_ok(first)


def test_a_stale_expected_version_is_a_conflict_also_through_the_remembered_case(
        backend: str, open_engine: Callable[[str], Engine]) -> None:
    first, second = open_engine(backend), open_engine(backend)
    drive(first, "K", relative=False, n=22, steps=2)  # version 3, in unit publicity
    second.fire("K", "unit_publicity_ended", SYSTEM, at(DEEP_STEPS[2][2]))  # version 4
    with pytest.raises(ConcurrencyConflict):
        # version 3 is what the first engine remembers, and no longer what is stored
        first.fire("K", "approve", CITY, at(DEEP_STEPS[3][2]), expected_version=3)
    assert first.fire("K", "approve", CITY, at(DEEP_STEPS[3][2]),
                      expected_version=4).seq == 5
    _chain_ok(second)


def test_a_timer_batch_fires_a_case_another_engine_moved(
        backend: str, open_engine: Callable[[str], Engine]) -> None:
    first, second = open_engine(backend), open_engine(backend)
    drive(first, "K", relative=False, n=23, steps=3)  # upper review, version 4
    second.fire("K", "approve", CITY, at(DEEP_STEPS[3][2]))  # media publicity, version 5
    fired = TimerFirer(first).catch_up(SimulatedClock(at(DEEP_STEPS[3][2])),
                                       at("2024-02-29T00:00:00+08:00"))
    assert [(f.trigger, f.outcome) for f in fired] == [("media_publicity_ended", "fired")]
    case = second.stored_case("K")
    assert case is not None and (case.version, case.state) == (6, "archived")
    _chain_ok(first)


def test_the_remembered_case_is_checked_against_the_stored_head_not_only_the_version(
        backend: str, open_engine: Callable[[str], Engine]) -> None:
    """A store whose case row carries the same version but another head (restored from a copy,
    or written by a process that lost its own memory) is not written over blindly."""
    engine = open_engine(backend)
    drive(engine, "K", relative=False, n=24, steps=1)
    from sqlalchemy import update

    from jiekun.persistence.schema import cases
    with engine.store.engine.begin() as connection:
        connection.execute(update(cases).where(cases.c.case_id == "K")
                           .values(head_hash=GENESIS))
    # the remembered head no longer matches: the engine reads the rows, links the new event
    # to the head they hold, and the audit then names the break that the edit made
    event = engine.fire("K", "pass_preliminary_review", union(), at(DEEP_STEPS[1][2]))
    assert event.seq == 3
    with engine.store.reading() as connection:
        report = verify(engine.store.reads_on(connection), engine.decider)
    assert not report.ok and report.problems[0].case_id == "K"


def test_closing_an_engine_releases_its_write_connection(
        backend: str, decider: Decider) -> None:
    """Regression (found by the model-based test at soak scale): disposing of the SQLAlchemy
    engine left each Engine's long-lived write connection open, and PostgreSQL ran out of
    connections (its test server allows 60) after as many engines."""
    kept = []  # a host keeps its engines (hypothesis kept its state machines)
    for n in range(80):
        with Engine.open(backend, decider=decider) as engine:
            drive(engine, f"K-{n}", relative=False, n=100 + n, steps=0)
        kept.append(engine)
    with Engine.open(backend, decider=decider) as engine:
        assert len(engine.cases(Actor("auditor"))) == 80
