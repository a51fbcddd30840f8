"""What replay's speed-ups may not change (issue 18): the records the engine builds from its
own values without validating them again equal the validated ones; ``verdict`` concludes what
``assess`` concludes; a guard's outcome (``guards.OUTCOMES``) is what the guard itself says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from jiekun.policies.application import Application, validate_application
from jiekun.policies.eligibility import assess, verdict
from jiekun.policies.errors import PolicyNotInForce
from jiekun.policies.input_errors import InvalidApplication
from jiekun.policies.policy_file import Policy
from jiekun.states import TimerKind
from jiekun.workflow import guards
from jiekun.workflow.context import Decision
from jiekun.workflow.decider import Decider
from jiekun.workflow.demo.caseload import caseload
from jiekun.workflow.effects import built, wuxi_time
from jiekun.workflow.machine import LifecycleMachine
from jiekun.workflow.records import Derived, Event, Timer
from jiekun.workflow.replay import replay
from tests.workflow.builders import drive_to

ROOT = Path(__file__).resolve().parents[2]
ASSESS = sorted((ROOT / "tests" / "cases" / "assess").glob("*.json"))
HISTORIES = sorted([*(ROOT / "tests" / "cases" / "histories").glob("*.jsonl"),
                    *(ROOT / "tests" / "examples" / "time-rule").glob("*.jsonl")])
BEIJING_NOON = datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=8)))
LONDON = datetime(2024, 3, 1, 4, tzinfo=UTC)


def _worked_applications() -> Iterator[tuple[Application, date]]:
    for path in ASSESS:
        case = json.loads(path.read_text("utf-8"))
        on = date.fromisoformat(case["as_of"])
        try:
            yield validate_application(case["application"], on), on
        except InvalidApplication:
            continue  # the invalid ones: nothing to assess


def _generated(policy: Policy) -> list[Application]:
    standard = policy.living_standard_on(date(2024, 1, 2)).amount
    return [validate_application(h.application, date(2024, 12, 31))
            for h in caseload(300, 7, date(2024, 1, 2), date(2024, 12, 20), standard)]


def _concluded(application: Application, policy: Policy, on: date) -> object:
    try:
        assessed = assess(application, policy, on)
    except PolicyNotInForce as error:
        return ("refused", str(error))
    return (assessed.category, assessed.reviewing_body)


def _verdict(application: Application, policy: Policy, on: date) -> object:
    try:
        return tuple(verdict(application, policy, on))
    except PolicyNotInForce as error:
        return ("refused", str(error))


def test_the_verdict_is_what_the_assessment_concludes(policy: Policy) -> None:
    cases = [*_worked_applications(),
             *((a, on) for a in _generated(policy)
               for on in (date(2024, 6, 30), date(2024, 7, 1), date(2025, 3, 1)))]
    assert len(cases) > 900
    categories = set()
    for application, on in cases:
        expected = _concluded(application, policy, on)
        assert _verdict(application, policy, on) == expected, (application, on)
        categories.add(expected[0])
    # every way out was exercised: each category, none, and a date without a standard
    assert {"deep", "relative", "accident", None, "refused"} <= categories


def test_an_accident_after_the_day_assessed_does_not_count(policy: Policy) -> None:
    with_accident = [(a, on) for a, on in _worked_applications() if a.accident is not None]
    assert with_accident
    for application, _ in with_accident:
        day = application.accident.occurred_on if application.accident else date.min
        for on in (day - timedelta(days=1), day):
            if on >= policy.effective_from:
                assert _verdict(application, policy, on) == _concluded(application, policy, on)


@pytest.mark.parametrize("at", [BEIJING_NOON, LONDON])
def test_a_built_timer_and_derivation_equal_the_validated_ones(at: datetime) -> None:
    due = at + timedelta(days=3)
    timer = built(Timer, {"kind": TimerKind.RECHECK, "started": wuxi_time(at),
                          "due": wuxi_time(due)})
    assert timer == Timer(kind=TimerKind.RECHECK, started=at, due=due)
    assert timer.started.isoformat() == Timer(kind=TimerKind.RECHECK, started=at,
                                               due=due).started.isoformat()
    assert timer.model_dump_json() == Timer(kind=TimerKind.RECHECK, started=at,
                                            due=due).model_dump_json()
    assert timer.model_fields_set == set(Timer.model_fields)
    values = {"state": "archived", "grassroots_union": "gu-1", "category": "deep",
              "reviewing_body": "binhu", "timers": (timer,), "archive_number": "WX-1",
              "phase_out_end": None, "exited_at": wuxi_time(at), "aid": None,
              "category_changed": False, "due": wuxi_time(due)}
    validated = Derived(**{**values, "exited_at": at, "due": due})
    derived = built(Derived, values)
    assert derived == validated
    assert derived.model_dump_json() == validated.model_dump_json()
    assert hash(derived) == hash(validated)
    event = Event.trusted("C-1", 1, wuxi_time(at), "approve", {"role": "system"}, {}, "p",
                          "h", derived)
    assert event == Event(case_id="C-1", seq=1, at=at, trigger="approve",
                          actor={"role": "system"}, data={}, policy_id="p", policy_hash="h",
                          derived=validated)


def test_a_copy_of_a_built_record_leaves_its_shared_field_names_alone() -> None:
    timer = built(Timer, {"kind": TimerKind.RECHECK, "started": wuxi_time(LONDON),
                          "due": None})
    other = built(Timer, {"kind": TimerKind.RETENTION, "started": wuxi_time(LONDON),
                          "due": None})
    moved = timer.model_copy(update={"due": wuxi_time(LONDON)})
    assert moved.due == LONDON and timer.due is None
    assert timer.model_fields_set == other.model_fields_set == set(Timer.model_fields)


class _Checked(dict[str, guards.Outcome]):
    """guards.OUTCOMES with each outcome checked against its guard on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()
        for rule_id, outcome in guards.OUTCOMES.items():
            self[rule_id] = self._checking(rule_id, outcome)

    def _checking(self, rule_id: str, outcome: guards.Outcome) -> guards.Outcome:
        def check(d: Decision) -> bool:
            said = outcome(d)
            assert said == guards.GUARDS[rule_id](d).passed, (rule_id, d.command)
            self.asked.add(rule_id)
            return said
        return check


def test_each_outcome_is_what_its_guard_says_on_every_worked_history(
        policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _Checked()
    monkeypatch.setattr(guards, "OUTCOMES", checked)
    monkeypatch.setattr("jiekun.workflow.machine.OUTCOMES", checked)
    decider = Decider(policy, LifecycleMachine())
    refused = 0
    for path in HISTORIES:
        report = replay(path.read_text("utf-8").splitlines(), decider).as_json()
        expected = json.loads(path.with_suffix(".expected.json").read_text("utf-8"))
        assert set(report["cases"]) == set(expected)
        refused += report["violations"]
    for state in ("purged", "exited", "exit_publicity", "re_entered"):
        for category in ("deep", "relative", "accident"):
            drive_to(decider, state, category)
    assert refused and checked.asked == set(guards.OUTCOMES)


def test_a_limit_over_the_window_is_the_product_in_the_rules_order(policy: Policy) -> None:
    application = next(a for a, _ in _worked_applications())
    assessed = assess(application, policy, date(2024, 9, 2))
    assert isinstance(assessed.figures.months_of(Decimal(2)), Decimal)
    assert assessed.figures.months_of(Decimal(2)) == (
        Decimal(2) * assessed.figures.standard * 12 * assessed.figures.members)
