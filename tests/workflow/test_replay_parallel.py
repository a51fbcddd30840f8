"""Nothing decided differently (issue 18): the demo's export and every worked history replay to
the same report in one process and on several, with and without the memos; R-ONE-OPEN-CASE
is judged across cases as in one process; a malformed line is named as one process names it;
``jiekun replay`` of a large file gives the report of a small one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jiekun.policies.errors import InvalidInput
from jiekun.policies.memo import caches_off
from jiekun.workflow.cli import main
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay
from jiekun.workflow.replay_parallel import file_lines, replay_file, replay_lines

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests" / "cases" / "histories").glob("*.jsonl"))
TIME_RULE = sorted((ROOT / "tests" / "examples" / "time-rule").glob("*.jsonl"))


def _all_ways(path: Path, decider: Decider) -> list[dict[str, Any]]:
    """The report of one process (the library's ``replay``), of the streamed single process,
    of two and three workers, and of one process with every memo off."""
    lines = path.read_text("utf-8").splitlines()
    reports = [replay(lines, decider).as_json()]
    for workers in (1, 2, 3):
        reports.append(replay_lines(file_lines(path), decider, workers=workers).as_json())
    with caches_off():
        reports.append(replay(lines, Decider(decider.policy)).as_json())
    return reports


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("demo") / "out"
    done = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "demo",
                           "--households", "40", "--output", str(output)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return output / "history.jsonl"


def test_the_demo_export_replays_the_same_every_way(demo_history: Path,
                                                     decider: Decider) -> None:
    reports = _all_ways(demo_history, decider)
    assert len(reports[0]["cases"]) >= 40
    assert all(r == reports[0] for r in reports[1:])
    # the order of the cases is the file's (a dict compares without order)
    assert all(list(r["cases"]) == list(reports[0]["cases"]) for r in reports[1:])


@pytest.mark.parametrize("path", [*HISTORIES, *TIME_RULE], ids=lambda p: p.stem)
def test_every_worked_history_replays_the_same_every_way(path: Path, decider: Decider) -> None:
    reports = _all_ways(path, decider)
    expected = json.loads(path.with_suffix(".expected.json").read_text("utf-8"))
    assert set(reports[0]["cases"]) == set(expected)
    assert all(r == reports[0] and list(r["cases"]) == list(reports[0]["cases"])
               for r in reports[1:])


def _many_cases(tmp_path: Path) -> tuple[Path, list[str]]:
    """The worked happy path as many cases of other applicants, one applicant submitting a
    second case while the first is open (R-ONE-OPEN-CASE), all interleaved."""
    source = (HISTORIES[0]).read_text("utf-8").splitlines()
    first = json.loads(source[0])
    applicant = first["data"]["applicant"]["id_number"]
    lines: list[str] = []
    for n in range(30):
        for text in source:
            line = json.loads(text)
            line["case"] = f"{line['case']}-{n}"
            lines.append(json.dumps(line, ensure_ascii=False))
    twin = dict(first, case="TWIN")  # the same applicant, a second open case: refused
    lines.insert(len(source) * 7 + 2, json.dumps(twin, ensure_ascii=False))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert applicant in lines[len(source) * 7 + 2]
    return path, lines


def test_one_open_case_is_judged_across_shards_as_in_one_process(tmp_path: Path,
                                                                   decider: Decider) -> None:
    path, lines = _many_cases(tmp_path)
    single = replay(lines, decider).as_json()
    assert single["cases"]["TWIN"]["violation"]["rule"] == "R-ONE-OPEN-CASE"
    assert single["violations"] >= 1
    for workers in (2, 4):
        assert replay_file(path, decider, workers=workers).as_json() == single


def test_a_malformed_line_is_named_as_one_process_names_it(tmp_path: Path,
                                                           decider: Decider) -> None:
    path, lines = _many_cases(tmp_path)
    broken = list(lines)
    broken[40] = broken[40].replace("+08:00", "")  # a naive time: routed, refused by a worker
    broken[90] = "not json"  # refused while routing, after it
    path.write_text("\n".join(broken), "utf-8")
    with pytest.raises(InvalidInput) as single:
        replay(broken, decider)
    with pytest.raises(InvalidInput) as parallel:
        replay_file(path, decider, workers=2)
    assert "line 41" in str(single.value)
    assert str(parallel.value) == str(single.value)


def test_the_command_replays_a_large_file_on_workers_with_the_same_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _many_cases(tmp_path)
    runner = CliRunner()
    small = runner.invoke(main, ["replay", str(path), "--format", "json"])
    # the package's ``replay`` is the command: the module is reached through sys.modules
    command = sys.modules["jiekun.workflow.cli.replay"]
    monkeypatch.setattr(command, "PARALLEL_FROM_BYTES", 1)
    calls: list[int] = []
    real = replay_lines

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "replay_lines", spy)
    large = runner.invoke(main, ["replay", str(path), "--format", "json"])
    assert calls == [1]
    assert (large.exit_code, large.output) == (small.exit_code, small.output)
    assert small.exit_code == 1  # the twin's violation
