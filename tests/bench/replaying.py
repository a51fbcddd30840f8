"""Replay events per second as ``jiekun replay`` runs it (``workflow.replay_parallel``: the file
streamed and judged on one process per core above ``PARALLEL_FROM_BYTES``), and on one
process (the library's ``replay``), against parsing the same JSON lines alone (``json.loads``
per line); and the peak resident memory of replaying a history of ~1,000,000 events (cloned
cases, ``python -m tests.bench.replaying FILE``: the main process and its workers)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jiekun.workflow.decider import Decider
from jiekun.workflow.history import event_line
from jiekun.workflow.replay import replay
from jiekun.workflow.replay_parallel import cores, replay_file
from tests.bench.workload import CaseRun, resident_id, stream


def history(runs: list[CaseRun]) -> list[str]:
    """workflow/CONTRACT.md §2 lines of these cases, interleaved in time order."""
    return [event_line(s.event.case_id, s.event.at, s.event.trigger, s.event.actor,
                       s.event.data) for s in stream(runs)]


@dataclass
class ReplayResult:
    events: int
    seconds: float  # as ``jiekun replay`` runs it (all cores)
    single_seconds: float  # one process, the library's ``replay``
    parse_seconds: float
    workers: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def single_rate(self) -> float:
        return self.events / self.single_seconds

    @property
    def parse_rate(self) -> float:
        return self.events / self.parse_seconds


def measure(lines: list[str], decider: Decider, work: Path) -> ReplayResult:
    """Both rates on the same lines (written to ``work``), and a check that the two reports
    are the same and clean."""
    path = work / "replay.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    loads = json.loads
    started = time.perf_counter()
    for line in lines:
        loads(line)
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    single = replay(lines, decider)
    single_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = replay_file(path, decider)  # what the command runs (by the file's size)
    seconds = time.perf_counter() - started
    applied = sum(c.applied for c in report.cases.values())
    if report.violations or applied != len(lines):
        raise AssertionError(f"the generated history does not replay cleanly: "
                             f"{report.violations} violations, {applied}/{len(lines)} applied")
    if report.as_json() != single.as_json():
        raise AssertionError("the parallel replay's report differs from one process's")
    path.unlink()
    return ReplayResult(len(lines), seconds, single_seconds, parse_seconds, cores())


def clone_history(lines: list[str], target: int, path: Path) -> tuple[int, int]:
    """Write ~``target`` events to ``path``: ``lines`` (a generated history) again and again,
    each copy's cases and applicants renamed, copies one after another. (events, cases)"""
    parsed = [json.loads(line) for line in lines]
    applicant = {o["case"]: o["data"]["applicant"]["id_number"] for o in parsed
                 if o["event"] == "submit"}
    serial = {case: n for n, case in enumerate(sorted(applicant))}
    cases = {o["case"] for o in parsed}
    written = copies = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            for line, obj in zip(lines, parsed, strict=True):
                case = obj["case"]
                text = line.replace('"case": "', f'"case": "K{copies:03d}-', 1)
                old = applicant.get(case)
                if old is not None:
                    text = text.replace(old, resident_id(
                        700_000 + copies * len(serial) + serial[case]))
                out.write(text + "\n")
            written += len(lines)
            copies += 1
    return written, copies * len(cases)


def peak_memory(path: Path) -> dict[str, float]:
    """Replay ``path`` as the command does in a fresh process; its peak resident set and its
    workers' (MB), and the seconds it took."""
    done = subprocess.run([sys.executable, "-m", "tests.bench.replaying", str(path)],
                          capture_output=True, text=True, check=True)
    measured: dict[str, float] = json.loads(done.stdout)
    return measured


def _child(path: str) -> None:
    started = time.perf_counter()
    report = replay_file(path, Decider())
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"main_mb": own, "worker_mb": workers, "seconds": seconds,
                      "violations": report.violations,
                      "applied": sum(c.applied for c in report.cases.values())}))


if __name__ == "__main__":
    _child(sys.argv[1])
