"""workflow/CONTRACT.md §3: ``jiekun assess`` and ``jiekun replay`` on bad input — exit codes,
errors on stderr and nothing on stdout — plus ``--help`` and the text format."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]
ROOT = Path(__file__).resolve().parents[2]
RULE_IDS = ("R-DEEP-INCOME", "R-DEEP-NET", "R-REL-INCOME", "R-REL-NET", "R-ACC-EVENT",
            "R-ACC-INCOME", "R-ACC-NET")


def jiekun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def application() -> dict[str, Any]:
    # n = 2, Y = 12000 + 0 → I = 500, N = (12000 − 2400) / 24 = 400 < L: deep (wuxi-city)
    return {
        "applicant": {"name": "王芳", "id_number": "11010519491231002X", "phone": "13900000000",
                      "union_member": True, "employment": "employed"},
        "grassroots_union": "gu-test-001",
        "unit": {"name": "测试单位", "kind": "enterprise", "region": "滨湖区"},
        "residence": {"region": "滨湖区", "community": "测试社区"},
        "household": {"members": [
            {"name": "王芳", "relation": "self", "annual_income": "12000"},
            {"name": "李娜", "relation": "spouse", "annual_income": "0"}],
            "rigid_expenses": [{"kind": "education", "annual_amount": "2400"}]},
        "accident": None,
        "declared_category": "deep",
    }


def write(path: Path, content: str) -> str:
    path.write_text(content, "utf-8")
    return str(path)


def assert_refused(run: subprocess.CompletedProcess[str], code: int) -> None:
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert run.stdout == ""
    assert run.stderr.strip()


SUBMIT = json.dumps({"case": "C-0001", "at": "2024-01-08T09:30:00+08:00", "event": "submit",
                     "actor": {"role": "grassroots_union", "org": "gu-test-001"},
                     "data": application()}, ensure_ascii=False)
BAD_LINES = {
    "not-json": '{"case": "C-0001", "at": "2024-01-08T10:00:00+08:00", "event": ',
    "naive-time": '{"case": "C-0001", "at": "2024-01-08T10:00:00", '
                  '"event": "start_preliminary_review", '
                  '"actor": {"role": "grassroots_union", "org": "gu-test-001"}}',
    "no-event": '{"case": "C-0001", "at": "2024-01-08T10:00:00+08:00", '
                '"actor": {"role": "grassroots_union", "org": "gu-test-001"}}',
}
BROKEN_POLICIES = {
    "not-toml": 'id = "broken\n[living_standard\n',
    "not-a-policy": 'id = "wx-test"\ntitle = "t"\n',   # TOML, but not a policy
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command of this module, run concurrently once (each start costs about a second)."""
    tmp = tmp_path_factory.mktemp("cli")
    good = write(tmp / "good.json", json.dumps(application(), ensure_ascii=False))
    invalid = application()
    invalid["household"]["members"][1]["annual_income"] = "-1"
    invalid["unit"]["region"] = "无锡市"
    undeclared = application()
    undeclared["declared_category"] = "poor"
    commands: dict[str, tuple[str, ...]] = {
        "not-json": ("assess", write(tmp / "nj.json", '{"applicant": {"name": "王芳",'),
                     "--as-of", "2024-09-02"),
        "invalid": ("assess", write(tmp / "inv.json", json.dumps(invalid, ensure_ascii=False)),
                    "--as-of", "2024-09-02", "--format", "json"),
        "known-until": ("assess", good, "--as-of", "2026-07-01"),
        "invalid-late": ("assess", write(tmp / "late.json",
                                         json.dumps(undeclared, ensure_ascii=False)),
                         "--as-of", "2026-07-01"),
        "text": ("assess", good, "--as-of", "2024-09-02", "--format", "text"),
        "help-assess": ("assess", "--help"),
        "help-replay": ("replay", "--help"),
    }
    for name, text in BROKEN_POLICIES.items():
        commands[f"policy-{name}"] = ("assess", good, "--as-of", "2024-09-02", "--policy",
                                      write(tmp / f"broken-{name}.toml", text))
    for name, line in BAD_LINES.items():
        # line 1 is well formed, line 2 blank (ignored, still counted), line 3 malformed
        commands[f"replay-{name}"] = ("replay", write(tmp / f"{name}.jsonl",
                                                      f"{SUBMIT}\n\n{line}\n"),
                                      "--format", "json")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(jiekun, *args) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def test_assess_not_json(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["not-json"]
    assert_refused(run, 2)
    assert "JSON" in run.stderr


def test_assess_invalid_application_names_every_path(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["invalid"]
    assert_refused(run, 2)
    assert "household.members[1].annual_income" in run.stderr
    assert "unit.region" in run.stderr


def test_assess_after_known_until_is_exit_3(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["known-until"]
    assert_refused(run, 3)
    assert "2026-07-01" in run.stderr


def test_assess_invalid_application_is_exit_2_whatever_its_date(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["invalid-late"]
    assert_refused(run, 2)
    assert "declared_category" in run.stderr


@pytest.mark.parametrize("name", BROKEN_POLICIES)
def test_assess_with_a_broken_policy_file(
        name: str, runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs[f"policy-{name}"]
    assert_refused(run, 2)
    assert f"broken-{name}.toml" in run.stderr


@pytest.mark.parametrize("name", BAD_LINES)
def test_replay_malformed_line_names_its_number(
        name: str, runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs[f"replay-{name}"]
    assert_refused(run, 2)
    assert "line 3" in run.stderr


@pytest.mark.parametrize(("command", "options"), [
    ("assess", ("--as-of", "--format", "--policy")),
    ("replay", ("--format", "--policy")),
])
def test_help(command: str, options: tuple[str, ...],
              runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs[f"help-{command}"]
    assert run.returncode == 0, run.stderr
    assert all(option in run.stdout for option in options)


def test_text_format_shows_category_and_rule_ids(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["text"]
    assert run.returncode == 0, run.stderr
    assert "deep" in run.stdout and "深度困难" in run.stdout
    assert all(rule in run.stdout for rule in RULE_IDS)
    assert "wuxi-city" in run.stdout
    assert run.stderr == ""
