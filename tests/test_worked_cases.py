"""The worked cases of tests/cases (workflow/CONTRACT.md): through the library and through
the ``jiekun`` command, all as written, and the worked example of the time rule in
tests/examples/time-rule/."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.application import validate_application
from jiekun.policies.eligibility import assess
from jiekun.policies.errors import InvalidInput, PolicyNotInForce
from jiekun.policies.json_input import loads
from jiekun.policies.policy_file import Policy
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

CASES = Path(__file__).parent / "cases"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "cases"
SHARED_TIME_RULE = SHARED.parent / "spec" / "examples" / "time-rule"
ASSESS = sorted((CASES / "assess").glob("*.json"))
HISTORIES = sorted((CASES / "histories").glob("*.jsonl"))
TIME_RULE_DIR = CASES.parent / "examples" / "time-rule"
# the worked example of the time rule (states/LIFECYCLE.md, Timers)
TIME_RULE = sorted(TIME_RULE_DIR.glob("*.jsonl"))
JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]


def test_there_are_cases() -> None:
    assert len(ASSESS) == 25 and len(HISTORIES) == 7 and len(TIME_RULE) == 1


@pytest.mark.skipif(not SHARED.is_dir(), reason="the upstream cases are not beside this clone")
def test_copy_is_identical_to_shared_cases() -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    shared, copy = files(SHARED), files(CASES)
    assert sorted(shared) == sorted(copy)
    assert [name for name in shared if shared[name] != copy[name]] == []
    assert files(SHARED_TIME_RULE) == files(TIME_RULE_DIR)


def _expected_subset(expected: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    got = {k: output[k] for k in expected}
    if "reviewing_body" in got and got["reviewing_body"] is not None:
        got["reviewing_body"] = got["reviewing_body"]["code"]
    return got


@pytest.mark.parametrize("path", ASSESS, ids=lambda p: p.stem)
def test_assess_case_through_library(path: Path, policy: Policy) -> None:
    case = loads(path.read_text("utf-8"))
    on = date.fromisoformat(case["as_of"])
    if "expected_exit" in case:
        error = InvalidInput if case["expected_exit"] == 2 else PolicyNotInForce
        with pytest.raises(error):
            assess(validate_application(case["application"], on), policy, on)
        return
    output = assess(validate_application(case["application"], on), policy, on).as_json()
    assert _expected_subset(case["expected"], output) == case["expected"]


@pytest.mark.parametrize("path", ASSESS, ids=lambda p: p.stem)
def test_assess_case_through_command(path: Path, tmp_path: Path) -> None:
    case = json.loads(path.read_text("utf-8"))
    application = tmp_path / "application.json"
    application.write_text(json.dumps(case["application"], ensure_ascii=False), "utf-8")
    run = subprocess.run([*JIEKUN, "assess", str(application), "--as-of", case["as_of"],
                          "--format", "json"], capture_output=True, text=True)
    if "expected_exit" in case:
        assert run.returncode == case["expected_exit"], run.stderr
        assert run.stdout == "" and run.stderr
        return
    assert run.returncode == 0, run.stderr
    assert _expected_subset(case["expected"], json.loads(run.stdout)) == case["expected"]


def _replay_subset(expected: dict[str, Any], cases: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    for case_id, fields in expected.items():
        out = cases[case_id]
        got[case_id] = {k: out[k] for k in fields}
        if out["violation"] is not None and "violation" in fields:
            got[case_id]["violation"] = {k: out["violation"][k] for k in ("line", "rule")}
    return got


def _expected_replay(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.with_suffix(".expected.json").read_text("utf-8"))
    return loaded


@pytest.mark.parametrize("path", [*HISTORIES, *TIME_RULE], ids=lambda p: p.stem)
def test_history_case_through_library(path: Path, decider: Decider) -> None:
    expected = _expected_replay(path)
    report = replay(path.read_text("utf-8").splitlines(), decider).as_json()
    assert set(report["cases"]) == set(expected)
    assert _replay_subset(expected, report["cases"]) == expected


@pytest.mark.parametrize("path", [*HISTORIES, *TIME_RULE], ids=lambda p: p.stem)
def test_history_case_through_command(path: Path) -> None:
    expected = _expected_replay(path)
    run = subprocess.run([*JIEKUN, "replay", str(path), "--format", "json"],
                         capture_output=True, text=True)
    any_violation = any(c.get("violation") for c in expected.values())
    assert run.returncode == (1 if any_violation else 0), run.stderr
    report = json.loads(run.stdout)
    assert _replay_subset(expected, report["cases"]) == expected
    assert report["violations"] == sum(1 for c in expected.values() if c.get("violation"))
