"""Crash consistency, the short run of CI (issue 8 item 1; ``make soak`` runs ≥ 200 kills per
backend): the engine in a child process is killed with SIGKILL at random moments of its
stream of transitions, 12 times on SQLite and 12 times on PostgreSQL, and after each restart
the store is checked (crash_harness.py): every chain verifies, projections and timers are
the fold of the events, no half-applied transition, every acknowledged command present, no
idempotency key twice, no timer fired twice.

The last test shows that the checks find what they look for, on a store changed by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from crash_harness import ROOT, Checker, CrashReport, run_kills
from sqlalchemy import delete, select, update

from jiekun.persistence.chain import from_utc_text
from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.schema import cases, events, timers
from jiekun.policies.authorization import SYSTEM
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

KILLS = 12


def test_killed_engine_loses_nothing_and_applies_nothing_by_half(
        backend: str, backend_name: str, decider: Decider, tmp_path: Path) -> None:
    report = run_kills(backend, KILLS, seed=8, workdir=tmp_path, backend=backend_name,
                       decider=decider, full_every=6)
    problems = "\n".join(str(v) for v in report.violations[:20])
    assert report.crashes == 0, problems
    assert report.violations == [], problems
    assert (report.lost_events, report.partial_transitions, report.duplicate_firings) == (
        0, 0, 0)
    assert report.kills == KILLS
    # The kills landed while the child was writing: most runs committed events before the
    # kill (a child needs ~0.5 s to start; it then runs 50–600 ms), so the checks had
    # something to find.
    assert report.kills_after_events >= KILLS // 2, report.summary()
    assert report.chains_verified == len(_case_ids(backend)) > 0
    assert report.timer_firings > 0 and report.acknowledged_refusals > 0, report.summary()
    assert report.acknowledged_events > report.kills, report.summary()


def _case_ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {str(r[0]) for r in connection.execute(select(events.c.case_id))}
    finally:
        engine.dispose()


def test_the_checks_find_a_lost_event_a_stray_firing_and_a_claim_left_behind(
        tmp_path: Path, decider: Decider) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    made = make_engine(url)
    upgrade(made)
    made.dispose()
    log = tmp_path / "child.jsonl"
    # Without a kill the child's stream is deterministic: 300 steps, then it stops.
    done = subprocess.run([sys.executable, "-m", "tests.store.crash_child", "--url", url,
                           "--log", str(log), "--seed", "5", "--steps", "300"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = CrashReport("sqlite")
    checker = Checker(url, decider, report, log)
    checker.check(full=True)
    assert report.violations == [], [str(v) for v in report.violations]
    assert report.timer_firings > 0 and report.acknowledged_events > 100

    lines = [json.loads(x) for x in log.read_text().splitlines()]
    engine = Engine.open(url, decider=decider)
    with engine.store.reading() as connection:
        heads = {(r.case_id, r.version) for r in connection.execute(
            select(cases.c.case_id, cases.c.version))}
        pending = connection.execute(select(timers.c.case_id, timers.c.due).where(
            timers.c.status == "pending", timers.c.kind == "recheck")).first()
        publicity = connection.execute(select(timers.c.case_id).where(
            timers.c.status == "pending", timers.c.kind != "recheck")).first()
    assert pending is not None and publicity is not None
    # 1. An acknowledged event (the last of its case) disappears.
    lost = next(x for x in reversed(lines) if x["type"] == "ack" and x["op"] == "cmd"
                and x["outcome"] == "event" and (x["case"], x["seq"]) in heads
                and x["case"] not in (pending.case_id, publicity.case_id))
    # 2. A timer trigger recorded without its timer's key (as a second scheduler that
    #    ignored the claim would): a firing the check must call a duplicate.
    due = from_utc_text(pending.due)
    assert isinstance(due, datetime)
    engine.fire(pending.case_id, "recheck_due", SYSTEM, due + timedelta(minutes=1))
    with engine.store.unit_of_work() as uow:
        uow.connection.execute(delete(events).where(events.c.case_id == lost["case"],
                                                    events.c.seq == lost["seq"]))
        # 3. A claim left behind by a transaction that did not finish.
        uow.connection.execute(update(timers).where(timers.c.case_id == publicity.case_id)
                               .values(status="firing"))
    engine.store.engine.dispose()

    checker.check(full=True)
    found = {(v.kind, v.case_id, v.seq) for v in report.violations}
    text = "\n".join(str(v) for v in report.violations)
    assert ("lost", lost["case"], lost["seq"]) in found, text
    assert any(v.kind == "partial" and v.case_id == lost["case"] for v in report.violations)
    assert any(v.kind == "duplicate" and v.case_id == pending.case_id
               for v in report.violations), text
    assert ("partial", publicity.case_id, None) in found, text
    assert report.lost_events >= 1 and report.duplicate_firings >= 1
