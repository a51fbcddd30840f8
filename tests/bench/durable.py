"""Durable transitions per second: ``Engine.execute`` on a stream of real commands, against the
raw SQLAlchemy Core writes of the same rows (the honest baseline of workflow/DESIGN.md,
SQLite and PostgreSQL).

Both sides run on a fresh store made by the migrations and opened by
``persistence.database.make_engine`` (SQLite: WAL, synchronous=NORMAL, BEGIN IMMEDIATE;
PostgreSQL: the server's defaults, fsync and synchronous_commit on), one transaction per step.

The raw side writes, per step, the very event row the engine stores for it (the chained row,
same text, same hash) with a prebuilt ``insert(events)``, and updates that case's projection row
with a prebuilt ``update(cases)`` (its rows are created before the clock starts). Nothing else:
no read, no decision, no vault, no timer — the cost of those is what the ratio shows.

The cases are split into rounds; each round times raw and engine back to back (alternating which
goes first), so a drift of the machine during the run hits both sides alike.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import bindparam, create_engine, event, insert, select, update

from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.keys import NO_ENCRYPTION, FileKeyProvider
from jiekun.persistence.schema import cases, events
from jiekun.persistence.statements import ProjectionRow
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from tests.bench.workload import CaseRun, Step, stream

_CASE_COLUMNS = [c.name for c in cases.c if c.name != "case_id"]


def quiet_heap() -> None:
    """Before a clock starts: take what the harness built so far (the workload, its rows) out
    of the garbage collector's sight. Otherwise every collection of the oldest generation walks
    the benchmark's own prebuilt data, a cost set by the benchmark's size and charged to
    whichever side allocates more (``gc.freeze``; the engine's own objects stay collected)."""
    gc.collect()
    gc.freeze()


def prepared_store(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def raw_engine(url: str) -> SAEngine:
    """The baseline's engine: plain SQLAlchemy with the store's durability settings (SQLite:
    WAL, synchronous=NORMAL; the driver's own deferred BEGIN). On PostgreSQL this is exactly
    what ``make_engine`` builds."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    return engine


def event_values(step: Step) -> dict[str, Any]:
    row = step.row
    return {"case_id": row.case_id, "seq": row.seq, "at": row.at, "trigger": row.trigger,
            "actor": row.actor, "data": row.data, "personal_digest": row.personal_digest,
            "policy_id": row.policy_id, "policy_hash": row.policy_hash, "derived": row.derived,
            "idempotency_key": None, "prev_hash": row.prev_hash, "hash": step.hash}


def case_values(p: ProjectionRow) -> dict[str, Any]:
    values = {c: getattr(p, c) for c in _CASE_COLUMNS}
    values["b_case_id"] = p.case_id
    return values


class RawWriter:
    """Prebuilt Core statements; one transaction per step: insert the event, update the case."""

    def __init__(self, url: str, engine: SAEngine | None = None) -> None:
        self.engine: SAEngine = engine or raw_engine(url)
        self.insert_event = insert(events)
        self.update_case = (update(cases).where(cases.c.case_id == bindparam("b_case_id"))
                            .values({c: bindparam(c) for c in _CASE_COLUMNS}))

    def create_cases(self, runs: list[CaseRun]) -> None:
        """The case rows the updates need (untimed): placeholders, as a fresh case would be."""
        rows = [{"case_id": r.case_id, "state": "submitted", "version": 0, "category": None,
                 "reviewing_body": None, "grassroots_union": None, "snapshot": "{}",
                 "head_hash": "", "updated_at": ""} for r in runs]
        with self.engine.begin() as connection:
            connection.execute(insert(cases), rows)

    def write(self, steps: list[Step]) -> float:
        work = [(event_values(s), case_values(s.projection)) for s in steps]
        begin, ins, upd = self.engine.begin, self.insert_event, self.update_case
        started = time.perf_counter()
        for event_row, case_row in work:
            with begin() as connection:
                connection.execute(ins, event_row)
                connection.execute(upd, case_row)
        return time.perf_counter() - started

    def close(self) -> None:
        self.engine.dispose()


def alternate(runs: list[CaseRun], rounds: int, sides: list[Callable[[list[Step]], float]],
              report: Callable[[int, int, list[float]], None]) -> tuple[int, list[float]]:
    """Time every side on the same steps, ``rounds`` rounds over ``runs`` split evenly, the
    order of the sides reversed every other round (a drift of the machine then hits every side
    alike); returns the steps timed and each side's seconds."""
    seconds = [0.0] * len(sides)
    total = 0
    for n in range(rounds):
        part = stream(runs[n::rounds])
        total += len(part)
        order = list(enumerate(sides))
        for slot, side in order if n % 2 == 0 else reversed(order):
            seconds[slot] += side(part)
        report(n, total, seconds)
    return total, seconds


def run_engine(engine: Engine, steps: list[Step]) -> float:
    execute = engine.execute
    commands = [s.command for s in steps]
    started = time.perf_counter()
    for command in commands:
        execute(command)
    return time.perf_counter() - started


@dataclass
class Pair:
    backend: str
    steps: int
    raw_seconds: float
    engine_seconds: float
    same_rows: bool  # the engine stored exactly the rows the raw side wrote
    immediate_seconds: float | None = None  # raw through make_engine (SQLite: BEGIN IMMEDIATE)

    @property
    def immediate_rate(self) -> float | None:
        return None if self.immediate_seconds is None else self.steps / self.immediate_seconds

    @property
    def raw_rate(self) -> float:
        return self.steps / self.raw_seconds

    @property
    def engine_rate(self) -> float:
        return self.steps / self.engine_seconds


def _hashes(engine: SAEngine) -> set[tuple[str, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(events.c.case_id, events.c.seq, events.c.hash))
        return {(str(a), int(b), str(c)) for a, b, c in rows}


# What the engine decided, without what is random per store since issue 19 (a salted personal
# digest, and so the chain hashes): the engine's rows must say this of every step.
_DECIDED = (events.c.case_id, events.c.seq, events.c.at, events.c.trigger, events.c.actor,
            events.c.data, events.c.policy_hash, events.c.derived)


def _decided(engine: SAEngine) -> set[tuple[str, ...]]:
    with engine.connect() as connection:
        return {tuple(str(v) for v in row) for row in connection.execute(select(*_DECIDED))}


def measure(backend: str, urls: list[str], runs: list[CaseRun], decider: Decider,
            rounds: int = 2, log: Callable[[str], None] | None = None,
            warmup: int = 20) -> Pair:
    """Raw and engine on fresh stores (URLs already upgraded: raw, engine and, on SQLite, raw
    through ``make_engine``), ``rounds`` alternations after an untimed warm-up on the first
    ``warmup`` cases (connections opened, statements compiled, on every side)."""
    raw = RawWriter(urls[0])
    immediate = (RawWriter(urls[2], make_engine(urls[2]))
                 if backend == "sqlite" and len(urls) > 2 else None)
    writers = [raw] if immediate is None else [raw, immediate]
    for writer in writers:
        writer.create_cases(runs)
    engine = Engine.open(urls[1], decider=decider)
    try:
        warmup = min(warmup, len(runs) // 4)  # a small run (BENCH_*) keeps cases to time
        first = stream(runs[:warmup])
        for writer in writers:
            writer.write(first)
        run_engine(engine, first)
        timed = runs[warmup:]
        quiet_heap()
        sides: list[Callable[[list[Step]], float]] = [raw.write,
                                                       partial(run_engine, engine)]
        if immediate is not None:
            sides.append(immediate.write)

        def report(n: int, total: int, seconds: list[float]) -> None:
            if log is not None:
                log(f"{backend}: round {n + 1}/{rounds}, {total:,} steps: raw "
                    f"{total / seconds[0]:,.0f}/s, engine {total / seconds[1]:,.0f}/s")

        total, seconds = alternate(timed, rounds, sides, report)
        # the raw side writes the very rows computed in memory; the engine seals personal
        # values and salts their digests, so its rows are held to what was decided
        expected = {(s.row.case_id, s.row.seq, s.hash) for r in runs for s in r.steps}
        decided = {tuple(str(v) for v in (s.row.case_id, s.row.seq, s.row.at, s.row.trigger,
                                          s.row.actor, s.row.data, s.row.policy_hash,
                                          s.row.derived))
                   for r in runs for s in r.steps}
        same = _decided(engine.store.engine) == decided and all(
            _hashes(w.engine) == expected for w in writers)
    finally:
        for writer in writers:
            writer.close()
        engine.store.engine.dispose()
    if not same:
        print(f"warning: {backend}: the engine's stored rows differ from the raw side's",
              file=sys.stderr)
    return Pair(backend, total, seconds[0], seconds[1], same,
                seconds[2] if immediate is not None else None)


@dataclass
class SealedPair:
    steps: int
    plain_seconds: float  # the engine with no encryption (``NO_ENCRYPTION``)
    sealed_seconds: float  # the engine as shipped: the vault sealed under a master key

    @property
    def slower(self) -> float:
        """How much longer the sealed engine took, as a fraction of the plain one's time."""
        return self.sealed_seconds / self.plain_seconds - 1


def encryption_cost(urls: list[str], runs: list[CaseRun], decider: Decider, key_file: Path,
                    rounds: int = 2, log: Callable[[str], None] | None = None,
                    warmup: int = 20) -> SealedPair:
    """Issue 19's cost: the same commands through the engine on two fresh stores (``urls``),
    one without encryption and one sealing its vault under ``key_file``, in alternating rounds
    after an untimed warm-up."""
    plain = Engine.open(urls[0], decider=decider, keys=NO_ENCRYPTION)
    sealed = Engine.open(urls[1], decider=decider, keys=FileKeyProvider(key_file))
    try:
        warmup = min(warmup, len(runs) // 4)  # a small run (BENCH_*) keeps cases to time
        first = stream(runs[:warmup])
        for engine in (plain, sealed):
            run_engine(engine, first)
        quiet_heap()

        def report(n: int, total: int, seconds: list[float]) -> None:
            if log is not None:
                log(f"encryption: round {n + 1}/{rounds}, {total:,} steps: plain "
                    f"{total / seconds[0]:,.0f}/s, sealed {total / seconds[1]:,.0f}/s")

        total, seconds = alternate(runs[warmup:], rounds, [partial(run_engine, plain),
                                                           partial(run_engine, sealed)], report)
    finally:
        plain.close()
        sealed.close()
    return SealedPair(total, seconds[0], seconds[1])
