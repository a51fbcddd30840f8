"""What issue 18's second round of cuts to the decide path may not change: the route machine
chooses what ``transitions``' own trigger chooses; the memos it added (the verdict's
comparisons, the rules that let a role act) miss whenever what they depend on changes; the
records the fold copies (a case, a command) are what their dataclasses make."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from transitions import Event, EventData, MachineError

from jiekun.policies.application import Application, share_field_sets, validate_application
from jiekun.policies.authorization import (
    ROLE_RULES,
    SYSTEM,
    Actor,
    Parties,
    authorize,
    rules_for_role,
)
from jiekun.policies.eligibility import VERDICT_CACHE, assess, verdict
from jiekun.policies.errors import NotAuthorized
from jiekun.policies.memo import caches_off
from jiekun.policies.policy_file import Policy
from jiekun.states import ActorRule, Role, Scope
from jiekun.workflow.machine import RouteMachine
from jiekun.workflow.records import CaseState, Command
from tests.workflow.builders import accident, application, with_incomes_times

CASE = Path(__file__).parents[1] / "cases" / "assess" / "01-deep-income-exactly-2L.json"
ON = date(2024, 9, 2)  # L = 1115 (from 2024-07-01)


class Model:
    def __init__(self, state: str) -> None:
        self.state = state


def _machine(outcomes: dict[str, bool], asked: list[str]) -> RouteMachine:
    machine = RouteMachine(model=None, states=["a", "b", "c"], initial="a",
                           auto_transitions=False, send_event=True)

    def condition(name: str) -> object:
        def holds(event: EventData) -> bool:
            asked.append(name)
            return outcomes[name]
        return holds

    for name, source in (("first", "a"), ("second", "a"), ("third", "b")):
        machine.add_transition("go", source, None, conditions=[condition(name)])
    machine.add_transition("go", "a", None, conditions=[condition("fourth"),
                                                          condition("fifth")])
    machine.check_plain()
    return machine


@pytest.mark.parametrize("values", list(itertools.product((False, True), repeat=5)))
def test_a_route_event_takes_the_route_transitions_own_trigger_takes(
        values: tuple[bool, ...]) -> None:
    outcomes = dict(zip(("first", "second", "third", "fourth", "fifth"), values, strict=True))
    for state in ("a", "b"):
        ours: list[str] = []
        library: list[str] = []
        event = _machine(outcomes, ours).events["go"]
        plain = _machine(outcomes, library).events["go"]
        taken = event.trigger(Model(state))
        assert Event.trigger(plain, Model(state)) is taken  # the library's own way
        assert ours == library  # the same conditions asked, in the same order
    model = Model("a")
    _machine(outcomes, []).events["go"].trigger(model)
    assert model.state == "a"  # routes are internal: the model never moves


def test_a_route_event_refuses_a_state_without_routes_as_transitions_does() -> None:
    event = _machine({}, []).events["go"]
    with pytest.raises(MachineError) as ours:
        event.trigger(Model("c"))
    with pytest.raises(MachineError) as library:
        Event.trigger(event, Model("c"))
    assert str(ours.value) == str(library.value)


def test_the_route_machine_refuses_what_its_events_would_skip() -> None:
    moving = RouteMachine(model=None, states=["a", "b"], initial="a", auto_transitions=False)
    moving.add_transition("go", "a", "b")
    with pytest.raises(ValueError, match="internal"):
        moving.check_plain()
    called = RouteMachine(model=None, states=["a"], initial="a", auto_transitions=False)
    called.add_transition("go", "a", None, after=[lambda: None])
    with pytest.raises(ValueError, match="no callbacks"):
        called.check_plain()
    entered = RouteMachine(model=None, states=["a"], initial="a", auto_transitions=False,
                           before_state_change=[lambda: None])
    entered.add_transition("go", "a", None)
    with pytest.raises(ValueError, match="no callbacks"):
        entered.check_plain()
    lenient = RouteMachine(model=None, states=["a"], initial="a", auto_transitions=False,
                           ignore_invalid_triggers=True)
    lenient.add_transition("go", "a", None)
    with pytest.raises(ValueError, match="no route"):
        lenient.check_plain()


@pytest.fixture
def assessed() -> Application:
    raw = json.loads(CASE.read_text("utf-8"))["application"]
    return validate_application(raw, ON)


def _uncached(application: Application, policy: Policy, on: date) -> object:
    with caches_off():
        return verdict(application, policy, on)


def test_the_verdict_compares_a_household_once_per_standard(assessed: Application,
                                                            policy: Policy) -> None:
    VERDICT_CACHE.clear()
    first = verdict(assessed, policy, ON)
    later = verdict(assessed, policy, ON + timedelta(days=30))  # same standard in force
    assert (VERDICT_CACHE.misses, VERDICT_CACHE.hits) == (1, 1)
    assert first == later == _uncached(assessed, policy, ON)
    assert first.category == assess(assessed, policy, ON).category == "deep"


def test_the_verdict_misses_for_an_amended_application(assessed: Application,
                                                       policy: Policy) -> None:
    VERDICT_CACHE.clear()
    before = verdict(assessed, policy, ON)
    amended = with_incomes_times(assessed, 3)
    after = verdict(amended, policy, ON)
    assert VERDICT_CACHE.misses == 2
    assert before.category == "deep" and after.category != "deep"
    assert after == _uncached(amended, policy, ON)


def test_the_verdict_misses_for_a_new_standard_or_policy_version(
        assessed: Application, policy: Policy) -> None:
    VERDICT_CACHE.clear()
    verdict(assessed, policy, ON)
    newer = verdict(assessed, policy, date(2025, 7, 1))  # L = 1167 from then
    assert VERDICT_CACHE.misses == 2
    assert newer == _uncached(assessed, policy, date(2025, 7, 1))
    stricter = policy.model_copy(update={"multipliers": policy.multipliers.model_copy(
        update={"deep_income": Decimal("1.5"), "deep_net": Decimal("1.5")})})
    changed = verdict(assessed, stricter, ON)
    assert VERDICT_CACHE.misses == 3
    assert changed.category != "deep"  # 2L exactly is over 1.5L
    assert changed == _uncached(assessed, stricter, ON)


def test_the_day_assessed_still_decides_whether_an_accident_counts(policy: Policy) -> None:
    raw = application("accident")
    raw["accident"] = accident()
    happened = date.fromisoformat(raw["accident"]["occurred_on"])
    found = validate_application(raw, happened + timedelta(days=1))
    VERDICT_CACHE.clear()
    after = verdict(found, policy, happened + timedelta(days=1))
    before = verdict(found, policy, happened - timedelta(days=1))
    assert VERDICT_CACHE.hits == 1  # the comparisons remembered, the accident's day not
    assert (after.category, before.category) == ("accident", None)
    assert before == _uncached(found, policy, happened - timedelta(days=1))


UNION_HERE = ActorRule(Role.GRASSROOTS_UNION, Scope.OWN_UNION, frozenset({"submitted"}))
FEDERATION = ActorRule(Role.FEDERATION, Scope.COUNTY_OR_ABOVE)


def test_the_rules_for_a_role_are_keyed_by_rules_role_and_state() -> None:
    ROLE_RULES.clear()
    rules = (UNION_HERE, FEDERATION)
    assert rules_for_role(rules, "grassroots_union", "submitted") == (UNION_HERE,)
    assert rules_for_role(rules, "grassroots_union", "submitted") == (UNION_HERE,)
    assert (ROLE_RULES.misses, ROLE_RULES.hits) == (1, 1)
    assert rules_for_role(rules, "grassroots_union", "archived") == ()  # another state
    assert rules_for_role(rules, "federation", "archived") == (FEDERATION,)  # another role
    other = (FEDERATION,)  # other rules (another trigger, a new lifecycle)
    assert rules_for_role(other, "grassroots_union", "submitted") == ()
    assert ROLE_RULES.misses == 4
    with caches_off():
        assert rules_for_role(rules, "federation", "submitted") == (FEDERATION,)


def test_a_refusal_names_the_same_reasons_with_the_rules_remembered() -> None:
    rules = (UNION_HERE,)
    parties = Parties(None, "union-a", None)
    for _ in range(2):  # the second time from the memo
        authorize("submit", rules, "submitted", Actor("grassroots_union", "union-a"), parties)
        with pytest.raises(NotAuthorized) as other_union:
            authorize("submit", rules, "submitted", Actor("grassroots_union", "b"), parties)
        assert "grassroots union union-a" in str(other_union.value)
        with pytest.raises(NotAuthorized) as wrong_role:
            authorize("submit", rules, "submitted", SYSTEM, parties)
        assert "may not fire it here" in str(wrong_role.value)


def test_the_cache_of_role_rules_is_bounded() -> None:
    ROLE_RULES.clear()
    for n in range(ROLE_RULES.maxsize + 10):
        rules_for_role((FEDERATION,), f"role-{n}", None)
    assert len(ROLE_RULES) == ROLE_RULES.maxsize


def test_a_command_is_what_its_dataclass_would_make() -> None:
    at = datetime(2024, 3, 1, tzinfo=UTC)
    one, two = Command("c", "submit", SYSTEM, at), Command("c", "submit", SYSTEM, at)
    assert one == two and one.data == {} and one.data is not two.data
    assert one.idempotency_key is None
    keyed = replace(one, data={"a": 1}, idempotency_key="k")
    assert (keyed.data, keyed.idempotency_key, keyed.case_id) == ({"a": 1}, "k", "c")
    with pytest.raises(AttributeError):
        one.trigger = "other"  # type: ignore[misc]


def test_an_evolved_case_is_what_replace_makes() -> None:
    case = CaseState("c", state="archived", version=3, aid_ranks={"living": 1})
    evolved = case.evolve(version=4, category="deep")
    assert evolved == replace(case, version=4, category="deep")
    assert (case.version, case.category) == (3, None)  # the case itself is unchanged
    with pytest.raises(TypeError, match="no field 'versions'"):
        case.evolve(versions=4)


def test_a_copy_with_a_new_part_shares_the_new_part_too(assessed: Application) -> None:
    household = assessed.household.model_validate(assessed.household.model_dump())
    assert household.__pydantic_fields_set__ is not assessed.household.__pydantic_fields_set__
    copied = assessed.model_copy(update={"household": household})
    share_field_sets(copied)
    assert copied.__pydantic_fields_set__ is assessed.__pydantic_fields_set__
    assert household.__pydantic_fields_set__ is assessed.household.__pydantic_fields_set__
    member = household.members[0]
    assert member.__pydantic_fields_set__ is assessed.household.members[0].__pydantic_fields_set__
    assert copied == assessed and copied.model_dump() == assessed.model_dump()
