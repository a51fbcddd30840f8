"""workflow/CONTRACT.md §3 (exit codes, spec of 2026-11-29): a refused store command exits 2
with its code and both texts (a line with the code and the Chinese text, a line with the
English text; ``--format json``: the error's JSON on stderr), 3 when the policy does not cover
the date, 4 when the store is unavailable — never a traceback, and nothing changed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]
ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "cases" / "histories" / "01-deep-happy-path-to-archive.jsonl"
APPLICATION = ROOT / "tests" / "examples" / "application.json"
CJK = re.compile(r"[\u4e00-\u9fff]")
FED = "federation:wuxi-city"  # C-1 of the history is deep: reviewed by the city
UNION = "grassroots_union:gu-test-001"
AFTER = "2024-02-01T10:00:00+08:00"  # C-1 archived on 2024-01-25, re-check due 2025-01-25

Run = subprocess.CompletedProcess[str]


def jiekun(*args: str) -> Run:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def refused(run: Run, code: int) -> list[str]:
    """stderr's lines of a refusal that exited ``code`` and wrote nothing on stdout."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert run.stdout == "" and "Traceback" not in run.stderr, run.stderr
    return run.stderr.strip().splitlines()


def refused_json(run: Run, code: int) -> dict[str, Any]:
    lines = refused(run, code)
    assert len(lines) == 1, lines
    body: dict[str, Any] = json.loads(lines[0])
    assert body["error"] == body["code"] and body["message"] == body["message_en"]
    assert CJK.search(body["message_zh"]) and not CJK.search(body["message_en"])
    return body


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'cases.db'}"
    assert jiekun("db", "upgrade", "--db", url).returncode == 0
    imported = jiekun("case", "import", str(HISTORY), "--db", url)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    return url


@pytest.fixture(scope="module")
def runs(store: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The refusals that change nothing, run side by side (each start costs about a second)."""
    missing = tmp_path_factory.mktemp("none") / "missing.db"
    db = ("--db", store)
    commands: dict[str, tuple[str, ...]] = {
        "typo": ("case", "fire", "C-1", "aprove", "--actor", FED, "--at", AFTER, *db),
        "transition": ("case", "fire", "C-1", "approve", "--actor", FED, "--at", AFTER,
                       "--format", "json", *db),
        "actor": ("case", "fire", "C-1", "start_recheck", "--actor", "federation:binhu",
                  "--at", AFTER, "--format", "json", *db),
        "order": ("case", "fire", "C-1", "start_recheck", "--actor", FED, "--at",
                  "2020-02-01T10:00:00+08:00", "--format", "json", *db),
        "payload": ("case", "fire", "C-1", "cancel", "--actor", FED, "--at", AFTER, "--data",
                    '{"reason": "bored"}', "--format", "json", *db),
        "not-found": ("case", "show", "NOPE", *db),
        "not-found-json": ("case", "history", "NOPE", "--format", "json", *db),
        "missing-store": ("case", "list", "--db", f"sqlite:///{missing}"),
        "missing-store-json": ("case", "fire", "C-1", "start_recheck", "--actor", FED,
                               "--format", "json", "--db", f"sqlite:///{missing}"),
        "unreachable": ("case", "list", "--db",
                        "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(jiekun, *args) for name, args in commands.items()}
        done = {name: future.result() for name, future in futures.items()}
    assert not missing.exists()  # opening a missing SQLite store never creates it
    return done


def test_a_misspelt_trigger_exits_2_with_its_code_and_both_texts(runs: dict[str, Run]) -> None:
    first, second = refused(runs["typo"], 2)
    assert first.startswith("jiekun: E-TRANSITION ") and CJK.search(first)
    assert "审核通过" in first
    assert "did you mean approve?" in second and not CJK.search(second)


def test_a_refused_trigger_writes_its_json_on_stderr(runs: dict[str, Run]) -> None:
    body = refused_json(runs["transition"], 2)
    assert body["code"] == "E-TRANSITION" and body["state"] == "archived"
    assert body["trigger"] == "approve" and "start_recheck" in body["allowed"]
    assert body["suggestions"] == [] and body["problems"] == []


@pytest.mark.parametrize(("name", "code"), [
    ("actor", "E-ACTOR"), ("order", "E-ORDER"), ("payload", "E-PAYLOAD"),
    ("not-found-json", "E-NOT-FOUND")])
def test_refused_store_commands_exit_2(runs: dict[str, Run], name: str, code: str) -> None:
    assert refused_json(runs[name], 2)["code"] == code


def test_a_payload_refusal_lists_its_problems_with_both_texts(runs: dict[str, Run]) -> None:
    problem = refused_json(runs["payload"], 2)["problems"][0]
    assert problem["path"] == "data.reason" and problem["code"] == "E-PAYLOAD"
    assert CJK.search(problem["message_zh"])


def test_showing_a_case_that_does_not_exist_exits_2(runs: dict[str, Run]) -> None:
    first, second = refused(runs["not-found"], 2)
    assert first == "jiekun: E-NOT-FOUND 未找到案件 NOPE，请核对案件编号。"
    assert second == "no case 'NOPE' is stored"


def test_a_missing_store_exits_4_and_is_not_created(runs: dict[str, Run]) -> None:
    first, *_ = refused(runs["missing-store"], 4)
    assert first.startswith("jiekun: E-SCHEMA ") and CJK.search(first)
    assert refused_json(runs["missing-store-json"], 4)["code"] == "E-SCHEMA"


def test_an_unreachable_store_exits_4_without_a_traceback(runs: dict[str, Run]) -> None:
    first, second = refused(runs["unreachable"], 4)[:2]
    assert first.startswith("jiekun: E-BUSY ") and "secret" not in runs["unreachable"].stderr
    assert "unavailable" in second


def test_policy_not_covering_the_date_exits_3_and_a_reused_key_2(store: str,
                                                                runs: dict[str, Run]) -> None:
    # after the refusals above (they must not see C-2): L is known until 2026-06-30
    db = ("--db", store, "--format", "json")
    at = "2026-07-02T{}:00:00+08:00"
    submitted = jiekun("case", "submit", str(APPLICATION), "--case", "C-2", "--actor", UNION,
                       "--at", at.format("09"), *db)
    assert submitted.returncode == 0, submitted.stderr
    started = jiekun("case", "fire", "C-2", "start_preliminary_review", "--actor", UNION,
                     "--at", at.format("10"), "--key", "k-1", *db)
    assert started.returncode == 0, started.stderr
    body = refused_json(jiekun("case", "fire", "C-2", "pass_preliminary_review", "--actor",
                               UNION, "--at", at.format("11"), *db), 3)
    assert body["code"] == "E-POLICY" and body["date"] == "2026-07-02"
    reused = jiekun("case", "fire", "C-2", "request_supplement", "--actor", UNION, "--at",
                    at.format("12"), "--data", '{"reason": "缺少收入证明"}', "--key", "k-1", *db)
    assert refused_json(reused, 2)["code"] == "E-IDEMPOTENCY"
    shown = json.loads(jiekun("case", "show", "C-2", *db).stdout)
    assert shown["state"] == "preliminary_review" and shown["version"] == 2  # nothing changed
