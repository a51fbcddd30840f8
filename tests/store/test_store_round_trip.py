"""Round trip through the durable store (issue 3, "Done when"): importing every worked history
gives its expected report, and the export of the result replays to the same state and
``events_applied`` for every case, with no violation — on SQLite and on PostgreSQL; once
through the ``jiekun`` command too."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from store_cases import HISTORIES, expected_report, history_lines, report_subset

from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import export_lines, import_history

NAMES = sorted(p.name for p in HISTORIES.glob("*.jsonl"))
JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]


def test_every_worked_history_is_covered() -> None:
    assert len(NAMES) == 7
    for name in NAMES:  # no blank lines: line numbers are positions in history_lines()
        assert len(history_lines(name)) == len((HISTORIES / name).read_text("utf-8")
                                               .splitlines())


def _comparable(line: str) -> tuple[Any, ...]:
    """A history line as meaning: the time as an instant, absent data as {}."""
    record = json.loads(line)
    return (record["case"], datetime.fromisoformat(record["at"]), record["event"],
            record["actor"], record.get("data") or {})


def _lines_of_case(lines: list[str], case_id: str) -> list[str]:
    return [line for line in lines if json.loads(line)["case"] == case_id]


@pytest.mark.parametrize("name", NAMES, ids=lambda n: n.removesuffix(".jsonl"))
def test_import_gives_the_expected_report_and_the_export_replays(
        name: str, backend: str, open_engine: Callable[[str], Engine],
        decider: Decider) -> None:
    engine = open_engine(backend)
    expected = expected_report(name)
    original = history_lines(name)

    report = import_history(engine, original).as_json()
    assert set(report["cases"]) == set(expected)
    assert report_subset(expected, report["cases"]) == expected
    # the store judges exactly as the in-memory replay does (messages included)
    assert report == replay(original, decider).as_json()

    for case_id, outcome in report["cases"].items():
        stored = engine.stored_case(case_id)
        if outcome["events_applied"] == 0:
            assert stored is None
            continue
        assert stored is not None
        assert (stored.state, stored.version, stored.category, stored.reviewing_body) == (
            outcome["state"], outcome["events_applied"], outcome["category"],
            outcome["reviewing_body"])

    exported = list(export_lines(engine))
    applied = {c: o["events_applied"] for c, o in report["cases"].items()}
    assert len(exported) == sum(applied.values())  # only applied events are exported
    for case_id, n in applied.items():
        # the export of a case is its first n original lines, meaning for meaning
        assert [_comparable(x) for x in _lines_of_case(exported, case_id)] == [
            _comparable(x) for x in _lines_of_case(original, case_id)[:n]]
        assert list(export_lines(engine, case_id)) == _lines_of_case(exported, case_id)

    replayed = replay(exported, decider).as_json()
    assert replayed["violations"] == 0
    assert set(replayed["cases"]) == {c for c, n in applied.items() if n}
    for case_id, again in replayed["cases"].items():
        imported = report["cases"][case_id]
        assert again["violation"] is None
        assert {k: again[k] for k in ("state", "events_applied", "category",
                                      "reviewing_body")} == {
            k: imported[k] for k in ("state", "events_applied", "category", "reviewing_body")}

    with engine.store.reading() as connection:
        audit = verify(engine.store.reads_on(connection), engine.decider)
    assert audit.ok, audit.problems
    assert (audit.cases, audit.events) == (sum(1 for n in applied.values() if n),
                                           sum(applied.values()))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, timeout=120)


def test_round_trip_through_the_command(backend: str, tmp_path: Path) -> None:
    everything = tmp_path / "all.jsonl"
    everything.write_text("\n".join(history_lines(*NAMES)) + "\n", "utf-8")
    expected: dict[str, Any] = {}
    offset = 0  # a violation's line number counts from the top of the joined file
    for name in NAMES:
        for case_id, outcome in expected_report(name).items():
            if outcome["violation"]:
                outcome["violation"]["line"] += offset
            expected[case_id] = outcome
        offset += len(history_lines(name))
    violations = sum(1 for c in expected.values() if c["violation"])
    assert violations > 0

    imported = _run("case", "import", str(everything), "--db", backend, "--format", "json")
    assert imported.returncode == 1, imported.stderr  # replay's exit codes: violations found
    report = json.loads(imported.stdout)
    assert report_subset(expected, report["cases"]) == expected
    assert report["violations"] == violations

    exported = tmp_path / "export.jsonl"
    run = _run("case", "export", "--db", backend, "-o", str(exported))
    assert run.returncode == 0, run.stderr
    applied = sum(c["events_applied"] for c in expected.values())
    head, *rest = exported.read_text("utf-8").splitlines()
    assert json.loads(head)["checkpoint"]["note"].splitlines()[1] == str(applied)
    events = [line for line in rest if not line.startswith('{"policy_version"')]
    assert len(rest) - len(events) == 1  # every event was decided under version 1
    assert len(events) == applied

    run = _run("replay", str(exported), "--format", "json")
    assert run.returncode == 0, run.stderr
    replayed = json.loads(run.stdout)
    assert replayed["violations"] == 0
    assert {c: (o["state"], o["events_applied"]) for c, o in replayed["cases"].items()} == {
        c: (o["state"], o["events_applied"]) for c, o in expected.items()
        if o["events_applied"]}

    run = _run("audit", "verify", "--db", backend)
    assert run.returncode == 0, run.stdout + run.stderr
