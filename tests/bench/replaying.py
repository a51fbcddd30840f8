"""Replay events per second (``workflow.replay.replay`` on a generated history), against
parsing the same JSON lines alone (``json.loads`` per line)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from jiekun.workflow.decider import Decider
from jiekun.workflow.history import event_line
from jiekun.workflow.replay import replay
from tests.bench.workload import CaseRun, stream


def history(runs: list[CaseRun]) -> list[str]:
    """workflow/CONTRACT.md §2 lines of these cases, interleaved in time order."""
    return [event_line(s.event.case_id, s.event.at, s.event.trigger, s.event.actor,
                       s.event.data) for s in stream(runs)]


@dataclass
class ReplayResult:
    events: int
    seconds: float
    parse_seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def parse_rate(self) -> float:
        return self.events / self.parse_seconds


def measure(lines: list[str], decider: Decider) -> ReplayResult:
    loads = json.loads
    started = time.perf_counter()
    for line in lines:
        loads(line)
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = replay(lines, decider)
    seconds = time.perf_counter() - started
    applied = sum(len(c.events) for c in report.cases.values())
    if report.violations or applied != len(lines):
        raise AssertionError(f"the generated history does not replay cleanly: "
                             f"{report.violations} violations, {applied}/{len(lines)} applied")
    return ReplayResult(len(lines), seconds, parse_seconds)
