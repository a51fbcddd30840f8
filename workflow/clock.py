"""Clocks. Time is an argument everywhere; this module is the one place that reads the real
time, and the simulated clock is how the demo, the tests and ``catch-up`` move through years."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from jiekun.policies.deadlines import SHANGHAI, local_date, require_aware


class Clock(Protocol):
    def now(self) -> datetime: ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(SHANGHAI)


class SimulatedClock:
    """A clock that only moves when told to, and never backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "simulated time")

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        require_aware(moment, "simulated time")
        if moment < self._now:
            raise ValueError(f"a simulated clock does not go back: {moment} < {self._now}")
        self._now = moment


def today(clock: Clock) -> date:
    return local_date(clock.now())
