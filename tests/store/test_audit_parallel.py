"""``audit verify`` on several processes agrees with one process: the same counts and the
same first broken record, on an untouched store and on a tampered one."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

import jiekun.workflow.audit_parallel as parallel
from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.audit import verify
from jiekun.workflow.checkpoint import CheckpointCheck, take_checkpoint, verify_against
from jiekun.workflow.engine import Engine
from jiekun.workflow.transfer import import_history

HISTORIES = sorted((Path(__file__).parents[1] / "cases" / "histories").glob("*.jsonl"))


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    upgrade(make_engine(url))
    engine = Engine.open(url)
    for history in HISTORIES:
        import_history(engine, history.read_text("utf-8").splitlines())
    engine.store.engine.dispose()
    return url, path


def _serial(url: str) -> parallel.AuditReport:
    engine = Engine.open(url)
    with engine.store.reading() as connection:
        return verify(engine.store.reads_on(connection), engine.decider)


def test_parallel_verify_agrees_with_one_process(store: tuple[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, path = store
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    together = parallel.verify_store(url, load_policy(), workers=3)
    alone = _serial(url)
    assert together.ok and alone.ok
    # 8 cases; the applied events of the 7 histories: 6+3+4+(5+4)+11+7+13 = 53
    assert (together.cases, together.events) == (alone.cases, alone.events) == (8, 53)
    with sqlite3.connect(path) as raw:  # one byte of C-6's seventh event and C-8's fifth
        raw.execute("UPDATE events SET trigger = 'recheck_duE' WHERE case_id = 'C-6' AND seq = 7")
        raw.execute("UPDATE events SET at = replace(at, '2024', '2023') "
                    "WHERE case_id = 'C-8' AND seq = 5")
    together = parallel.verify_store(url, load_policy(), workers=3)
    alone = _serial(url)
    assert [(p.case_id, p.seq) for p in together.problems] == [
        (p.case_id, p.seq) for p in alone.problems] == [("C-6", 7), ("C-8", 5)]


def test_an_open_reader_does_not_block_a_writer(store: tuple[str, Path]) -> None:
    """Readers (audit workers, exports, queries) hold no write lock on SQLite: a write goes
    through while a read transaction is open (before the fix the writer waited out the
    30 s busy timeout and failed)."""
    url, _ = store
    engine = Engine.open(url)
    with engine.store.reading() as connection:
        # the read transaction is open here
        assert verify(engine.store.reads_on(connection), engine.decider).ok
        writer = Engine.open(url)
        event = writer.fire("C-5", "dismiss_objection", Actor("grassroots_union",
                                                                org="gu-test-001"),
                            datetime.fromisoformat("2024-01-16T09:00:00+08:00"),
                            {"objection_id": "O-2", "reason": "经核实不属实"})
        assert event.seq == 5


def test_the_log_checked_while_the_workers_verify_names_what_it_names_alone(
        store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``audit verify --against`` reads the log's leaves in the main process while the
    workers verify the chains: the same findings as the log checked on its own."""
    url, path = store
    engine = Engine.open(url)
    mark = take_checkpoint(engine.store, datetime(2026, 1, 1, tzinfo=SHANGHAI))
    with sqlite3.connect(path) as raw:  # the newest event of C-6 gone, its case rebuilt
        raw.execute("DELETE FROM events WHERE case_id = 'C-6' AND seq = "
                    "(SELECT max(seq) FROM events WHERE case_id = 'C-6')")
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    held: list[CheckpointCheck] = []
    report = parallel.verify_store(url, load_policy(), workers=2, meanwhile=lambda: held.append(
        verify_against(engine.store, mark, content=False)))
    alone = verify_against(engine.store, mark, content=False)
    assert [(f.kind, f.index) for f in held[0].findings] == [
        (f.kind, f.index) for f in alone.findings] and alone.findings
    assert [p.case_id for p in report.problems] == ["C-6"]
    engine.close()
