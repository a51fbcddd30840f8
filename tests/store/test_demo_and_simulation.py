"""`jiekun demo` and `jiekun simulate-policy` (issue 7, "Done when"), on a small caseload.

The demo runs once per module (150 households, the default seed) as the newcomer would run it,
in a subprocess; its store is then the store of the simulate-policy tests: 低保 raised from 1167
to 1200 in a proposed policy file written from the shipped file's text, and every case's
standing under it checked against a direct assessment of the case's stored application.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from store_cases import dump_tables

from jiekun.persistence.schema import cases, events
from jiekun.policies.eligibility import assess
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.audit import verify
from jiekun.workflow.cli import main
from jiekun.workflow.engine import Engine
from jiekun.workflow.policy_what_if import (
    COULD_ENTER,
    LAST_KNOWN,
    OPEN_ARCHIVE,
    STANDINGS,
    simulate_policy,
)

ROOT = Path(__file__).resolve().parents[2]
HOUSEHOLDS = 150
FILES = ("jiekun.db", "history.jsonl", "lifecycle-zh.svg", "lifecycle-en.svg",
         "audit-verify.json", "summary.json")
TIMER_TRIGGERS = ("unit_publicity_ended", "media_publicity_ended", "recheck_due",
                  "phase_out_ended", "exit_publicity_ended", "retention_expired")
AS_OF = "2026-06-30"  # the last day the default policy knows L (1167 from 2025-07-01)


def default_policy_text() -> str:
    return resources.files("jiekun.policies").joinpath("data", "wx-2023-45.toml").read_text("utf-8")


def run_demo(output: Path, seed: int | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "jiekun.workflow.cli", "demo", "--households", str(HOUSEHOLDS),
            "--output", str(output)] + ([] if seed is None else ["--seed", str(seed)])
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo's output folder and what it printed."""
    output = tmp_path_factory.mktemp("demo") / "demo-output"
    done = run_demo(output)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return output, done.stdout


@pytest.fixture
def demo_engine(demo: tuple[Path, str], open_engine: Callable[[str], Engine]) -> Engine:
    return open_engine(f"sqlite:///{demo[0] / 'jiekun.db'}")


def stored_cases(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.store.reading() as connection:
        return {r.case_id: dict(r._mapping) for r in connection.execute(
            select(cases.c.case_id, cases.c.state, cases.c.category, cases.c.reviewing_body))}


def trigger_counts(engine: Engine) -> Counter[str]:
    with engine.store.reading() as connection:
        return Counter({r.trigger: int(r.n) for r in connection.execute(
            select(events.c.trigger, func.count().label("n")).group_by(events.c.trigger))})


def demo_policy_file(folder: Path) -> Path:
    """The policy the demo ran under: the shipped one with the illustrative tier tables
    (workflow/cli/demo.py: `with_tier_tables(..., "+illustrative-aid")`), as one file."""
    illustrative = (ROOT / "policies" / "data" / "illustrative-aid-tiers.toml").read_text("utf-8")
    text = default_policy_text()
    # The shipped file declares no tier table (and no empty `tables = []` in the way: issue
    # 15): the illustrative file's tables are appended.
    assert "tables = []" not in text
    assert text.count('id = "wx-2023-45"\n') == 1
    path = folder / "demo-policy.toml"
    path.write_text(text.replace('id = "wx-2023-45"\n', 'id = "wx-2023-45+illustrative-aid"\n')
                    + "\n" + illustrative, "utf-8")
    return path


# 8. The demo -----------------------------------------------------------------------------------

def test_demo_writes_every_file_and_a_consistent_summary(demo: tuple[Path, str],
                                                         demo_engine: Engine) -> None:
    output, printed = demo
    for name in FILES:
        assert (output / name).is_file() and (output / name).stat().st_size > 0, name
    paths = sorted(output.glob("case-*-path.svg"))
    assert len(paths) == 1
    for svg in [output / "lifecycle-zh.svg", output / "lifecycle-en.svg", *paths]:
        assert "<svg" in svg.read_text("utf-8")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in (output / "lifecycle-zh.svg").read_text())

    summary = json.loads((output / "summary.json").read_text("utf-8"))
    audit = json.loads((output / "audit-verify.json").read_text("utf-8"))
    stored = stored_cases(demo_engine)
    counts = trigger_counts(demo_engine)
    assert audit["ok"] is True and audit["problems"] == 0
    assert audit["cases"] == len(stored) == summary["households"] == HOUSEHOLDS
    assert audit["events"] == summary["events"] == sum(counts.values())
    assert summary["audit_verify"] == audit
    assert paths[0].name == f"case-{summary['path_diagram_case']}-path.svg"
    assert summary["cases_per_state"] == dict(Counter(c["state"] for c in stored.values()))
    assert summary["cases_per_reviewing_body"] == dict(
        Counter(str(c["reviewing_body"]) for c in stored.values()))
    # Every timer the scheduler reported fired is one stored event of its trigger.
    assert summary["timers_fired"] == {t: counts[t] for t in TIMER_TRIGGERS if counts[t]}
    assert sum(summary["timers_fired"].values()) > HOUSEHOLDS  # the scheduler did the timing

    for heading in ("cases per state", "cases per category", "cases per reviewing body",
                    "timers fired", "refusals by rule id", "audit verify: passed"):
        assert heading in printed, heading
    assert f"{HOUSEHOLDS} households, {summary['events']} events" in printed
    with demo_engine.store.reading() as connection:
        assert verify(demo_engine.store.reads_on(connection), demo_engine.decider).ok


def test_demo_export_replays_to_the_stored_states(demo: tuple[Path, str], demo_engine: Engine,
                                                  tmp_path: Path) -> None:
    output, _ = demo
    # no --policy: the export names the version each event was decided under (issue 15)
    result = CliRunner().invoke(main, ["replay", str(output / "history.jsonl"),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(result.output)
    assert report["violations"] == 0
    stored = stored_cases(demo_engine)
    assert set(report["cases"]) == set(stored)
    for case_id, case in stored.items():
        got = report["cases"][case_id]
        assert (got["state"], got["category"], got["reviewing_body"]) == (
            case["state"], case["category"], case["reviewing_body"]), case_id
    assert sum(c["events_applied"] for c in report["cases"].values()) == sum(
        trigger_counts(demo_engine).values())


def test_demo_export_proves_itself(demo: tuple[Path, str]) -> None:
    output, _ = demo
    result = CliRunner().invoke(main, ["audit", "verify-export", str(output / "history.jsonl"),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and not report["proven"]  # no checkpoint of the auditor's given
    assert report["events"] == report["checkpoint"]["size"] > HOUSEHOLDS * 5


def test_demo_is_deterministic(demo: tuple[Path, str], tmp_path: Path) -> None:
    output, _ = demo
    again = tmp_path / "again"
    done = run_demo(again, seed=45)  # 45 is the default seed
    assert done.returncode == 0, done.stderr[-2000:]
    first = json.loads((output / "summary.json").read_text("utf-8"))
    second = json.loads((again / "summary.json").read_text("utf-8"))
    first.pop("seconds")
    second.pop("seconds")
    assert first == second
    mark, *lines = (output / "history.jsonl").read_text("utf-8").splitlines()
    mark_again, *lines_again = (again / "history.jsonl").read_text("utf-8").splitlines()
    # the same events decided the same way; what differs is random by design: each store's
    # name (the checkpoint's origin), and each case's data key, which salts its personal
    # digests (issue 19) and so the hashes and proofs that cover them
    random = {"personal_digest", "personal_salt", "prev_hash", "hash", "proof"}

    def decided(text: list[str]) -> list[dict[str, object]]:
        return [{k: v for k, v in json.loads(x).items() if k not in random} for x in text]

    assert decided(lines) == decided(lines_again) and len(lines) > HOUSEHOLDS * 5
    note, note_again = (json.loads(m)["checkpoint"]["note"].splitlines()
                        for m in (mark, mark_again))
    assert note[1] == note_again[1] and note[0] != note_again[0]


# 9. simulate-policy ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proposal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = default_policy_text()
    assert text.count('amount = "1167"') == 1 and text.count('id = "wx-2023-45"\n') == 1
    path = tmp_path_factory.mktemp("proposal") / "wx-2023-45-1200.toml"
    path.write_text(text.replace('amount = "1167"', 'amount = "1200"')
                    .replace('id = "wx-2023-45"\n', 'id = "wx-2023-45-dibao-1200"\n'), "utf-8")
    return path


def considered(stored: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The open archive and, since issue 15, the households that could enter: rejected,
    exited, and withdrawn after review (assessed: a category)."""
    return {c: s for c, s in stored.items() if s["state"] in OPEN_ARCHIVE
            or (s["state"] in COULD_ENTER
                and (s["state"] != "withdrawn" or s["category"] is not None))}


def test_simulate_policy_matches_direct_assessments(demo_engine: Engine, proposal: Path) -> None:
    engine = demo_engine
    policy = load_policy(proposal)
    on = date.fromisoformat(AS_OF)
    assert str(policy.living_standard_on(on).amount) == "1200"
    with engine.store.reading() as connection:
        before = dump_tables(connection)
    stored = stored_cases(engine)
    open_archive = {c: s for c, s in considered(stored).items()
                    if engine.stored_case(c).application is not None}  # type: ignore[union-attr]
    assert sum(s["state"] in OPEN_ARCHIVE for s in open_archive.values()) > 10
    assert sum(s["state"] in COULD_ENTER for s in open_archive.values()) > 10

    report = simulate_policy(engine, policy, on)
    out = report.as_json()
    assert set(report.skipped) == set(considered(stored)) - set(open_archive)
    assert out["could_enter"] == sum(s["state"] in COULD_ENTER for s in open_archive.values())
    assert sum(len(ids) for ids in out["cases_by_move"].values()) == len(open_archive)
    assert out["current_version"]["hash"] == engine.decider.policy.content_hash
    assert out["cases"] == out["totals"]["cases"] == len(open_archive)
    assert sum(n for row in out["matrix"].values() for n in row.values()) == len(open_archive)
    for body, matrix in out["by_reviewing_body"].items():
        assert sum(n for row in matrix.values() for n in row.values()) == sum(
            1 for s in open_archive.values() if (s["reviewing_body"] or "none") == body)
    assert {m.case_id for m in report.movements} == set(open_archive)
    for movement in report.movements:
        case = engine.stored_case(movement.case_id)
        assert case is not None and case.application is not None
        direct = assess(case.application, policy, on)
        assert movement.after == (direct.category or "out"), movement.case_id
        assert movement.after_body == direct.reviewing_body
        closed = case.state in COULD_ENTER
        expected_before = "out" if case.state == "phase_out" or closed else case.category
        assert movement.before == expected_before, movement.case_id
        assert (movement.basis == LAST_KNOWN) == closed
        assert movement.reviewing_body == (case.reviewing_body or "none")
    assert set(out["leaving"]) == {m.case_id for m in report.movements
                                   if m.before != "out" and m.after == "out"}
    assert set(out["entering"]) == {m.case_id for m in report.movements
                                    if m.before == "out" and m.after != "out"}

    with engine.store.reading() as connection:
        assert dump_tables(connection) == before  # nothing changed
        assert verify(engine.store.reads_on(connection), engine.decider).ok


def test_simulate_policy_command(demo: tuple[Path, str], demo_engine: Engine,
                                 proposal: Path) -> None:
    url = f"sqlite:///{demo[0] / 'jiekun.db'}"
    events_before = sum(trigger_counts(demo_engine).values())
    result = CliRunner().invoke(main, ["simulate-policy", "--policy", str(proposal),
                                       "--as-of", AS_OF, "--db", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    expected = simulate_policy(demo_engine, load_policy(proposal),
                               date.fromisoformat(AS_OF)).as_json()
    assert out == expected
    open_archive = len(considered(stored_cases(demo_engine))) - len(out["skipped"])
    assert out["totals"]["cases"] == open_archive
    assert sum(out["matrix"][b][a] for b in STANDINGS for a in STANDINGS) == open_archive
    assert out["policy"] == "wx-2023-45-dibao-1200" and out["as_of"] == AS_OF

    text = CliRunner().invoke(main, ["simulate-policy", "--policy", str(proposal), "--as-of",
                                     AS_OF, "--db", url])
    assert text.exit_code == 0, text.output
    assert f"{open_archive} cases, of which {out['could_enter']} rejected" in text.output
    assert "by region of the applicant's unit:" in text.output

    audit = CliRunner().invoke(main, ["audit", "verify", "--db", url])
    assert audit.exit_code == 0, audit.output
    assert sum(trigger_counts(demo_engine).values()) == events_before
