"""Scheduler processes (issue 4, "Done when"):

- restart: a `jiekun scheduler run` process on a SQLite file store is killed with SIGKILL while
  hundreds of timers are due; a new one fires every timer that fell due exactly once, in due
  order, and the audit verifies;
- two `jiekun scheduler catch-up` processes at once on one PostgreSQL store with 1,000 due
  timers: each timer fired exactly once, each firing reported by one process only, no errors.

The timers are real ones: cases driven through the engine with their events dated in 2024, so
their unit-publicity timers (5 working days) are long overdue for the real clock.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from store_cases import deep_application, union, worker

from jiekun.persistence.chain import from_utc_text
from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.schema import events, metadata, timers
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.resident_id import check_character
from jiekun.workflow.audit import verify
from jiekun.workflow.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY = datetime(2024, 1, 8, 10, tzinfo=SHANGHAI)


def resident(k: int) -> str:
    """Distinct valid ids beyond store_cases' thousand (born 1980-04-16 / 1981-04-16 …)."""
    first17 = f"3202111{980 + k // 1000}0416{k % 1000:03d}"
    return first17 + check_character(first17)


def make_due_cases(engine: Engine, count: int, prefix: str) -> dict[str, str]:
    """``count`` cases in unit publicity, started on ``count`` days spread over 2024 (several
    cases a day): their timers are all due long before now. Returns case → due (UTC text)."""
    for k in range(count):
        case_id = f"{prefix}-{k:04d}"
        when = FIRST_DAY + timedelta(days=(k * 7) % 300, minutes=k % 50)
        engine.submit(case_id, deep_application(resident(k)), union(), when)
        engine.fire(case_id, "start_preliminary_review", union(), when)
        engine.fire(case_id, "pass_preliminary_review", union(), when)
    with engine.store.reading() as connection:
        rows = connection.execute(select(timers.c.case_id, timers.c.due, timers.c.status))
        due = {}
        for row in rows:
            assert row.status == "pending"
            due[row.case_id] = row.due
    assert len(due) == count
    return due


def copy_store(source: str, target: str) -> None:
    """Every row of ``source`` into the (empty, upgraded) store ``target``; events in commit
    order, their positions given anew by the target."""
    reading, writing = make_engine(source), make_engine(target)
    try:
        with reading.connect() as src, writing.begin() as dst:
            for table in metadata.sorted_tables:
                query = select(table)
                if table is events:
                    query = query.order_by(events.c.position)
                rows = [dict(r._mapping) for r in src.execute(query)]
                for row in rows if table is events else ():
                    del row["position"]
                # what the upgrade wrote (the store's name, its first policy version) is the
                # source's: copied, not added to
                dst.execute(table.delete())
                if rows:
                    dst.execute(table.insert(), rows)
    finally:
        reading.dispose()
        writing.dispose()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "jiekun.workflow.cli", *args]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processes a test starts; any still running at the end is killed (by its pid)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start(processes: list[subprocess.Popen[bytes]], args: list[str], out: Path,
          err: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(args, cwd=ROOT, stdout=stdout, stderr=stderr,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    processes.append(process)
    return process


def fired_by_position(engine: Engine) -> list[tuple[str, datetime]]:
    query = (select(events.c.case_id, events.c.at)
             .where(events.c.trigger == "unit_publicity_ended").order_by(events.c.position))
    with engine.store.reading() as connection:
        return [(r.case_id, from_utc_text(r.at)) for r in connection.execute(query)]


def audit_ok(engine: Engine) -> None:
    with engine.store.reading() as connection:
        report = verify(engine.store.reads_on(connection), engine.decider)
    assert report.ok, [str(p) for p in report.problems[:5]]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.01)


# 5. Restart after SIGKILL ---------------------------------------------------------------------

def test_killed_scheduler_restarts_and_fires_each_timer_once(
        tmp_path: Path, open_engine: Callable[[str], Engine],
        processes: list[subprocess.Popen[bytes]]) -> None:
    count = 400
    path = tmp_path / "restart.db"
    url = f"sqlite:///{path}"
    made = make_engine(url)
    upgrade(made)
    made.dispose()
    engine = open_engine(url)
    due = make_due_cases(engine, count, "K")
    due_order = sorted(due, key=lambda c: (due[c], c))

    def fired_count() -> int:
        with sqlite3.connect(path, timeout=30) as raw:
            return int(raw.execute("SELECT count(*) FROM events WHERE trigger = "
                                   "'unit_publicity_ended'").fetchone()[0])

    run = cli("scheduler", "run", "--db", url, "--heartbeat", "1")
    first = start(processes, run, tmp_path / "run1.out", tmp_path / "run1.err")
    wait_for(lambda: fired_count() >= 20 or first.poll() is not None, 30,
             "the first scheduler's first firings")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    done_before = fired_count()
    assert 20 <= done_before < count, f"not killed mid-way: {done_before} of {count} fired"

    # The store the kill left: consistent, the rest still pending, nothing half-claimed.
    audit_ok(engine)
    with engine.store.reading() as connection:
        statuses = Counter(r.status for r in connection.execute(select(timers.c.status)))
    assert statuses == {"void": done_before, "pending": count - done_before}

    second = start(processes, run, tmp_path / "run2.out", tmp_path / "run2.err")
    wait_for(lambda: fired_count() >= count or second.poll() is not None, 40,
             "the restarted scheduler to fire the rest")
    time.sleep(1.2)  # one more heartbeat: a second firing of anything would show now
    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0  # stopped cleanly
    assert "scheduler stopped" in (tmp_path / "run2.err").read_text()
    assert "Traceback" not in (tmp_path / "run2.err").read_text()

    fired = fired_by_position(engine)
    per_case = Counter(case for case, _ in fired)
    assert len(fired) == count and set(per_case.values()) == {1}
    # In due order across both runs: the first run took the earliest, the second the rest.
    assert [case for case, _ in fired] == due_order
    # Each dated at its due time (states/LIFECYCLE.md, Timers), not at the moment the real
    # clock fired it: the history does not depend on when a scheduler ran.
    assert all(moment == from_utc_text(due[case]) for case, moment in fired)
    lines = [line for line in (tmp_path / "run2.out").read_text().splitlines()
             if "unit_publicity_ended" in line]
    assert len(lines) == count - done_before
    assert all(" fired" in line for line in lines)
    with engine.store.reading() as connection:
        assert {r.status for r in connection.execute(select(timers.c.status))} == {"void"}
    audit_ok(engine)


def test_sigterm_during_a_backlog_stops_cleanly_and_a_restart_fires_the_rest(
        tmp_path: Path, open_engine: Callable[[str], Engine],
        processes: list[subprocess.Popen[bytes]]) -> None:
    """`scheduler run` stops cleanly on SIGTERM (as on Ctrl-C) while it is firing a backlog
    and other timers are pending for later (here a withdrawn case's retention, due 2034):
    it exits 0 soon, between two firings; the next run fires the rest, each once."""
    count = 300
    path = tmp_path / "sigterm.db"
    url = f"sqlite:///{path}"
    made = make_engine(url)
    upgrade(made)
    made.dispose()
    engine = open_engine(url)
    due = make_due_cases(engine, count, "G")
    later = FIRST_DAY - timedelta(days=1)
    engine.submit("LATER", deep_application(resident(count)), union(), later)
    engine.fire("LATER", "withdraw", worker(resident(count)), later)

    def fired_count() -> int:
        with sqlite3.connect(path, timeout=30) as raw:
            return int(raw.execute("SELECT count(*) FROM events WHERE trigger = "
                                   "'unit_publicity_ended'").fetchone()[0])

    run = cli("scheduler", "run", "--db", url, "--heartbeat", "1")
    first = start(processes, run, tmp_path / "t1.out", tmp_path / "t1.err")
    wait_for(lambda: fired_count() >= 20 or first.poll() is not None, 30, "the first firings")
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    assert "scheduler stopped" in (tmp_path / "t1.err").read_text()
    stopped_at = fired_count()
    assert stopped_at < count, "it went on firing the whole backlog after SIGTERM"
    audit_ok(engine)

    second = start(processes, run, tmp_path / "t2.out", tmp_path / "t2.err")
    wait_for(lambda: fired_count() >= count or second.poll() is not None, 40, "the rest")
    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0
    fired = fired_by_position(engine)
    assert [case for case, _ in fired] == sorted(due, key=lambda c: (due[c], c))
    with engine.store.reading() as connection:
        pending = connection.execute(select(timers.c.case_id, timers.c.kind).where(
            timers.c.status == "pending")).all()
    assert [tuple(r) for r in pending] == [("LATER", "retention")]
    audit_ok(engine)


# 6. Two scheduler processes on one PostgreSQL store ----------------------------------------------

def test_two_schedulers_on_postgresql_fire_each_of_1000_timers_once(
        pg_database: Callable[..., str], open_engine: Callable[[str], Engine], tmp_path: Path,
        processes: list[subprocess.Popen[bytes]]) -> None:
    count = 1000
    url = pg_database()
    # The set-up, made fast: the cases are driven through the engine on a SQLite file, and its
    # rows (backend-neutral text, hash-chained) are copied into the PostgreSQL store in one
    # transaction; the audit at the end verifies every chain and fold of the copy too.
    scratch = f"sqlite:///{tmp_path / 'setup.db'}"
    made = make_engine(scratch)
    upgrade(made)
    made.dispose()
    due = make_due_cases(open_engine(scratch), count, "T")
    copy_store(scratch, url)
    engine = open_engine(url)
    audit_ok(engine)

    args = cli("scheduler", "catch-up", "--until", "2025-01-01", "--db", url, "--format", "json")
    runs = [start(processes, args, tmp_path / f"s{n}.out", tmp_path / f"s{n}.err")
            for n in (1, 2)]
    for process in runs:
        process.wait(60)
    outputs: list[dict[str, Any]] = []
    for n, process in enumerate(runs, start=1):
        err = (tmp_path / f"s{n}.err").read_text()
        assert process.returncode == 0, err
        assert err.strip() == "", err
        outputs.append(json.loads((tmp_path / f"s{n}.out").read_text()))

    fired = fired_by_position(engine)
    per_case = Counter(case for case, _ in fired)
    assert len(fired) == count
    assert set(per_case) == set(due) and set(per_case.values()) == {1}
    # Under catch-up's simulated clock each event is dated at its timer's due time.
    assert all(moment == from_utc_text(due[case]) for case, moment in fired)

    reported = Counter[str]()
    for out in outputs:
        assert {f["outcome"] for f in out["firings"]} <= {"fired", "taken"}
        assert out["blocked"] == 0
        reported.update(f["case"] for f in out["firings"] if f["outcome"] == "fired")
    # Each firing is reported as fired by exactly one of the two processes. (Whether both got
    # to fire some depends on how the machine schedules two starting processes: under load
    # one may drain the queue first, so that is not asserted.)
    assert reported == Counter(set(due))
    with engine.store.reading() as connection:
        assert {r.status for r in connection.execute(select(timers.c.status))} == {"void"}
    audit_ok(engine)
