"""Triggers that ``reads_application`` calls application-free decide and fold the same without
the case's application: the durable engine then skips parsing it (a timer firing, most
commands). Each history of tests/cases, and a guided path through every state, is decided
twice at every such step — with the case as folded, and with its application removed — and
the two outcomes must be equal: the same event, or the same refusal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.errors import JiekunError
from jiekun.states import Effect, FieldType
from jiekun.workflow.context import OpenCases
from jiekun.workflow.decider import (
    APPLICATION_FREE_EFFECTS,
    APPLICATION_FREE_GUARDS,
    Decider,
    reads_application,
)
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.replay import replay

from .test_triggers import ALLOWED

HISTORIES = sorted((Path(__file__).parents[1] / "cases" / "histories").glob("*.jsonl"))


def _outcome(fire: Callable[[], tuple[Event, CaseState]]) -> tuple[Any, ...]:
    try:
        event, after = fire()
    except JiekunError as refusal:
        return ("refused", type(refusal).__name__, refusal.rule, str(refusal))
    return ("applied", event, after.evolve(application=None))


class TwiceDecider(Decider):
    """Decides every application-free command a second time on the case without its
    application, and records whether the outcomes agree."""

    def __init__(self, decider: Decider) -> None:
        super().__init__(decider.policy, decider.machine, decider.calendar)
        self.compared: Counter[str] = Counter()
        self.differences: list[str] = []

    def decide_and_fold(self, case: CaseState | None, command: Command,
                        open_cases: OpenCases) -> tuple[Event, CaseState]:
        fire = super().decide_and_fold
        if case is not None and case.application is not None \
                and not self.reads_application(command.trigger):
            whole = _outcome(lambda: fire(case, command, open_cases))
            without = _outcome(lambda: fire(case.evolve(application=None), command, open_cases))
            self.compared[f"{command.trigger} {whole[0]}"] += 1
            if whole != without:
                self.differences.append(f"{command.case_id} {command.trigger}: "
                                        f"{whole} != {without}")
        return fire(case, command, open_cases)


@pytest.fixture
def twice(decider: Decider) -> TwiceDecider:
    return TwiceDecider(decider)


def test_the_worked_histories_decide_the_same_without_the_application(
        twice: TwiceDecider) -> None:
    for path in HISTORIES:
        replay(path.read_text("utf-8").splitlines(), twice)
    assert twice.differences == []
    assert sum(twice.compared.values()) >= 30  # the histories do reach these steps


def test_every_route_decides_the_same_without_the_application(twice: TwiceDecider) -> None:
    # every route of the definition, as the trigger tables drive it (test_triggers.ALLOWED)
    for route in sorted(ALLOWED, key=str):
        ALLOWED[route](twice)
    assert twice.differences == []
    free = {t.name for t in twice.lifecycle.triggers if not twice.reads_application(t.name)}
    applied = {key.split()[0] for key in twice.compared if key.endswith("applied")}
    # a trigger never applied in these paths would be an untested claim of reads_application
    assert free - applied == set()


def test_what_reads_the_application_is_listed_as_reading_it(decider: Decider) -> None:
    by_name = {t.name: t for t in decider.lifecycle.triggers}
    # the assessment, the household, the application itself, and aid tiers (by cause)
    for name in ("submit", "amend_application", "pass_preliminary_review", "approve",
                 "confirm_eligibility", "start_phase_out", "grant_aid", "readmit"):
        assert reads_application(by_name[name]), name
    assert "R-ELIGIBLE" not in APPLICATION_FREE_GUARDS
    assert "R-AID-TIER" not in APPLICATION_FREE_GUARDS
    assert Effect.ASSESS not in APPLICATION_FREE_EFFECTS
    assert Effect.SET_GRASSROOTS_UNION not in APPLICATION_FREE_EFFECTS
    household = [t for t in decider.lifecycle.triggers
                 if any(f.type is FieldType.HOUSEHOLD for f in t.payload)]
    assert household and all(reads_application(t) for t in household)
