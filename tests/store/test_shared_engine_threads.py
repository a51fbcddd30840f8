"""Safe in its host (issue 14): one ``Engine`` shared by the threads of a back office.

- 64 threads share ONE engine opened with the default settings (SQLite file store, PostgreSQL
  database), start together at a barrier, and each submits and moves two cases of its own up to
  an ``approve`` dated after the unit publicity's due time (which the engine must fire first, in
  the same transaction), reading between its commands (``case``, ``cases`` page by page,
  ``history``). Every command succeeds, every chain verifies, every case holds what its thread
  drove it to, and a monitor sees no more write connections than ``pool_size`` (on PostgreSQL,
  no more server connections to the database than the engine's pool of 2 × ``pool_size`` plus
  the monitor's own).
- A pool of one connection held by one thread makes another thread's command fail with
  StoreBusy (E-BUSY) after the timeout, storing nothing; the store serves it once freed.
- ``close()`` leaves no write connection open (also one a thread was still using), and every
  later call, from any thread, raises StoreClosed.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_STEPS,
    DEEP_SUBMIT,
    GU,
    RELATIVE_STEPS,
    RELATIVE_SUBMIT,
    XINWU,
    at,
    deep_application,
    relative_application,
    resident_id,
    union,
)

from jiekun.persistence.store import Store
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import JiekunError, StoreBusy, StoreClosed
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.audit import verify
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event

THREADS = 64
CASES_EACH = 2
TRIGGERS = ["submit", "start_preliminary_review", "pass_preliminary_review",
            "unit_publicity_ended", "approve"]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def store_of(engine: Engine) -> Store:
    """The engine's store as built by ``Engine.open`` (its connection counts are not part of
    the ``StorePort`` protocol)."""
    store = engine.store
    assert isinstance(store, Store)
    return store


def _time(steps: list[tuple[str, str, str]], trigger: str) -> datetime:
    return at(next(when for name, _who, when in steps if name == trigger))


@dataclass(frozen=True)
class Plan:
    """One case of one thread: deep (wuxi-city) or relative (xinwu), its own applicant."""

    case_id: str
    relative: bool
    applicant: int

    @property
    def steps(self) -> list[tuple[str, str, str]]:
        return RELATIVE_STEPS if self.relative else DEEP_STEPS

    @property
    def federation(self) -> Actor:
        return XINWU if self.relative else CITY

    def application(self) -> dict[str, Any]:
        make = relative_application if self.relative else deep_application
        return make(resident_id(self.applicant))

    @property
    def submitted_at(self) -> datetime:
        return at(RELATIVE_SUBMIT if self.relative else DEEP_SUBMIT)


def plans_of(thread: int) -> list[Plan]:
    return [Plan(f"H-{thread:02d}-{j}", (thread + j) % 2 == 1, thread * CASES_EACH + j)
            for j in range(CASES_EACH)]


@dataclass
class Monitor:
    """Samples the engine's write connections (and, on PostgreSQL, the server's connections
    to the test database) until stopped."""

    engine: Engine
    admin: psycopg.Connection[Any] | None = None
    writers: list[int] = field(default_factory=list)
    server: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.writers.append(store_of(self.engine).connections)
                if self.admin is not None:
                    # client connections only: an autovacuum or parallel worker on this
                    # database is the server's own, not the engine's
                    row = self.admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND backend_type = 'client backend'").fetchone()
                    assert row is not None
                    self.server.append(int(row[0]))
                time.sleep(0.001)
        except Exception:
            self.failures.append(traceback.format_exc())


@contextmanager
def monitoring(engine: Engine, url: str) -> Iterator[Monitor]:
    admin = None
    if url.startswith("postgresql"):
        address = make_url(url)
        admin = psycopg.connect(host=address.host, port=address.port, user=address.username,
                                dbname=address.database, autocommit=True)
    monitor = Monitor(engine, admin)
    thread = threading.Thread(target=monitor.run, name="monitor", daemon=True)
    thread.start()
    try:
        yield monitor
    finally:
        monitor.stop.set()
        thread.join(10)
        if admin is not None:
            admin.close()


def run_threads(count: int, work: Callable[[int, threading.Barrier], None],
                timeout: float = 300) -> list[str]:
    """Run ``work(n, barrier)`` in ``count`` threads that start together; the tracebacks of
    those that raised (a thread still running at the timeout counts as one)."""
    barrier = threading.Barrier(count)
    errors: list[str] = []

    def body(n: int) -> None:
        try:
            work(n, barrier)
        except BaseException:
            errors.append(f"thread {n}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=body, args=(n,), name=f"host-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    errors += [f"{t.name} still running after {timeout} s" for t in threads if t.is_alive()]
    return errors


def check_refusal(error: JiekunError, code: str) -> None:
    """A refusal as an embedder shows it: its code and its bilingual message."""
    assert error.code == code, (error.code, error)
    shown = error.as_json()
    assert shown["code"] == code, shown
    assert CHINESE.search(error.message_zh), error.message_zh
    assert error.message_en.strip(), error
    assert (shown["message_zh"], shown["message_en"]) == (error.message_zh, error.message_en)


def page_all(engine: Engine, size: int) -> list[str]:
    """Every case id an auditor sees, ``size`` at a time; pages must not overlap."""
    seen: list[str] = []
    after: str | None = None
    while True:
        page = [str(row["case_id"]) for row in engine.cases(AUDITOR, limit=size, after=after)]
        assert len(page) <= size
        assert page == sorted(page) and (after is None or all(c > after for c in page)), page
        seen += page
        if len(page) < size:
            return seen
        after = page[-1]


def test_64_threads_share_one_engine(backend: str,
                                     open_engine: Callable[[str], Engine]) -> None:
    engine = open_engine(backend)  # Engine.open with the default pool_size and timeout
    pool_size = store_of(engine).pool_size
    assert (pool_size, store_of(engine).timeout) == (8, 30.0)
    returned: dict[str, list[Event]] = {}

    def work(n: int, barrier: threading.Barrier) -> None:
        mine = plans_of(n)
        barrier.wait(timeout=60)
        for plan in mine:
            returned[plan.case_id] = [
                engine.submit(plan.case_id, plan.application(), union(), plan.submitted_at)]
        for step in ("start_preliminary_review", "pass_preliminary_review", "approve"):
            for plan in mine:
                actor = plan.federation if step == "approve" else union()
                event = engine.fire(plan.case_id, step, actor, _time(plan.steps, step))
                returned[plan.case_id].append(event)
                # reads between the commands: its own case, its history, every case by pages
                expected = len(returned[plan.case_id]) + (step == "approve")
                assert engine.case(plan.case_id, union()).version == expected
                assert len(engine.history(plan.case_id, AUDITOR)) == expected
            listed = page_all(engine, 16 + n % 7)
            assert {p.case_id for p in mine} <= set(listed)

    started = time.monotonic()
    with monitoring(engine, backend) as monitor:
        errors = run_threads(THREADS, work)
        final = store_of(engine).connections
    elapsed = time.monotonic() - started

    assert errors == [], f"{len(errors)} threads failed; the first:\n{errors[0]}"
    assert monitor.failures == [], monitor.failures[0]
    plans = [plan for n in range(THREADS) for plan in plans_of(n)]
    for plan in plans:
        case = engine.case(plan.case_id, AUDITOR)
        assert (case.state, case.version, case.reviewing_body) == (
            "media_publicity", 5, plan.federation.org), plan
        history = engine.history(plan.case_id, AUDITOR)
        assert [e.trigger for e in history] == TRIGGERS, plan
        passed = returned[plan.case_id][2]
        due = passed.derived.timers[0].due
        assert due is not None and due < _time(plan.steps, "approve")
        # the approve's transaction fired the due publicity first, dated at its due time
        assert history[3].at == due and history[3].actor == {"role": "system"}, history[3]
        assert returned[plan.case_id][3] == history[4] and history[4].seq == 5
    assert len(engine.cases(AUDITOR)) == THREADS * CASES_EACH
    # the media publicities now pending, 10 a page: 64 cases share each due time
    timers: list[tuple[datetime, str]] = []
    cursor: tuple[datetime, str] | None = None
    while page := engine.pending_timers(AUDITOR, at("2024-12-31T00:00:00+08:00"), limit=10,
                                        after=cursor):
        cursor = (page[-1]["due"], page[-1]["case"])
        timers += [(t["due"], t["case"]) for t in page]
    assert sorted(c for _, c in timers) == sorted(p.case_id for p in plans)
    assert timers == sorted(timers)
    with engine.store.reads() as reads:
        report = verify(reads, engine.decider)
    assert report.ok, report.problems[:3]
    assert (report.cases, report.events) == (len(plans), len(plans) * len(TRIGGERS))

    assert len(monitor.writers) >= 10, "the monitor hardly ran"
    most = max(monitor.writers)
    assert 2 <= most <= pool_size, (most, pool_size)
    assert final <= pool_size
    figures = f"{THREADS} threads, {len(plans)} cases, max {most} write connections"
    if backend.startswith("postgresql"):
        assert monitor.server, "pg_stat_activity was never sampled"
        assert max(monitor.server) <= 2 * pool_size + 1, (max(monitor.server), pool_size)
        figures += f", max {max(monitor.server)} server connections (admin included)"
    print(f"\n{figures}, {elapsed:.1f} s")


def test_busy_pool_refuses_with_e_busy_and_stores_nothing(backend: str,
                                                          decider: Decider) -> None:
    engine = Engine.open(backend, decider=decider, pool_size=1, timeout=0.2)
    held, release = threading.Event(), threading.Event()
    failures: list[str] = []

    def hold() -> None:
        try:
            with engine.store.unit_of_work():
                held.set()
                release.wait(30)
        except Exception:
            failures.append(traceback.format_exc())

    holder = threading.Thread(target=hold, name="holder")
    holder.start()
    outcome: list[BaseException | Event] = []
    try:
        assert held.wait(10), "the holder never got the connection"
        assert store_of(engine).connections == 1

        def command() -> None:
            try:
                outcome.append(engine.submit("B-1", deep_application(resident_id(900)),
                                             union(), at(DEEP_SUBMIT)))
            except BaseException as error:
                outcome.append(error)

        other = threading.Thread(target=command, name="waiter")
        started = time.monotonic()
        other.start()
        other.join(5)
        waited = time.monotonic() - started
        assert not other.is_alive(), "the command still waits for a connection"
        assert len(outcome) == 1
        busy = outcome[0]
        assert isinstance(busy, StoreBusy) and isinstance(busy, JiekunError), busy
        assert 0.19 <= waited < 1.0, waited
        check_refusal(busy, "E-BUSY")
        # reads have their own connections: they still answer while every writer is busy
        assert engine.cases(AUDITOR) == []
        assert store_of(engine).connections == 1
    finally:
        release.set()
        holder.join(10)
    try:
        assert failures == [], failures[0]
        assert engine.stored_case("B-1") is None
        assert engine.events_since(0) == []
        # once freed, the store serves the same command
        assert engine.submit("B-1", deep_application(resident_id(900)), union(),
                             at(DEEP_SUBMIT)).seq == 1
        assert store_of(engine).connections == 1
    finally:
        engine.close()


def test_reads_holding_every_connection_make_a_command_busy(backend: str,
                                                            decider: Decider) -> None:
    """A command that cannot get a connection because reads hold the whole pool (2 ×
    ``pool_size``: a long export and an audit, say, before any write connection was opened)
    waits ``timeout`` and is refused with StoreBusy, like any other wait for a connection —
    never with the pool's own exception, which a host would answer with a 500."""
    engine = Engine.open(backend, decider=decider, pool_size=1, timeout=0.2)
    try:
        assert store_of(engine).connections == 0
        with engine.store.reads(), engine.store.reads():
            started = time.monotonic()
            with pytest.raises(JiekunError) as refused:
                engine.submit("R-1", deep_application(resident_id(902)), union(),
                              at(DEEP_SUBMIT))
            waited = time.monotonic() - started
        assert isinstance(refused.value, StoreBusy), refused.value
        check_refusal(refused.value, "E-BUSY")
        assert waited < 1.0, waited
        assert engine.stored_case("R-1") is None
        assert engine.submit("R-1", deep_application(resident_id(902)), union(),
                             at(DEEP_SUBMIT)).seq == 1
    finally:
        engine.close()


def _after_close_calls(engine: Engine, case_id: str) -> dict[str, Callable[[], object]]:
    when = at("2024-06-01T09:00:00+08:00")
    return {
        "fire": lambda: engine.fire(case_id, "pass_preliminary_review", union(), when),
        "submit": lambda: engine.submit("Z-1", deep_application(resident_id(901)), union(),
                                        when),
        "case": lambda: engine.case(case_id, AUDITOR),
        "cases": lambda: engine.cases(AUDITOR),
        "history": lambda: engine.history(case_id, AUDITOR),
        "state_as_of": lambda: engine.state_as_of(case_id, when, AUDITOR),
        "events_since": lambda: engine.events_since(0),
        "pending_timers": lambda: engine.pending_timers(AUDITOR, when),
        "catch_up": lambda: TimerFirer(engine).catch_up(SimulatedClock(when), when),
    }


def test_close_releases_every_connection_and_refuses_later_calls(
        backend: str, decider: Decider) -> None:
    engine = Engine.open(backend, decider=decider)
    workers = 12

    def work(n: int, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=60)
        case_id = f"K-{n:02d}"
        engine.submit(case_id, deep_application(resident_id(200 + n)), union(),
                      at(DEEP_SUBMIT))
        engine.fire(case_id, "start_preliminary_review", union(),
                    _time(DEEP_STEPS, "start_preliminary_review"))
        assert engine.case(case_id, AUDITOR).state == "preliminary_review"

    errors = run_threads(workers, work)
    assert errors == [], errors[0]
    assert store_of(engine).connections >= 1, "the threads' write connections are kept open"
    engine.close()
    assert store_of(engine).connections == 0

    refused: list[tuple[int, str, BaseException | None]] = []

    def after(n: int, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=60)
        for name, call in _after_close_calls(engine, f"K-{n:02d}").items():
            try:
                call()
            except BaseException as error:
                refused.append((n, name, error))
            else:
                refused.append((n, name, None))

    assert run_threads(4, after) == []
    calls = len(_after_close_calls(engine, "K-00"))
    assert len(refused) == 4 * calls
    for n, name, error in refused:
        assert isinstance(error, StoreClosed), (n, name, error)
        assert isinstance(error, JiekunError)
        check_refusal(error, error.code)
    assert store_of(engine).connections == 0

    # what the threads did before the close is stored, and the chains verify
    again = Engine.open(backend, decider=decider)
    try:
        assert [c["state"] for c in again.cases(AUDITOR)] == ["preliminary_review"] * workers
        with again.store.reads() as reads:
            report = verify(reads, again.decider)
        assert report.ok and report.events == 2 * workers, report.problems[:3]
    finally:
        again.close()


def test_close_while_a_thread_is_in_a_unit_of_work(backend: str, decider: Decider) -> None:
    """The connection of a unit of work running at ``close()`` is closed when it ends."""
    engine = Engine.open(backend, decider=decider, pool_size=4)
    engine.submit("U-1", deep_application(resident_id(300)), union(), at(DEEP_SUBMIT))
    inside, leave = threading.Event(), threading.Event()
    failures: list[str] = []

    def straggle() -> None:
        try:
            with engine.store.unit_of_work():
                inside.set()
                leave.wait(30)
        except Exception:
            failures.append(traceback.format_exc())

    thread = threading.Thread(target=straggle, name="straggler")
    thread.start()
    try:
        assert inside.wait(10)
        engine.close()
        assert store_of(engine).connections <= 1  # only the straggler's, until it ends
    finally:
        leave.set()
        thread.join(10)
    assert failures == [], failures[0]
    assert store_of(engine).connections == 0
    with pytest.raises(StoreClosed):
        engine.fire("U-1", "start_preliminary_review", union(GU),
                    _time(DEEP_STEPS, "start_preliminary_review"))
