"""The scheduler: firings per second on SQLite, and the resident memory of a scheduler process
over a store holding 1,000,000 pending timers.

Firings: real cases (workload.py) are driven through the engine into a publicity (unit or
media), untimed; then ``TimerFirer.catch_up`` fires every due timer, in due order, each through
the engine as the ``system`` actor (claim, idempotency key, decide, write) — timed.

Memory: a store with some real cases whose timers are due, plus 1,000,000 pending timer rows
that are not due yet (bulk-inserted, due from 2027 on); a fresh process (rss_child.py) opens the
engine and runs one ``SchedulerService.tick`` — what the heartbeat runs — and reports its own
peak resident set (VmHWM).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from jiekun.persistence.chain import from_utc_text, utc_text
from jiekun.persistence.schema import timers
from jiekun.policies.deadlines import SHANGHAI
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from tests.bench.durable import quiet_heap
from tests.bench.workload import CaseRun, build, stream

Log = Callable[[str], None]
START = datetime(2024, 1, 1, tzinfo=SHANGHAI)
ROOT = Path(__file__).resolve().parents[2]


def _into_publicity(run: CaseRun) -> int:
    """Cut a path where its case waits in a publicity: unit (3 steps) or media (5 steps)."""
    if run.path == "rejected":
        return 0
    return 3 if int(run.case_id[-1]) % 2 == 0 else 5


def build_due_cases(url: str, decider: Decider, count: int, seed: int) -> list[CaseRun]:
    """Cases in a publicity, driven through the engine (untimed); each has a pending timer."""
    runs = [r for r in build(decider, count, seed, truncate=_into_publicity) if r.steps]
    engine = Engine.open(url, decider=decider)
    try:
        for step in stream(runs):
            engine.execute(step.command)
    finally:
        engine.store.engine.dispose()
    return runs


def latest_due(url: str, decider: Decider) -> datetime:
    engine = Engine.open(url, decider=decider)
    try:
        with engine.store.reading() as connection:
            value = connection.execute(select(func.max(timers.c.due)).where(
                timers.c.status == "pending")).scalar()
    finally:
        engine.store.engine.dispose()
    return from_utc_text(str(value)).astimezone(SHANGHAI)


@dataclass
class FiringResult:
    fired: int
    seconds: float
    outcomes: Counter[str]

    @property
    def rate(self) -> float:
        return self.fired / self.seconds


def measure_firing(url: str, decider: Decider) -> FiringResult:
    until = latest_due(url, decider)
    engine = Engine.open(url, decider=decider)
    try:
        firer = TimerFirer(engine)
        clock = SimulatedClock(START)
        quiet_heap()
        started = time.perf_counter()
        firings = firer.catch_up(clock, until)
        seconds = time.perf_counter() - started
    finally:
        engine.store.engine.dispose()
    outcomes = Counter(f.outcome for f in firings)
    if set(outcomes) != {"fired"}:
        raise AssertionError(f"every due timer should fire: {dict(outcomes)}")
    return FiringResult(outcomes["fired"], seconds, outcomes)


def add_pending_timers(url: str, count: int, log: Log | None = None) -> None:
    """``count`` pending timers not due before 2027 (one per made-up case), executemany."""
    from jiekun.persistence.database import make_engine

    engine = make_engine(url)
    first = datetime(2027, 1, 1, 9, tzinfo=SHANGHAI)
    try:
        for offset in range(0, count, 200_000):
            rows = [{"case_id": f"P-{n:07d}", "kind": "recheck",
                     "due": utc_text(first + timedelta(minutes=n)), "status": "pending",
                     "armed_seq": 6} for n in range(offset, min(count, offset + 200_000))]
            with engine.begin() as connection:
                connection.execute(insert(timers), rows)
            if log is not None:
                log(f"scheduler memory store: {offset + len(rows):,} pending timers")
    finally:
        engine.dispose()


def pending_count(url: str) -> dict[str, int]:
    from jiekun.persistence.database import make_engine
    from jiekun.persistence.timer_queries import count_by_status

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return count_by_status(connection)
    finally:
        engine.dispose()


def measure_memory(url: str, until: datetime) -> dict[str, Any]:
    """Run the scheduler's tick in a fresh process; its own peak RSS."""
    done = subprocess.run([sys.executable, "-m", "tests.bench.rss_child", url, until.isoformat()],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the scheduler process failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
