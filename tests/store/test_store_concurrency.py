"""Concurrency on PostgreSQL (issue 3, "Done when"): 8 processes fire conflicting commands on
the same 200 cases. Afterwards every chain verifies, no sequence number is duplicated or
skipped, and every refused command got ConcurrencyConflict or a lifecycle refusal — never
silence: per process, accepted + refused == sent, and the events stored are exactly the
accepted ones.

Every case starts in preliminary_review (version 2). Each process sends two of
pass_preliminary_review / reject_preliminary / request_supplement / withdraw /
start_preliminary_review to every case, in the same case order as the others (so they
collide); odd-numbered processes send their first command with expected_version=2.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from store_cases import DEEP_SUBMIT, GU, at, deep_application, resident_id, union
from store_race import SETUP_VERSION, race

from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

PROCESSES, CASES = 8, 200


def _setup(engine: Engine) -> list[tuple[str, str]]:
    cases = []
    for k in range(CASES):
        case_id, applicant = f"R-{k:03d}", resident_id(100 + k)
        engine.submit(case_id, deep_application(applicant), union(), at(DEEP_SUBMIT))
        engine.fire(case_id, "start_preliminary_review", union(),
                    at("2024-01-08T10:00:00+08:00"))
        cases.append((case_id, applicant))
    return cases


class Follower:
    """A consumer of the notification log while the race runs: it keeps only the last
    position it processed, as an embedding system would."""

    def __init__(self, engine: Engine, position: int) -> None:
        self.engine, self.position = engine, position
        self.seen: list[tuple[str, int, str]] = []
        self.polls = 0

    def poll(self) -> None:
        self.polls += 1
        for position, event in self.engine.events_since(self.position):
            assert position > self.position
            self.position = position
            self.seen.append((event.case_id, event.seq, event.trigger))


def _run_processes(url: str, cases: list[tuple[str, str]],
                   follower: Follower) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [context.Process(target=race, args=(url, n, cases, GU, barrier, results))
                 for n in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + 150
    try:
        while len(outcomes) < PROCESSES and time.monotonic() < deadline:
            follower.poll()
            with contextlib.suppress(queue.Empty):
                outcomes.append(results.get(timeout=0.05))
        follower.poll()
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join()
    assert len(outcomes) == PROCESSES, f"only {len(outcomes)} processes reported"
    return sorted(outcomes, key=lambda o: int(o["process"]))


def test_eight_processes_racing_on_the_same_200_cases(
        pg_database: Callable[..., str], decider: Decider) -> None:
    url = pg_database()
    engine = Engine.open(url, decider=decider)
    try:
        cases = _setup(engine)
        setup_end = engine.events_since(0)[-1][0]
        follower = Follower(engine, setup_end)
        outcomes = _run_processes(url, cases, follower)
        _check(engine, outcomes, setup_end)
        # polling while the processes committed, the cursor never skipped nor repeated an
        # event: it saw every committed event exactly once, each case in sequence order
        log = [(e.case_id, e.seq, e.trigger) for _, e in engine.events_since(setup_end)]
        assert follower.polls > 10
        assert follower.seen == log
    finally:
        engine.store.engine.dispose()


def _check(engine: Engine, outcomes: list[dict[str, Any]], setup_end: int) -> None:
    accepted: list[tuple[str, int, str]] = []
    conflicts = 0
    for outcome in outcomes:
        assert "crash" not in outcome, outcome.get("crash")
        assert outcome["unexpected"] == [], outcome["unexpected"][:5]
        refused = outcome["conflicts"] + sum(outcome["refusals"].values())
        assert outcome["sent"] == 2 * CASES
        assert len(outcome["accepted"]) + refused == outcome["sent"], outcome["process"]
        # every command is valid in preliminary_review; once the case has moved on, the
        # refusal is the lifecycle's (the trigger is not allowed in the new state)
        assert set(outcome["refusals"]) <= {"E-TRANSITION"}, outcome["refusals"]
        accepted += [tuple(a) for a in outcome["accepted"]]
        conflicts += outcome["conflicts"]
    # the race really happened: stale versions were caught, and every case moved on
    assert conflicts > 0
    assert len(accepted) >= CASES

    with engine.store.reading() as c:
        stored = [tuple(r) for r in c.execute(text(
            "SELECT case_id, seq, trigger FROM events ORDER BY case_id, seq"))]
        versions = dict(c.execute(text("SELECT case_id, version FROM cases")).all())
        report = verify(engine.store.reads_on(c), engine.decider)
    assert report.ok, report.problems[:3]
    assert (report.cases, report.events) == (CASES, SETUP_VERSION * CASES + len(accepted))

    # the events stored after the setup are exactly the accepted commands, each once
    assert len(set(accepted)) == len(accepted)
    assert sorted(e for e in stored if int(e[1]) > SETUP_VERSION) == sorted(accepted)
    # per case: sequence numbers 1 … version, none duplicated or skipped
    seqs: dict[str, list[int]] = {}
    for case_id, seq, _ in stored:
        seqs.setdefault(str(case_id), []).append(int(seq))
    assert len(seqs) == CASES
    for case_id, numbers in seqs.items():
        assert numbers == list(range(1, len(numbers) + 1)), case_id
        assert versions[case_id] == len(numbers) > SETUP_VERSION, case_id

    # the notification log after the setup holds the same events, in commit order
    log = engine.events_since(setup_end)
    assert sorted((e.case_id, e.seq, e.trigger) for _, e in log) == sorted(accepted)
    positions = [p for p, _ in log]
    assert positions == sorted(set(positions))
    per_case: dict[str, list[int]] = {}
    for _, event in log:
        per_case.setdefault(event.case_id, []).append(event.seq)
    assert all(s == sorted(s) for s in per_case.values())
