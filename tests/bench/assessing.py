"""Assessments per second: ``policies.eligibility.assess`` on valid applications of the demo's
seeded caseload (validated before the clock starts, each assessed on its submission day)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from jiekun.policies.application import validate_application
from jiekun.policies.deadlines import local_date
from jiekun.policies.eligibility import assess
from jiekun.workflow.decider import Decider
from tests.bench.workload import applications


@dataclass
class AssessResult:
    count: int
    seconds: float
    qualifying: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def measure(decider: Decider, count: int, seed: int = 5) -> AssessResult:
    policy = decider.policy
    work = [(validate_application(app, local_date(at)), local_date(at))
            for _, app, at, _, _ in applications(count, seed, decider)]
    started = time.perf_counter()
    qualifying = sum(1 for app, on in work if assess(app, policy, on).category is not None)
    return AssessResult(len(work), time.perf_counter() - started, qualifying)
