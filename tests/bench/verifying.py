"""``audit verify`` over a large store (default 1,000,000 events, ``BENCH_VERIFY_EVENTS``).

Driving a million events through the engine would take the whole budget, so a few real case
histories (built through the Decider, see workload.py) are cloned into many cases: each clone
gets its own case id and applicant id number, and its rows are written exactly as the engine
writes them — event rows re-chained (``StoredEvent.chain_hash`` per clone, the personal text's
digest recomputed), the projection from ``workflow.row_mapping.projection``, the timer row, the
vault rows — with executemany in large transactions. Every clone is a valid chain, and verify
must say so (the benchmark fails otherwise).

Baseline: reading the same rows with the query verify uses (ordered by case and sequence,
streamed), doing nothing with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from jiekun.persistence.chain import GENESIS, StoredEvent, digest
from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.queries import event_query
from jiekun.persistence.schema import case_personal, cases, events, personal_data, timers
from jiekun.persistence.store import Store
from jiekun.policies.deadlines import SHANGHAI
from jiekun.workflow.audit import AuditReport
from jiekun.workflow.audit_parallel import verify_store
from jiekun.workflow.checkpoint import CheckpointCheck, take_checkpoint, verify_against
from jiekun.workflow.decider import Decider
from jiekun.workflow.row_mapping import projection
from tests.bench.workload import CaseRun, resident_id

Log = Callable[[str], None]


@dataclass
class Template:
    run: CaseRun
    application: str  # the vault's application text (the case's current application)

    @classmethod
    def of(cls, run: CaseRun) -> Template:
        case = run.case
        assert case is not None and case.application is not None
        for step in run.steps:  # the ids to replace appear only where they are replaced
            row = step.row
            assert run.applicant_id not in row.actor + row.data + row.derived, row
            assert run.case_id not in row.actor + row.data + (row.personal or ""), row
            assert (row.personal is None) == (row.personal_digest is None), row
        return cls(run, case.application.model_dump_json())


@dataclass
class Rows:
    events: list[dict[str, Any]]
    personal: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    timers: list[dict[str, Any]]
    vault: list[dict[str, Any]]

    @classmethod
    def empty(cls) -> Rows:
        return cls([], [], [], [], [])


def clone(template: Template, case_id: str, applicant: str, into: Rows) -> None:
    """The rows of ``template``'s case as case ``case_id`` of applicant ``applicant``."""
    run = template.run
    old_case, old_applicant = run.case_id, run.applicant_id
    prev = GENESIS
    row: StoredEvent | None = None
    for step in run.steps:
        t = step.row
        personal = None if t.personal is None else t.personal.replace(old_applicant, applicant)
        row = StoredEvent(case_id, t.seq, t.at, t.trigger, t.actor, t.data,
                          None if personal is None else digest(personal), t.policy_id,
                          t.policy_hash, t.derived.replace(old_case, case_id), prev, personal)
        hash_ = row.chain_hash()
        into.events.append({
            "case_id": case_id, "seq": row.seq, "at": row.at, "trigger": row.trigger,
            "actor": row.actor, "data": row.data, "personal_digest": row.personal_digest,
            "policy_id": row.policy_id, "policy_hash": row.policy_hash, "derived": row.derived,
            "idempotency_key": None, "prev_hash": prev, "hash": hash_})
        if personal is not None:
            into.personal.append({"case_id": case_id, "seq": row.seq, "payload": personal})
        prev = hash_
    assert run.case is not None and row is not None
    archive = run.case.archive_number
    case = run.case.evolve(case_id=case_id, archive_number=None if archive is None
                           else archive.replace(old_case, case_id))
    into.cases.append(vars(projection(case, prev, row.at)))
    timer = run.timer
    if timer is not None:
        into.timers.append({**vars(timer), "case_id": case_id})
    into.vault.append({"case_id": case_id, "applicant_id": applicant,
                       "application": template.application.replace(old_applicant, applicant)})


def _batches(templates: list[Template], target_events: int, per_batch: int
             ) -> Iterator[tuple[Rows, int]]:
    rows, made, n = Rows.empty(), 0, 0
    while made < target_events:
        template = templates[n % len(templates)]
        clone(template, f"V-{n:07d}", resident_id(500_000 + n), rows)
        made += len(template.run.steps)
        n += 1
        if len(rows.events) >= per_batch:
            yield rows, made
            rows = Rows.empty()
    if rows.events:
        yield rows, made


def build_store(url: str, templates: list[Template], target_events: int,
                log: Log | None = None) -> int:
    """Write at least ``target_events`` events of cloned cases to the (upgraded, empty) store
    at ``url``; returns the number of events written."""
    engine = make_engine(url)
    made = 0
    try:
        for rows, made in _batches(templates, target_events, 100_000):
            with engine.begin() as connection:
                for table, values in ((events, rows.events), (personal_data, rows.personal),
                                      (cases, rows.cases), (timers, rows.timers),
                                      (case_personal, rows.vault)):
                    if values:
                        connection.execute(insert(table), values)
            if log is not None:
                log(f"audit store: {made:,} events written")
        # the rows were written in plain text, as a store before encryption held them: seal
        # them as `jiekun db upgrade` does, so verify opens every vault value (issue 19)
        started = time.perf_counter()
        upgrade(engine)
        if log is not None:
            log(f"audit store: vault sealed in {time.perf_counter() - started:.0f} s")
    finally:
        engine.dispose()
    return made


@dataclass
class VerifyResult:
    events: int
    seconds: float
    read_seconds: float
    report: AuditReport
    against_seconds: float = 0.0  # `audit verify --against`: chains and the log's leaves
    against_ok: bool = False


def read_all(store: Store) -> tuple[int, float]:
    """The baseline: the rows verify reads, in its order, streamed the same way."""
    started = time.perf_counter()
    count = 0
    with store.reading() as connection:
        query = event_query().order_by(events.c.case_id, events.c.seq)
        for row in connection.execution_options(yield_per=2000).execute(query):
            tuple(row)
            count += 1
    return count, time.perf_counter() - started


def measure(url: str, decider: Decider) -> VerifyResult:
    store = Store(make_engine(url))
    try:
        count, read_seconds = read_all(store)
        started = time.perf_counter()
        # what `jiekun audit verify` runs: one process per core on a store this large
        report = verify_store(url, decider.policy)
        seconds = time.perf_counter() - started
        # an auditor's checkpoint of the store, held to it as `audit verify --against` does:
        # the log's leaves read in this process while the workers verify the chains again
        mark = take_checkpoint(store, datetime.now(SHANGHAI))
        held: list[CheckpointCheck] = []
        started = time.perf_counter()
        again = verify_store(url, decider.policy, meanwhile=lambda: held.append(
            verify_against(store, mark, content=False)))
        against_seconds = time.perf_counter() - started
        assert again.ok == report.ok and again.events == report.events
    finally:
        store.engine.dispose()
    return VerifyResult(count, seconds, read_seconds, report, against_seconds,
                        bool(held) and held[0].ok)
