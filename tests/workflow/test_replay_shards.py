"""Each replay worker reads the file itself and keeps its own shard's lines (issue 18): the
report is still one process's, with the file's policy versions, blank lines and line endings;
the first malformed line is named wherever it is and whichever worker finds it; a worker's
failure is raised here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.errors import InvalidInput
from jiekun.policies.policy_file import shipped_policy_text
from jiekun.policies.policy_hash import policy_text_hash
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay
from jiekun.workflow.replay_parallel import replay_file
from tests.bench.workload import resident_id

ROOT = Path(__file__).resolve().parents[2]
HAPPY = ROOT / "tests" / "cases" / "histories" / "01-deep-happy-path-to-archive.jsonl"


def _cases(copies: int) -> list[str]:
    """The worked happy path as ``copies`` cases of as many applicants, interleaved."""
    source = [t for t in HAPPY.read_text("utf-8").splitlines() if t.strip()]
    applicant = json.loads(source[0])["data"]["applicant"]["id_number"]
    copied = [[text.replace('"case": "C-1"', f'"case": "C-1-{n}"').replace(
        applicant, resident_id(5_000 + n)) for text in source] for n in range(copies)]
    return [copy[step] for step in range(len(source)) for copy in copied]


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline, "utf-8", newline="")
    return path


def test_the_cases_are_split_over_the_workers_and_merged_in_file_order(
        tmp_path: Path, decider: Decider) -> None:
    lines = _cases(60)
    single = replay(lines, decider).as_json()
    assert len(single["cases"]) == 60 and single["violations"] == 0
    for workers in (2, 3):
        report = replay_file(_write(tmp_path / "h.jsonl", lines), decider, workers=workers)
        assert report.as_json() == single
        assert list(report.as_json()["cases"]) == list(single["cases"])


def test_blank_lines_and_crlf_keep_the_line_numbers(tmp_path: Path, decider: Decider) -> None:
    lines = _cases(12)
    spaced = [t for text in lines for t in (text, "")]
    # a refused event names its line: one that cannot be fired where it is
    late = json.loads(lines[-1])
    spaced.insert(30, json.dumps(dict(late, case="C-1-3"), ensure_ascii=False))
    single = replay(spaced, decider).as_json()
    assert single["cases"]["C-1-3"]["violation"]["line"] == 31
    path = _write(tmp_path / "crlf.jsonl", spaced, "\r\n")
    assert replay_file(path, decider, workers=2).as_json() == single


def test_every_worker_reads_the_files_policy_versions(tmp_path: Path,
                                                      decider: Decider) -> None:
    shipped = shipped_policy_text()
    named = policy_text_hash(shipped)
    version = json.dumps({"policy_version": {"id": "wx-2023-45", "version": 1, "hash": named,
                                             "toml": shipped}})
    lines = [version]
    for text in _cases(20):
        obj = json.loads(text)
        obj["policy"] = f"wx-2023-45@{named}"
        lines.append(json.dumps(obj, ensure_ascii=False))
    single = replay(lines, decider).as_json()
    assert single["violations"] == 0
    assert replay_file(_write(tmp_path / "v.jsonl", lines), decider,
                       workers=2).as_json() == single


def _refusal(lines: list[str], decider: Decider) -> str:
    with pytest.raises(InvalidInput) as refused:
        replay(lines, decider)
    return str(refused.value)


@pytest.mark.parametrize("where", [1500, 2900])
def test_the_first_malformed_line_is_named_whichever_worker_finds_it(
        tmp_path: Path, decider: Decider, where: int) -> None:
    lines = _cases(700)  # past the lines after which a worker looks whether another stopped
    assert len(lines) > 4000
    broken = list(lines)
    broken[where] = broken[where].replace("+08:00", "")  # a naive time: its worker refuses it
    for later in range(where + 1, where + 40):  # other cases', whichever shard they are in
        broken[later] = broken[later].replace("+08:00", "")
    broken[3500] = "not json"  # not an event: every worker stops there
    expected = _refusal(broken, decider)
    assert f"line {where + 1}" in expected
    with pytest.raises(InvalidInput) as parallel:
        replay_file(_write(tmp_path / "bad.jsonl", broken), decider, workers=2)
    assert str(parallel.value) == expected


def test_a_line_no_worker_can_route_is_named(tmp_path: Path, decider: Decider) -> None:
    broken = _cases(30)
    broken[100] = "[1]"
    expected = _refusal(broken, decider)
    assert "line 101" in expected
    with pytest.raises(InvalidInput) as parallel:
        replay_file(_write(tmp_path / "bad.jsonl", broken), decider, workers=3)
    assert str(parallel.value) == expected


class _Failing(Decider):
    """A decider with a bug: every decision fails."""

    def decide_and_fold(self, *args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug in the decider")


def test_a_failure_in_a_worker_is_raised_here(tmp_path: Path, decider: Decider) -> None:
    path = _write(tmp_path / "h.jsonl", _cases(10))
    with pytest.raises(RuntimeError, match="a replay worker failed") as failed:
        replay_file(path, _Failing(decider.policy), workers=2)
    assert "a bug in the decider" in str(failed.value)


@pytest.mark.parametrize("file_versions", [True, False])
def test_a_file_that_is_not_utf8_is_refused_as_one_process_refuses_it(
        tmp_path: Path, decider: Decider, file_versions: bool) -> None:
    path = _write(tmp_path / "h.jsonl", _cases(10))
    path.write_bytes(path.read_bytes().replace("成员".encode(), b"\xff\xfe", 1))
    with pytest.raises(UnicodeDecodeError):
        path.read_text("utf-8")
    for workers in (1, 2):
        with pytest.raises(UnicodeDecodeError):
            replay_file(path, decider, workers=workers, file_versions=file_versions)
