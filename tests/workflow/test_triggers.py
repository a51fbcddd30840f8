"""Every trigger of the lifecycle (states/LIFECYCLE.md), through the Decider: allowed, refused in a
wrong state, refused for a wrong actor, refused by each of its guards, payload rules, the order
of the checks, E-POLICY and R-NONEXCL.

Expected values come from the spec, not from running the code: the states and the actors of each
trigger are typed in again below by hand, as states/LIFECYCLE.md lists them (so a drift of
``states/`` from the spec
fails here), and every date is worked out by hand in a comment. Coverage is checked against the
definition: the tables must name every trigger, every route and every (trigger, guard) pair of
``build_lifecycle()``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import (
    GuardFailed,
    InvalidPayload,
    JiekunError,
    NotAuthorized,
    ObjectionProblem,
    PolicyNotInForce,
    TransitionNotAllowed,
)
from jiekun.policies.policy_file import Policy
from jiekun.states import TimerKind, build_lifecycle
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import CaseState, Command
from jiekun.workflow.replay import OpenCaseIndex
from tests.workflow.builders import (
    AUDITOR,
    OTHER_ID,
    OTHER_UNION,
    STEP,
    SYSTEM,
    UNION,
    WORKER_ID,
    Driver,
    application,
    at,
    case_in,
    drive_to,
    fed,
    household,
    new_index,
    resident_id,
    union,
    worker,
)

LIFECYCLE = build_lifecycle()
# grant_aid (§2 aid, issue 6) has its own matrix in tests/workflow/test_aid.py: allowed,
# refused elsewhere with R-AID-STATE, wrong actor, each guard failing. These tables are the
# 31 triggers of the states/LIFECYCLE.md triggers table.
_LIFECYCLE_TRIGGERS = tuple(t for t in LIFECYCLE.triggers if t.name != "grant_aid")
TRIGGERS = frozenset(t.name for t in _LIFECYCLE_TRIGGERS)
ROUTES = frozenset((t.name, r.source, r.dest) for t in _LIFECYCLE_TRIGGERS for r in t.routes)
GUARD_PAIRS = frozenset((t.name, r.source, g) for t in _LIFECYCLE_TRIGGERS for r in t.routes
                        for g in r.guards)
STATES: tuple[str | None, ...] = (None, *(s.name for s in LIFECYCLE.states))

W, U, F, S = "worker", "grassroots_union", "federation", "system"
ROLES = (W, U, F, S, "auditor")

# ---------------------------------------------------------------------------------------------
# states/LIFECYCLE.md, typed in again by hand.

# The triggers allowed in each state (the transitions table; None = no case yet).
SPEC_ALLOWED: dict[str | None, frozenset[str]] = {
    None: frozenset({"submit"}),
    "submitted": frozenset({"amend_application", "start_preliminary_review", "withdraw"}),
    "preliminary_review": frozenset({"request_supplement", "reject_preliminary",
                                     "pass_preliminary_review", "withdraw"}),
    "unit_publicity": frozenset({"raise_objection", "dismiss_objection", "uphold_objection",
                                 "unit_publicity_ended", "withdraw"}),
    "upper_review": frozenset({"return_to_grassroots", "reject_upper", "approve", "withdraw"}),
    "media_publicity": frozenset({"raise_objection", "dismiss_objection", "uphold_objection",
                                  "media_publicity_ended", "withdraw"}),
    "archived": frozenset({"recheck_due", "start_recheck", "cancel"}),
    "under_recheck": frozenset({"confirm_eligibility", "start_phase_out", "cancel"}),
    "phase_out": frozenset({"cancel", "report_relapse", "phase_out_ended",
                            "end_phase_out_early"}),
    "re_entered": frozenset({"readmit", "decline_readmission"}),
    "exit_pending": frozenset({"confirm_exit", "refuse_exit"}),
    "exit_verification": frozenset({"accept_refusal", "verify_exit"}),
    "exit_publicity": frozenset({"raise_objection", "dismiss_objection", "uphold_objection",
                                 "exit_publicity_ended"}),
    "exited": frozenset({"report_relapse", "retention_expired"}),
    "rejected": frozenset({"retention_expired"}),
    "withdrawn": frozenset({"retention_expired"}),
    "cancelled": frozenset({"retention_expired"}),
    "purged": frozenset(),
}
# grant_aid (§2 aid) is specified as accepted by the machine in every state; it is not one of
# the 31 lifecycle triggers, so it is ignored when comparing the lists of allowed triggers.
AID = {"grant_aid"}

SPEC_ROLES: dict[str, frozenset[str]] = {
    "submit": frozenset({W, U}), "amend_application": frozenset({W, U}),
    "start_preliminary_review": frozenset({U}), "request_supplement": frozenset({U}),
    "reject_preliminary": frozenset({U}), "pass_preliminary_review": frozenset({U}),
    "raise_objection": frozenset({U, F}), "unit_publicity_ended": frozenset({S}),
    "return_to_grassroots": frozenset({F}), "reject_upper": frozenset({F}),
    "approve": frozenset({F}), "media_publicity_ended": frozenset({S}),
    "withdraw": frozenset({W}), "recheck_due": frozenset({S}), "start_recheck": frozenset({F}),
    "confirm_eligibility": frozenset({F}), "start_phase_out": frozenset({F}),
    "cancel": frozenset({F}), "report_relapse": frozenset({W, U, F}),
    "readmit": frozenset({F}), "decline_readmission": frozenset({F}),
    "phase_out_ended": frozenset({S}), "end_phase_out_early": frozenset({F}),
    "confirm_exit": frozenset({W, U}), "refuse_exit": frozenset({W}),
    "accept_refusal": frozenset({F}), "verify_exit": frozenset({F, U}),
    "exit_publicity_ended": frozenset({S}), "retention_expired": frozenset({S}),
}
# dismiss/uphold: the body running that publicity.
RUNNER = {"unit_publicity": frozenset({U}), "media_publicity": frozenset({F}),
          "exit_publicity": frozenset({F})}
# "federation (county level or above)": wuxi-city may act besides the reviewing body.
COUNTY = frozenset({"accept_refusal", "verify_exit"})

REASON = {"reason": "测试理由"}
REASON_TRIGGERS = ("request_supplement", "reject_preliminary", "return_to_grassroots",
                   "reject_upper", "end_phase_out_early", "refuse_exit", "accept_refusal",
                   "decline_readmission", "dismiss_objection", "uphold_objection")
SECTION_1_2 = {"R-DEEP-INCOME", "R-DEEP-NET", "R-REL-INCOME", "R-REL-NET", "R-ACC-EVENT",
               "R-ACC-INCOME", "R-ACC-NET"}


def spec_roles(trigger: str, state: str | None) -> frozenset[str]:
    if trigger in ("dismiss_objection", "uphold_objection"):
        assert state is not None
        return RUNNER[state]
    return SPEC_ROLES[trigger]


def spec_sources(trigger: str) -> list[str | None]:
    return [s for s in STATES if trigger in SPEC_ALLOWED[s]]


def test_spec_tables_name_exactly_the_31_triggers() -> None:
    assert len(TRIGGERS) == 31
    assert set(SPEC_ROLES) | {"dismiss_objection", "uphold_objection"} == TRIGGERS
    assert set().union(*SPEC_ALLOWED.values()) == TRIGGERS
    assert set(SPEC_ALLOWED) == set(STATES)


@pytest.mark.parametrize("state", STATES, ids=str)
def test_definition_allows_what_the_spec_allows(state: str | None) -> None:
    assert set(LIFECYCLE.triggers_from(state)) - AID == SPEC_ALLOWED[state]


# ---------------------------------------------------------------------------------------------
# Helpers.

def refuse(decider: Decider, case: CaseState | None, index: OpenCaseIndex, command: Command,
           error: type[JiekunError], rule: str) -> JiekunError:
    """``command`` is refused with ``error``/``rule``, and the case and index are unchanged."""
    before = copy.deepcopy(case)
    open_before = {i: index.open_case_of(i) for i in (WORKER_ID, OTHER_ID)}
    with pytest.raises(JiekunError) as info:
        decider.decide(case, command, index)
    assert isinstance(info.value, error), (type(info.value), info.value)
    assert info.value.rule == rule, info.value
    assert case == before
    assert {i: index.open_case_of(i) for i in (WORKER_ID, OTHER_ID)} == open_before
    return info.value


def refuse_on(d: Driver, trigger: str, actor: Actor, data: dict[str, Any] | None = None,
              when: datetime | None = None, *, error: type[JiekunError] = GuardFailed,
              rule: str) -> JiekunError:
    return refuse(d.decider, d.case, d.index, d.command(trigger, actor, data, when), error, rule)


def retention_due(d: Driver) -> datetime:
    return d.due(TimerKind.RETENTION)


def total_income(case: CaseState) -> Decimal:
    assert case.application is not None
    return sum((m.annual_income for m in case.application.household.members), Decimal(0))


@functools.cache
def _cached(decider: Decider, state: str, category: str,
            came_from: str) -> tuple[CaseState, OpenCaseIndex, datetime]:
    return case_in(decider, state, category, came_from=came_from)


def cached(decider: Decider, state: str | None, category: str = "relative",
           came_from: str = "phase_out") -> tuple[CaseState | None, OpenCaseIndex, datetime]:
    """A shared case in ``state`` (never mutated: CaseState is frozen), a fresh index copy."""
    if state is None:
        return None, new_index(decider), at(2024, 3, 4, 8)
    case, index, clock = _cached(decider, state, category, came_from)
    return case, copy.deepcopy(index), clock


def actor_of(role: str, case: CaseState | None) -> Actor:
    """The actor of ``role`` that is within scope on ``case`` if any of that role is."""
    body = case.reviewing_body if case is not None and case.reviewing_body else "wuxi-city"
    return {W: worker(), U: union(), F: fed(body), S: SYSTEM, "auditor": AUDITOR}[role]


GOOD_ROLE = {t: (W if W in r else U if U in r else F if F in r else S)
             for t, r in SPEC_ROLES.items()}
GOOD_ROLE.update(submit=U, raise_objection=U)


def good_data(trigger: str, case: CaseState | None, category: str) -> dict[str, Any]:
    if trigger == "submit":
        return application("relative")
    if trigger == "amend_application":
        return application("relative", household_kind="deep")
    if trigger == "raise_objection":
        return {"objection_id": "OBJ-2", "summary": "群众反映家庭收入不实"}
    if trigger in ("dismiss_objection", "uphold_objection"):
        return {"objection_id": "OBJ-1", **REASON}
    if trigger == "confirm_eligibility":
        return {"household": household(category)}
    if trigger == "start_phase_out":
        return {"household": household("none"), "months": 3, "contact_person": "社工王某"}
    if trigger == "cancel":
        return {"reason": "moved_out"}
    if trigger == "report_relapse":
        return {"summary": "家庭成员重病"}
    if trigger == "readmit":
        came_from = case.came_from if case is not None else None
        return {"household": household(category)} if came_from == "phase_out" else {}
    if trigger in REASON_TRIGGERS:
        return dict(REASON)
    return {}


def good(decider: Decider, trigger: str, state: str | None, category: str = "relative",
         came_from: str = "phase_out") -> tuple[CaseState | None, OpenCaseIndex, Command]:
    """A case in ``state`` and a command of ``trigger`` on it that is accepted (so that a test
    changing one thing of it shows that one thing is refused)."""
    case, index, now = cached(decider, state, category, came_from)
    now += STEP
    if trigger in ("dismiss_objection", "uphold_objection"):
        _, case = decider.decide_and_fold(case, Command("C-1", "raise_objection", union(), now,
                                             {"objection_id": "OBJ-1", "summary": "异议"}), index)
        now += STEP
    role = GOOD_ROLE.get(trigger, F)
    if trigger in ("dismiss_objection", "uphold_objection"):
        role = next(iter(RUNNER[str(state)]))
    if role == S:
        assert case is not None and len(case.timers) == 1
        due = case.timers[0].due
        assert due is not None
        now = max(now, due)
    command = Command("C-1", trigger, actor_of(role, case), now,
                      good_data(trigger, case, category))
    return case, index, command


SPEC_ROUTES = [(t, s) for t in sorted(TRIGGERS) for s in spec_sources(t)]


@pytest.mark.parametrize(("trigger", "state"), SPEC_ROUTES, ids=str)
def test_good_command_is_accepted(decider: Decider, trigger: str, state: str | None) -> None:
    """The positive control of the refusal tables below."""
    case, index, command = good(decider, trigger, state)
    event = decider.decide(case, command, index)
    assert event.trigger == trigger
    dests = {r.dest or state for r in LIFECYCLE.trigger(trigger).routes if r.source == state}
    assert event.derived.state in dests


# ---------------------------------------------------------------------------------------------
# Allowed: every route of the definition, with the state and derived fields (states/LIFECYCLE.md).

ALLOWED: dict[tuple[str, str | None, str | None], Callable[[Decider], None]] = {}


def allowed(trigger: str, source: str | None,
            dest: str | None) -> Callable[[Callable[[Decider], None]],
                                          Callable[[Decider], None]]:
    def register(fn: Callable[[Decider], None]) -> Callable[[Decider], None]:
        assert (trigger, source, dest) not in ALLOWED
        ALLOWED[(trigger, source, dest)] = fn
        return fn
    return register


@allowed("submit", None, "submitted")
def _submit(decider: Decider) -> None:
    d = Driver(decider)
    case = d.fire("submit", union(), application("relative"))
    assert (case.state, case.version) == ("submitted", 1)
    assert case.grassroots_union == UNION and case.applicant_id == WORKER_ID
    assert (case.category, case.reviewing_body, case.timers) == (None, None, ())
    assert d.index.open_case_of(WORKER_ID) == "C-1"
    # the worker may submit; the grassroots union is the one named in the application
    d2 = Driver(decider, "C-2")
    case2 = d2.fire("submit", worker(OTHER_ID),
                    application(id_number=OTHER_ID, union=OTHER_UNION))
    assert case2.grassroots_union == OTHER_UNION and case2.applicant_id == OTHER_ID
    # R-ONE-OPEN-CASE counts open cases only: C-1 withdrawn, a new case is accepted
    d.fire("withdraw", worker())
    d3 = Driver(decider, "C-3", d.index, start=d.clock + STEP)
    assert d3.fire("submit", worker(), application("deep")).state == "submitted"
    assert d3.index.open_case_of(WORKER_ID) == "C-3"


@allowed("amend_application", "submitted", None)
def _amend(decider: Decider) -> None:
    d = drive_to(decider, "submitted")
    assert total_income(d.case) == 60000  # type: ignore[arg-type]
    case = d.fire("amend_application", worker(), application("relative", household_kind="deep"))
    assert (case.state, case.version) == ("submitted", 2)
    assert total_income(case) == 24000
    case = d.fire("amend_application", union(), application("relative",
                                                             household_kind="accident"))
    assert (case.state, total_income(case)) == ("submitted", 90000)


@allowed("start_preliminary_review", "submitted", "preliminary_review")
def _start_preliminary(decider: Decider) -> None:
    d = drive_to(decider, "submitted")
    case = d.fire("start_preliminary_review", union())
    assert (case.state, case.timers, case.category) == ("preliminary_review", (), None)


@allowed("request_supplement", "preliminary_review", "submitted")
def _request_supplement(decider: Decider) -> None:
    d = drive_to(decider, "preliminary_review")
    assert d.fire("request_supplement", union(), {"reason": "缺收入证明"}).state == "submitted"
    # back in submitted the application may be amended again
    assert d.fire("amend_application", worker(), application()).state == "submitted"


@allowed("reject_preliminary", "preliminary_review", "rejected")
def _reject_preliminary(decider: Decider) -> None:
    d = drive_to(decider, "preliminary_review")
    case = d.fire("reject_preliminary", union(), REASON, when=at(2024, 3, 4, 11))
    assert case.state == "rejected"
    assert [t.kind for t in case.timers] == [TimerKind.RETENTION]
    assert retention_due(d) == at(2034, 3, 4)  # 10 years from the decision date
    assert d.index.open_case_of(WORKER_ID) is None


@allowed("pass_preliminary_review", "preliminary_review", "unit_publicity")
def _pass(decider: Decider) -> None:
    for category, body, extra in (
            ("deep", "wuxi-city", {}), ("relative", "binhu", {}), ("accident", "binhu", {}),
            ("deep", "jiangyin", {"region": "江阴市"}),
            ("relative", "yixing", {"region": "宜兴市"}),
            ("relative", "wuxi-city", {"region": "宜兴市", "unit_kind": "city_direct_unit"}),
            ("relative", "wuxi-city", {"region": "经开区"})):
        d = drive_to(decider, "preliminary_review", category, **extra)
        case = d.fire("pass_preliminary_review", union(), when=at(2024, 3, 4, 11))
        assert (case.state, case.category, case.reviewing_body) == (
            "unit_publicity", category, body), extra
        timer = case.timer(TimerKind.UNIT_PUBLICITY)
        assert timer is not None and len(case.timers) == 1
        # started Mon 03-04: working days 03-05, 06, 07, 08, 11 → elapsed 2024-03-12 00:00
        assert (timer.started, timer.due) == (at(2024, 3, 4, 11), at(2024, 3, 12))
    # Spring Festival 2024: holidays 02-10..02-17, 02-18 (Sunday) a working day.
    # Started Wed 02-07: working days 02-08, 02-09, 02-18, 02-19, 02-20 → 2024-02-21 00:00.
    d = drive_to(decider, "unit_publicity", start=at(2024, 2, 7, 9))
    assert d.due(TimerKind.UNIT_PUBLICITY) == at(2024, 2, 21)


def _objection_cases(decider: Decider, state: str) -> Driver:
    return drive_to(decider, state, case_id=f"C-{state}")


@allowed("raise_objection", "unit_publicity", None)
@allowed("raise_objection", "media_publicity", None)
@allowed("raise_objection", "exit_publicity", None)
def _raise(decider: Decider) -> None:
    for state, raiser in (("unit_publicity", union()), ("media_publicity", fed("binhu")),
                          ("exit_publicity", union()), ("unit_publicity", fed("binhu")),
                          ("exit_publicity", fed("binhu"))):
        d = _objection_cases(decider, state)
        before = d.case
        assert before is not None
        case = d.fire("raise_objection", raiser, {"objection_id": "OBJ-1", "summary": "有异议"})
        assert (case.state, case.version) == (state, before.version + 1)
        assert case.objections_open == {"OBJ-1"}
        assert case.timers == before.timers


@allowed("dismiss_objection", "unit_publicity", None)
def _dismiss_unit(decider: Decider) -> None:
    d = drive_to(decider, "unit_publicity")  # pass at 03-04 11:00, due 2024-03-12 00:00
    d.fire("raise_objection", fed("binhu"), {"objection_id": "OBJ-1", "summary": "有异议"},
           when=at(2024, 3, 5, 9))
    refuse_on(d, "unit_publicity_ended", SYSTEM, when=at(2024, 3, 12, 0, 5),
              error=ObjectionProblem, rule="E-OBJECTION")
    # dismissed after the end: the publicity is re-armed, due at once
    case = d.fire("dismiss_objection", union(), {"objection_id": "OBJ-1", **REASON},
                  when=at(2024, 3, 13, 10))
    assert (case.state, case.objections_open) == ("unit_publicity", frozenset())
    assert d.due(TimerKind.UNIT_PUBLICITY) == at(2024, 3, 13, 10)
    assert d.fire("unit_publicity_ended", SYSTEM, when=at(2024, 3, 13, 10)).state == (
        "upper_review")


@allowed("dismiss_objection", "media_publicity", None)
@allowed("dismiss_objection", "exit_publicity", None)
def _dismiss_media_exit(decider: Decider) -> None:
    for state, kind, due in (("media_publicity", TimerKind.MEDIA_PUBLICITY, at(2024, 3, 20)),
                             ("exit_publicity", TimerKind.EXIT_PUBLICITY, at(2024, 12, 28))):
        d = _objection_cases(decider, state)
        d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
        case = d.fire("dismiss_objection", fed("binhu"), {"objection_id": "OBJ-1", **REASON})
        assert (case.state, case.objections_open) == (state, frozenset())
        assert d.due(kind) == due  # dismissed before the end: the end is unchanged


@allowed("uphold_objection", "unit_publicity", "rejected")
@allowed("uphold_objection", "media_publicity", "rejected")
@allowed("uphold_objection", "exit_publicity", "under_recheck")
def _uphold(decider: Decider) -> None:
    for state, runner, dest in (("unit_publicity", union(), "rejected"),
                                ("media_publicity", fed("binhu"), "rejected"),
                                ("exit_publicity", fed("binhu"), "under_recheck")):
        d = _objection_cases(decider, state)
        d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
        case = d.fire("uphold_objection", runner, {"objection_id": "OBJ-1", **REASON},
                      when=at(2025, 1, 6, 9))
        assert (case.state, case.objections_open) == (dest, frozenset())
        if dest == "rejected":
            assert [t.kind for t in case.timers] == [TimerKind.RETENTION]
            assert retention_due(d) == at(2035, 1, 6)
        else:
            assert case.timers == ()


@allowed("unit_publicity_ended", "unit_publicity", "upper_review")
def _unit_ended(decider: Decider) -> None:
    d = drive_to(decider, "unit_publicity")
    case = d.fire("unit_publicity_ended", SYSTEM, when=at(2024, 3, 12))  # from 00:00 exactly
    assert (case.state, case.timers) == ("upper_review", ())
    assert (case.category, case.reviewing_body) == ("relative", "binhu")


@allowed("return_to_grassroots", "upper_review", "preliminary_review")
def _return(decider: Decider) -> None:
    d = drive_to(decider, "upper_review")
    case = d.fire("return_to_grassroots", fed("binhu"), REASON)
    assert (case.state, case.timers) == ("preliminary_review", ())


@allowed("reject_upper", "upper_review", "rejected")
def _reject_upper(decider: Decider) -> None:
    d = drive_to(decider, "upper_review")
    case = d.fire("reject_upper", fed("binhu"), REASON, when=at(2024, 3, 15, 16))
    assert case.state == "rejected" and retention_due(d) == at(2034, 3, 15)
    assert d.index.open_case_of(WORKER_ID) is None


@allowed("approve", "upper_review", "media_publicity")
def _approve(decider: Decider) -> None:
    d = drive_to(decider, "upper_review")
    case = d.fire("approve", fed("binhu"), when=at(2024, 3, 12, 1, 5))
    assert (case.state, case.category, case.reviewing_body) == (
        "media_publicity", "relative", "binhu")
    timer = case.timer(TimerKind.MEDIA_PUBLICITY)
    # started Tue 03-12: 03-13, 14, 15, 18, 19 → 2024-03-20 00:00
    assert timer is not None and (timer.started, timer.due) == (at(2024, 3, 12, 1, 5),
                                                               at(2024, 3, 20))
    # wuxi-city approves its own (deep) cases
    d = drive_to(decider, "upper_review", "deep")
    assert d.fire("approve", fed("wuxi-city")).reviewing_body == "wuxi-city"
    # Re-assessed on the event date: borderline household (module docstring of builders) is
    # relative under L = 1095 when passed (Thu 2024-06-20), deep under L = 1115 when approved on
    # 2024-07-01. The approver is the body before the re-assessment (binhu); the case then
    # moves to wuxi-city.
    d = drive_to(decider, "unit_publicity", "relative", household_kind="borderline",
                 start=at(2024, 6, 20, 9))
    assert (d.case.category, d.case.reviewing_body) == ("relative", "binhu")  # type: ignore
    # 06-21, 24, 25, 26, 27 → 2024-06-28 00:00
    assert d.due(TimerKind.UNIT_PUBLICITY) == at(2024, 6, 28)
    d.fire("unit_publicity_ended", SYSTEM, when=at(2024, 6, 28, 0, 5))
    refuse_on(d, "approve", fed("wuxi-city"), when=at(2024, 7, 1, 9), error=NotAuthorized,
              rule="E-ACTOR")
    case = d.fire("approve", fed("binhu"), when=at(2024, 7, 1, 9))
    assert (case.category, case.reviewing_body) == ("deep", "wuxi-city")
    # started Mon 07-01: 07-02, 03, 04, 05, 08 → 2024-07-09 00:00
    assert d.due(TimerKind.MEDIA_PUBLICITY) == at(2024, 7, 9)


@allowed("media_publicity_ended", "media_publicity", "archived")
def _media_ended(decider: Decider) -> None:
    # archived 2024-03-20; deep: 12 months, relative and accident: 6 months
    for category, due in (("relative", at(2024, 9, 20)), ("accident", at(2024, 9, 20)),
                          ("deep", at(2025, 3, 20))):
        d = drive_to(decider, "media_publicity", category)
        assert d.case is not None and d.case.archive_number is None
        case = d.fire("media_publicity_ended", SYSTEM, when=at(2024, 3, 20))
        assert case.state == "archived" and case.archive_number
        assert [t.kind for t in case.timers] == [TimerKind.RECHECK]
        assert d.due(TimerKind.RECHECK) == due, category


@allowed("withdraw", "submitted", "withdrawn")
@allowed("withdraw", "preliminary_review", "withdrawn")
@allowed("withdraw", "unit_publicity", "withdrawn")
@allowed("withdraw", "upper_review", "withdrawn")
@allowed("withdraw", "media_publicity", "withdrawn")
def _withdraw(decider: Decider) -> None:
    for state in ("submitted", "preliminary_review", "unit_publicity", "upper_review",
                  "media_publicity"):
        d = drive_to(decider, state)
        # before any timer of the state is due (the time rule); retention runs from the date
        case = d.fire("withdraw", worker(), when=d.clock + timedelta(minutes=30))
        assert case.state == "withdrawn"
        assert [t.kind for t in case.timers] == [TimerKind.RETENTION]
        withdrawn_on = d.clock.astimezone(SHANGHAI).date()
        assert retention_due(d) == at(withdrawn_on.year + 10, withdrawn_on.month,
                                      withdrawn_on.day)
        assert d.index.open_case_of(WORKER_ID) is None


@allowed("recheck_due", "archived", "under_recheck")
def _recheck_due(decider: Decider) -> None:
    d = drive_to(decider, "archived")
    case = d.fire("recheck_due", SYSTEM, when=at(2024, 9, 20))
    assert (case.state, case.timers) == ("under_recheck", ())


@allowed("start_recheck", "archived", "under_recheck")
def _start_recheck(decider: Decider) -> None:
    d = drive_to(decider, "archived")
    case = d.fire("start_recheck", fed("binhu"), when=at(2024, 4, 1, 9))  # early
    assert (case.state, case.timers) == ("under_recheck", ())


@allowed("confirm_eligibility", "under_recheck", "archived")
def _confirm_eligibility(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")  # since 2024-09-20 00:05
    case = d.fire("confirm_eligibility", fed("binhu"), {"household": household("relative")},
                  when=at(2024, 9, 20, 10))
    assert (case.state, case.category, case.reviewing_body) == ("archived", "relative", "binhu")
    assert d.due(TimerKind.RECHECK) == at(2025, 3, 20)  # 6 months from the event date
    # the new household may change the category, the body and the cadence
    d = drive_to(decider, "under_recheck")
    case = d.fire("confirm_eligibility", fed("binhu"), {"household": household("deep")},
                  when=at(2024, 9, 20, 10))
    assert (case.category, case.reviewing_body, total_income(case)) == (
        "deep", "wuxi-city", 24000)
    assert d.due(TimerKind.RECHECK) == at(2025, 9, 20)  # 12 months
    # the case moved to wuxi-city: binhu may no longer act on it, wuxi-city may
    refuse_on(d, "start_recheck", fed("binhu"), error=NotAuthorized, rule="E-ACTOR")
    assert d.fire("start_recheck", fed("wuxi-city")).state == "under_recheck"
    # an accident in the payload replaces the application's (here: none) accident
    d = drive_to(decider, "under_recheck")
    case = d.fire("confirm_eligibility", fed("binhu"),
                  {"household": household("accident"), "accident": application(
                      "accident")["accident"]}, when=at(2024, 9, 20, 10))
    assert (case.category, case.reviewing_body) == ("accident", "binhu")
    assert case.application is not None and case.application.accident is not None
    # end of month: re-check on 2024-08-31 + 6 months = 2025-02-28
    d = drive_to(decider, "archived")
    d.fire("start_recheck", fed("binhu"), when=at(2024, 8, 30, 9))
    d.fire("confirm_eligibility", fed("binhu"), {"household": household("relative")},
           when=at(2024, 8, 31, 10))
    assert d.due(TimerKind.RECHECK) == at(2025, 2, 28)


@allowed("start_phase_out", "under_recheck", "phase_out")
def _start_phase_out(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    case = d.fire("start_phase_out", fed("binhu"),
                  {"household": household("none"), "months": 3, "contact_person": "社工王某"},
                  when=at(2024, 9, 20, 1, 5))
    assert case.state == "phase_out" and total_income(case) == 120000
    assert case.phase_out_end == at(2024, 12, 20) == d.due(TimerKind.PHASE_OUT)
    # category and body keep their last values
    assert (case.category, case.reviewing_body) == ("relative", "binhu")
    # 6 months from 2024-08-31 is 2025-02-28
    d = drive_to(decider, "archived")
    d.fire("start_recheck", fed("binhu"), when=at(2024, 8, 30, 9))
    case = d.fire("start_phase_out", fed("binhu"),
                  {"household": household("none"), "months": 6, "contact_person": "社工王某"},
                  when=at(2024, 8, 31, 10))
    assert case.phase_out_end == at(2025, 2, 28) == d.due(TimerKind.PHASE_OUT)


@allowed("cancel", "archived", "cancelled")
@allowed("cancel", "under_recheck", "cancelled")
@allowed("cancel", "phase_out", "cancelled")
def _cancel(decider: Decider) -> None:
    for state, data in (("archived", {"reason": "false_information"}),
                        ("under_recheck", {"reason": "deceased"}),
                        ("phase_out", {"reason": "other", "detail": "户籍迁出本市"}),
                        ("archived", {"reason": "moved_out"})):
        d = drive_to(decider, state)
        # the next day, before the state's timer is due (the time rule)
        case = d.fire("cancel", fed("binhu"), data, when=d.clock + timedelta(days=1))
        assert case.state == "cancelled"
        cancelled_on = d.clock.astimezone(SHANGHAI).date()
        assert retention_due(d) == at(cancelled_on.year + 10, cancelled_on.month,
                                      cancelled_on.day)  # from the event date
        assert d.index.open_case_of(WORKER_ID) is None


@allowed("report_relapse", "phase_out", "re_entered")
def _relapse_phase_out(decider: Decider) -> None:
    for actor in (worker(), union(), fed("binhu")):
        d = drive_to(decider, "phase_out")
        case = d.fire("report_relapse", actor, {"summary": "再次陷入困难"})
        assert (case.state, case.came_from, case.timers) == ("re_entered", "phase_out", ())
        assert case.phase_out_end == at(2024, 12, 20)


@allowed("report_relapse", "exited", "re_entered")
def _relapse_exited(decider: Decider) -> None:
    d = drive_to(decider, "exited")
    assert d.index.open_case_of(WORKER_ID) is None
    case = d.fire("report_relapse", union(), {"summary": "再次陷入困难"})
    assert (case.state, case.came_from, case.timers) == ("re_entered", "exited", ())
    assert d.index.open_case_of(WORKER_ID) == "C-1"


@allowed("readmit", "re_entered", "archived")
def _readmit_archive(decider: Decider) -> None:
    d = drive_to(decider, "re_entered", came_from="phase_out")
    case = d.fire("readmit", fed("binhu"), {"household": household("relative")},
                  when=at(2024, 10, 31, 10))
    assert (case.state, case.category, case.reviewing_body) == ("archived", "relative", "binhu")
    assert d.due(TimerKind.RECHECK) == at(2025, 4, 30)  # 10-31 + 6 months, clamped
    d = drive_to(decider, "re_entered", came_from="phase_out")
    case = d.fire("readmit", fed("binhu"), {"household": household("deep")},
                  when=at(2024, 10, 31, 10))
    assert (case.category, case.reviewing_body) == ("deep", "wuxi-city")
    assert d.due(TimerKind.RECHECK) == at(2025, 10, 31)


@allowed("readmit", "re_entered", "preliminary_review")
def _readmit_review(decider: Decider) -> None:
    d = drive_to(decider, "re_entered", came_from="exited")
    case = d.fire("readmit", fed("binhu"))
    assert (case.state, case.timers) == ("preliminary_review", ())
    # the household is still the one found out of hardship: reviewed again, it does not pass
    refuse_on(d, "pass_preliminary_review", union(), rule="R-ELIGIBLE")
    # with a new household it is reviewed again from the preliminary review onward
    d = drive_to(decider, "re_entered", came_from="exited")
    case = d.fire("readmit", fed("binhu"), {"household": household("deep")})
    assert case.state == "preliminary_review" and total_income(case) == 24000
    case = d.fire("pass_preliminary_review", union())
    assert (case.state, case.category, case.reviewing_body) == (
        "unit_publicity", "deep", "wuxi-city")


@allowed("decline_readmission", "re_entered", "phase_out")
def _decline_phase_out(decider: Decider) -> None:
    # phase-out started 2024-09-20 01:05 for 3 months: ends 2024-12-20 00:00
    d = drive_to(decider, "re_entered", came_from="phase_out")
    case = d.fire("decline_readmission", fed("binhu"), REASON, when=at(2024, 10, 10, 9))
    assert case.state == "phase_out"
    assert case.phase_out_end == at(2024, 12, 20) == d.due(TimerKind.PHASE_OUT)
    # declined back after the original end: due at once
    d = drive_to(decider, "re_entered", came_from="phase_out")
    d.fire("decline_readmission", fed("binhu"), REASON, when=at(2025, 1, 10, 9))
    assert d.due(TimerKind.PHASE_OUT) == at(2024, 12, 20)
    assert d.fire("phase_out_ended", SYSTEM, when=at(2025, 1, 10, 9)).state == "exit_pending"


@allowed("decline_readmission", "re_entered", "exited")
def _decline_exited(decider: Decider) -> None:
    # exited by the union's confirmation at 2024-12-20 02:05
    d = drive_to(decider, "exited")
    assert d.case is not None and d.case.exited_at == at(2024, 12, 20, 2, 5)
    d.fire("report_relapse", worker(), {"summary": "再次陷入困难"}, when=at(2025, 2, 1, 9))
    case = d.fire("decline_readmission", fed("binhu"), REASON, when=at(2025, 2, 2, 9))
    assert case.state == "exited" and case.exited_at == at(2024, 12, 20, 2, 5)
    assert retention_due(d) == at(2034, 12, 20)  # the original exit date, not 2035-02-02
    assert d.index.open_case_of(WORKER_ID) is None


@allowed("phase_out_ended", "phase_out", "exit_pending")
def _phase_out_ended(decider: Decider) -> None:
    d = drive_to(decider, "phase_out")
    case = d.fire("phase_out_ended", SYSTEM, when=at(2024, 12, 20))
    assert (case.state, case.timers, case.confirmations) == ("exit_pending", (), frozenset())


@allowed("end_phase_out_early", "phase_out", "exit_pending")
def _end_early(decider: Decider) -> None:
    d = drive_to(decider, "phase_out")
    case = d.fire("end_phase_out_early", fed("binhu"), REASON, when=at(2024, 10, 8, 9))
    assert (case.state, case.timers) == ("exit_pending", ())


@allowed("confirm_exit", "exit_pending", None)
@allowed("confirm_exit", "exit_pending", "exited")
def _confirm_exit(decider: Decider) -> None:
    for first, second, first_role in ((worker(), union(), W), (union(), worker(), U)):
        d = drive_to(decider, "exit_pending")
        case = d.fire("confirm_exit", first)
        assert (case.state, case.confirmations) == ("exit_pending", {first_role})
        assert case.exited_at is None
        case = d.fire("confirm_exit", second, when=at(2024, 12, 23, 9))
        assert case.state == "exited" and case.exited_at == at(2024, 12, 23, 9)
        assert retention_due(d) == at(2034, 12, 23)
        assert (case.category, case.reviewing_body) == ("relative", "binhu")
        assert d.index.open_case_of(WORKER_ID) is None


@allowed("refuse_exit", "exit_pending", "exit_verification")
def _refuse_exit(decider: Decider) -> None:
    d = drive_to(decider, "exit_pending")
    d.fire("confirm_exit", union())  # the union's confirmation does not stop a refusal
    case = d.fire("refuse_exit", worker(), REASON)
    assert case.state == "exit_verification"
    assert (case.verifications, case.timers) == (frozenset(), ())


@allowed("accept_refusal", "exit_verification", "under_recheck")
def _accept_refusal(decider: Decider) -> None:
    for body in ("binhu", "wuxi-city"):  # county level or above
        d = drive_to(decider, "exit_verification")
        case = d.fire("accept_refusal", fed(body), REASON)
        assert (case.state, case.timers) == ("under_recheck", ())


@allowed("verify_exit", "exit_verification", None)
@allowed("verify_exit", "exit_verification", "exit_publicity")
def _verify_exit(decider: Decider) -> None:
    for first, second, first_role in ((fed("binhu"), union(), F), (union(), fed("wuxi-city"), U)):
        d = drive_to(decider, "exit_verification")  # refused 2024-12-20 01:05
        case = d.fire("verify_exit", first, when=at(2024, 12, 20, 2, 5))
        assert (case.state, case.verifications) == ("exit_verification", {first_role})
        case = d.fire("verify_exit", second, when=at(2024, 12, 20, 3, 5))
        assert case.state == "exit_publicity"
        # started Fri 12-20: 12-23, 24, 25, 26, 27 → 2024-12-28 00:00
        assert d.due(TimerKind.EXIT_PUBLICITY) == at(2024, 12, 28)


@allowed("exit_publicity_ended", "exit_publicity", "exited")
def _exit_publicity_ended(decider: Decider) -> None:
    d = drive_to(decider, "exit_publicity")
    case = d.fire("exit_publicity_ended", SYSTEM, when=at(2024, 12, 28))
    assert case.state == "exited" and case.exited_at == at(2024, 12, 28)
    assert retention_due(d) == at(2034, 12, 28)
    assert d.index.open_case_of(WORKER_ID) is None


@allowed("retention_expired", "exited", "purged")
@allowed("retention_expired", "cancelled", "purged")
@allowed("retention_expired", "rejected", "purged")
@allowed("retention_expired", "withdrawn", "purged")
def _retention(decider: Decider) -> None:
    # exited 2024-12-20 02:05; cancelled 2024-03-20 01:05 (archived 00:05, cancel an hour on);
    # rejected 2024-03-04 11:00; withdrawn 2024-03-04 10:00
    for state, due in (("exited", at(2034, 12, 20)), ("cancelled", at(2034, 3, 20)),
                       ("rejected", at(2034, 3, 4)), ("withdrawn", at(2034, 3, 4))):
        d = drive_to(decider, state)
        assert retention_due(d) == due, state
        case = d.fire("retention_expired", SYSTEM, when=due)
        assert case.state == "purged"
        assert case.application is None and case.applicant_id is None
        assert case.timers == ()


@pytest.mark.parametrize("route", sorted(ALLOWED, key=str), ids=str)
def test_allowed(decider: Decider, route: tuple[str, str | None, str | None]) -> None:
    ALLOWED[route](decider)


def test_allowed_table_covers_every_route() -> None:
    assert set(ALLOWED) == ROUTES
    assert {t for t, _, _ in ALLOWED} == TRIGGERS


def test_re_entering_a_state_resets_confirmations_and_verifications(decider: Decider) -> None:
    d = drive_to(decider, "exit_pending")
    d.fire("confirm_exit", union())
    d.fire("refuse_exit", worker(), REASON)
    d.fire("verify_exit", union())
    assert d.case is not None and d.case.verifications == {U}
    d.fire("accept_refusal", fed("binhu"), REASON)
    d.fire("start_phase_out", fed("binhu"), {"household": household("none"), "months": 1,
                                             "contact_person": "社工王某"})
    d.fire_timer("phase_out_ended", TimerKind.PHASE_OUT)
    assert d.case.confirmations == frozenset()
    assert d.fire("confirm_exit", union()).confirmations == {U}  # not R-EXIT-CONFIRM
    d.fire("refuse_exit", worker(), REASON)
    assert d.case.verifications == frozenset()
    assert d.fire("verify_exit", union()).verifications == {U}  # not R-EXIT-REFUSAL


def test_objections_reset_on_leaving_the_publicity(decider: Decider) -> None:
    d = drive_to(decider, "unit_publicity")
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    case = d.fire("withdraw", worker())
    assert case.objections_open == frozenset()


# ---------------------------------------------------------------------------------------------
# E-TRANSITION: each trigger in every state where states/LIFECYCLE.md does not list it.

WRONG_STATE = [(t, s) for t in sorted(TRIGGERS) for s in STATES if t not in SPEC_ALLOWED[s]]


@pytest.mark.parametrize(("trigger", "state"), WRONG_STATE, ids=str)
def test_refused_in_wrong_state(decider: Decider, trigger: str, state: str | None) -> None:
    case, index, clock = cached(decider, state)
    role = GOOD_ROLE.get(trigger, F)
    command = Command("C-1", trigger, actor_of(role, case), clock + STEP,
                      good_data(trigger, case, "relative"))
    error = refuse(decider, case, index, command, TransitionNotAllowed, "E-TRANSITION")
    assert isinstance(error, TransitionNotAllowed)
    assert error.state == state
    assert set(error.allowed) - AID == SPEC_ALLOWED[state]


def test_wrong_state_table_covers_every_trigger() -> None:
    assert {t for t, _ in WRONG_STATE} == TRIGGERS
    assert len(WRONG_STATE) == sum(len(STATES) - len(spec_sources(t)) for t in TRIGGERS)


def test_unknown_trigger_is_e_transition(decider: Decider) -> None:
    case, index, clock = cached(decider, "upper_review")
    error = refuse(decider, case, index, Command("C-1", "approve_all", fed("binhu"),
                                                 clock + STEP), TransitionNotAllowed,
                   "E-TRANSITION")
    assert set(error.allowed) - AID == SPEC_ALLOWED["upper_review"]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# E-ACTOR: each trigger in each of its states, fired by every role it does not list (the
# auditor never fires), and by the right role out of scope.

WRONG_ROLE = [(t, s, r) for t, s in SPEC_ROUTES for r in ROLES if r not in spec_roles(t, s)]


def _out_of_scope(role: str, trigger: str) -> list[Actor]:
    if role == W:
        return [worker(OTHER_ID)]
    if role == U:
        return [union(OTHER_UNION)]
    if role == F:
        # another district; an org that is no federation; wuxi-city where the reviewing body
        # (binhu, the case is relative) only may act
        out = [fed("xishan"), fed(UNION)]
        return out if trigger in COUNTY else [*out, fed("wuxi-city")]
    return []


WRONG_SCOPE = [(t, s, a) for t, s in SPEC_ROUTES for r in sorted(spec_roles(t, s))
               for a in _out_of_scope(r, t)]


@pytest.mark.parametrize(("trigger", "state", "role"), WRONG_ROLE, ids=str)
def test_refused_for_wrong_role(decider: Decider, trigger: str, state: str | None,
                                role: str) -> None:
    case, index, command = good(decider, trigger, state)
    command = dataclasses.replace(command, actor=actor_of(role, case))
    refuse(decider, case, index, command, NotAuthorized, "E-ACTOR")


@pytest.mark.parametrize(("trigger", "state", "actor"), WRONG_SCOPE, ids=str)
def test_refused_for_right_role_out_of_scope(decider: Decider, trigger: str,
                                             state: str | None, actor: Actor) -> None:
    case, index, command = good(decider, trigger, state)
    refuse(decider, case, index, dataclasses.replace(command, actor=actor), NotAuthorized,
           "E-ACTOR")


def test_actor_tables_cover_every_trigger() -> None:
    assert {t for t, _, _ in WRONG_ROLE} == TRIGGERS
    assert {(t, s) for t, s, r in WRONG_ROLE if r == "auditor"} == set(SPEC_ROUTES)
    scoped = {t for t, s in SPEC_ROUTES if spec_roles(t, s) - {S}}
    assert {t for t, _, _ in WRONG_SCOPE} == scoped
    assert TRIGGERS - scoped == {"unit_publicity_ended", "media_publicity_ended", "recheck_due",
                                 "phase_out_ended", "exit_publicity_ended", "retention_expired"}


FED_ROUTES = [(t, s) for t, s in SPEC_ROUTES if F in spec_roles(t, s)]


@pytest.mark.parametrize(("trigger", "state"), FED_ROUTES, ids=str)
def test_wuxi_city_acts_when_it_is_the_reviewing_body(decider: Decider, trigger: str,
                                                      state: str) -> None:
    case, index, command = good(decider, trigger, state, category="deep")
    assert case is not None and case.reviewing_body == "wuxi-city"
    command = dataclasses.replace(command, actor=fed("wuxi-city"))
    assert decider.decide(case, command, index).trigger == trigger


@pytest.mark.parametrize("trigger", sorted(COUNTY))
def test_wuxi_city_acts_at_county_level_on_a_district_case(decider: Decider,
                                                           trigger: str) -> None:
    case, index, command = good(decider, trigger, "exit_verification")
    assert case is not None and case.reviewing_body == "binhu"
    command = dataclasses.replace(command, actor=fed("wuxi-city"))
    assert decider.decide(case, command, index).trigger == trigger


def test_submit_checks_the_actor_against_the_application(decider: Decider) -> None:
    index = new_index(decider)
    for actor in (worker(OTHER_ID), union(OTHER_UNION), fed("wuxi-city"), AUDITOR, SYSTEM):
        refuse(decider, None, index, Command("C-1", "submit", actor, at(2024, 3, 4, 9),
                                             application()), NotAuthorized, "E-ACTOR")
    # lower-case x in the worker's id is the same person (workflow/CONTRACT.md §1)
    x_id = next(i for i in (resident_id(f"320211197903155{k:02d}") for k in range(100))
                if i.endswith("X"))
    command = Command("C-1", "submit", worker(x_id.lower()), at(2024, 3, 4, 9),
                      application(id_number=x_id))
    assert decider.decide(None, command, index).trigger == "submit"


# ---------------------------------------------------------------------------------------------
# Guards: every (trigger, source, guard) of the definition fails somewhere, with its rule id.

GUARD_CASES: dict[tuple[str, str | None, str], Callable[[Decider], None]] = {}


def guard(trigger: str, source: str | None,
          rule: str) -> Callable[[Callable[[Decider], None]], Callable[[Decider], None]]:
    def register(fn: Callable[[Decider], None]) -> Callable[[Decider], None]:
        assert (trigger, source, rule) not in GUARD_CASES
        GUARD_CASES[(trigger, source, rule)] = fn
        return fn
    return register


@guard("submit", None, "R-ONE-OPEN-CASE")
def _g_submit(decider: Decider) -> None:
    first = drive_to(decider, "preliminary_review")
    second = Driver(decider, "C-2", first.index, start=first.clock + STEP)
    for actor in (worker(), union()):
        error = refuse_on(second, "submit", actor, application("deep"),
                          rule="R-ONE-OPEN-CASE")
        assert isinstance(error, GuardFailed) and error.results[0].id == "R-ONE-OPEN-CASE"
    # the other applicant is not concerned
    assert second.fire("submit", worker(OTHER_ID), application(id_number=OTHER_ID)).state == (
        "submitted")


@guard("pass_preliminary_review", "preliminary_review", "R-ELIGIBLE")
def _g_pass(decider: Decider) -> None:
    d = drive_to(decider, "preliminary_review", "none")
    error = refuse_on(d, "pass_preliminary_review", union(), rule="R-ELIGIBLE")
    assert isinstance(error, GuardFailed)
    # the refusal lists every §1.2 rule with its figures, as data (issue 14)
    assert {r.id for r in error.results[0].rules} == SECTION_1_2
    assert all("limit" in r.figures for r in error.results[0].rules
               if r.id.startswith(("R-DEEP", "R-REL")))


@guard("approve", "upper_review", "R-ELIGIBLE")
def _g_approve(decider: Decider) -> None:
    # Re-assessed on the event date: an operator's table lowers L to 500 from 2024-03-12, so the
    # relative household (I = 2500 > 3 × 500; N = 2083.33 > 2 × 500; no accident) passed on
    # 03-04 under L = 1095 and fails at approval.
    policy = decider.policy
    lowered = Policy.model_validate({
        **policy.model_dump(),
        "living_standard": [
            policy.living_standard[0].model_dump(),
            {"effective_from": date(2024, 3, 12), "amount": "500", "source": "test table"},
            *(e.model_dump() for e in policy.living_standard[1:])]})
    strict = Decider(lowered)
    d = drive_to(strict, "upper_review")
    assert d.case is not None and d.case.category == "relative"
    refuse_on(d, "approve", fed("binhu"), rule="R-ELIGIBLE")


def _publicity_guards(decider: Decider, state: str, trigger: str, kind: TimerKind,
                      due: datetime) -> None:
    d = drive_to(decider, state)
    assert d.due(kind) == due
    refuse_on(d, trigger, SYSTEM, when=due - timedelta(minutes=1), rule="R-PUBLICITY-ELAPSED")
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    d.fire("raise_objection", fed("binhu"), {"objection_id": "OBJ-2", "summary": "有异议"})
    refuse_on(d, trigger, SYSTEM, when=due, error=ObjectionProblem, rule="E-OBJECTION")
    runner = union() if state == "unit_publicity" else fed("binhu")
    d.fire("dismiss_objection", runner, {"objection_id": "OBJ-1", **REASON})
    refuse_on(d, trigger, SYSTEM, when=due, error=ObjectionProblem, rule="E-OBJECTION")
    d.fire("dismiss_objection", runner, {"objection_id": "OBJ-2", **REASON})
    assert d.fire(trigger, SYSTEM, when=due).state != state


for _state, _trigger, _kind, _due in (
        ("unit_publicity", "unit_publicity_ended", TimerKind.UNIT_PUBLICITY, at(2024, 3, 12)),
        ("media_publicity", "media_publicity_ended", TimerKind.MEDIA_PUBLICITY, at(2024, 3, 20)),
        ("exit_publicity", "exit_publicity_ended", TimerKind.EXIT_PUBLICITY, at(2024, 12, 28))):
    for _rule in ("R-PUBLICITY-ELAPSED", "E-OBJECTION"):
        guard(_trigger, _state, _rule)(functools.partial(
            _publicity_guards, state=_state, trigger=_trigger, kind=_kind, due=_due))


def _objection_not_open(decider: Decider, trigger: str, state: str) -> None:
    d = drive_to(decider, state)
    runner = union() if state == "unit_publicity" else fed("binhu")
    # never raised
    refuse_on(d, trigger, runner, {"objection_id": "OBJ-9", **REASON}, error=ObjectionProblem,
              rule="E-OBJECTION")
    # raised, then dismissed: no longer open
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    d.fire("dismiss_objection", runner, {"objection_id": "OBJ-1", **REASON})
    refuse_on(d, trigger, runner, {"objection_id": "OBJ-1", **REASON}, error=ObjectionProblem,
              rule="E-OBJECTION")


for _trigger in ("dismiss_objection", "uphold_objection"):
    for _state in RUNNER:
        guard(_trigger, _state, "E-OBJECTION")(functools.partial(
            _objection_not_open, trigger=_trigger, state=_state))


@guard("recheck_due", "archived", "R-RECHECK-CADENCE")
def _g_recheck(decider: Decider) -> None:
    d = drive_to(decider, "archived")  # relative, archived 2024-03-20: due 2024-09-20
    refuse_on(d, "recheck_due", SYSTEM, when=at(2024, 9, 19, 23, 59), rule="R-RECHECK-CADENCE")
    # deep: 12 months, so not due after 6
    d = drive_to(decider, "archived", "deep")
    refuse_on(d, "recheck_due", SYSTEM, when=at(2024, 9, 20, 0, 5), rule="R-RECHECK-CADENCE")
    refuse_on(d, "recheck_due", SYSTEM, when=at(2025, 3, 19, 23, 59), rule="R-RECHECK-CADENCE")


@guard("confirm_eligibility", "under_recheck", "R-ELIGIBLE")
def _g_confirm(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    refuse_on(d, "confirm_eligibility", fed("binhu"), {"household": household("none")},
              rule="R-ELIGIBLE")
    # `accident: null` removes the accident: the accident household qualifies for nothing
    d = drive_to(decider, "under_recheck", "accident")
    assert d.case is not None and d.case.category == "accident"
    refuse_on(d, "confirm_eligibility", fed("binhu"),
              {"household": household("accident"), "accident": None}, rule="R-ELIGIBLE")
    # without the key, the accident stays and the case qualifies
    assert d.fire("confirm_eligibility", fed("binhu"),
                  {"household": household("accident")}).category == "accident"


@guard("start_phase_out", "under_recheck", "R-OUT-OF-HARDSHIP")
def _g_out_of_hardship(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    refuse_on(d, "start_phase_out", fed("binhu"),
              {"household": household("relative"), "months": 3, "contact_person": "社工王某"},
              rule="R-OUT-OF-HARDSHIP")


@guard("start_phase_out", "under_recheck", "R-PHASEOUT-MAX")
def _g_phase_out_max(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    for months in (7, 12):
        refuse_on(d, "start_phase_out", fed("binhu"), {"household": household("none"),
                                                       "months": months,
                                                       "contact_person": "社工王某"},
                  rule="R-PHASEOUT-MAX")
    assert d.fire("start_phase_out", fed("binhu"), {"household": household("none"), "months": 6,
                                                    "contact_person": "社工王某"}).state == (
        "phase_out")


@guard("report_relapse", "exited", "R-ONE-OPEN-CASE")
def _g_relapse(decider: Decider) -> None:
    d = drive_to(decider, "exited")
    other = Driver(decider, "C-2", d.index, start=d.clock + STEP)
    other.fire("submit", worker(), application("deep"))
    for actor in (worker(), union(), fed("binhu")):
        refuse_on(d, "report_relapse", actor, {"summary": "再次陷入困难"},
                  when=other.clock + STEP, rule="R-ONE-OPEN-CASE")


@guard("readmit", "re_entered", "R-ELIGIBLE")
def _g_readmit(decider: Decider) -> None:
    d = drive_to(decider, "re_entered", came_from="phase_out")
    refuse_on(d, "readmit", fed("binhu"), {"household": household("none")}, rule="R-ELIGIBLE")


@guard("phase_out_ended", "phase_out", "R-PHASEOUT-ELAPSED")
def _g_phase_out_elapsed(decider: Decider) -> None:
    d = drive_to(decider, "phase_out")  # ends 2024-12-20 00:00
    refuse_on(d, "phase_out_ended", SYSTEM, when=at(2024, 12, 19, 23, 59),
              rule="R-PHASEOUT-ELAPSED")


@guard("confirm_exit", "exit_pending", "R-EXIT-CONFIRM")
def _g_confirm_exit(decider: Decider) -> None:
    for actor in (worker(), union()):
        d = drive_to(decider, "exit_pending")
        d.fire("confirm_exit", actor)
        refuse_on(d, "confirm_exit", actor, rule="R-EXIT-CONFIRM")


@guard("refuse_exit", "exit_pending", "R-EXIT-CONFIRM")
def _g_refuse_exit(decider: Decider) -> None:
    d = drive_to(decider, "exit_pending")
    d.fire("confirm_exit", worker())
    refuse_on(d, "refuse_exit", worker(), REASON, rule="R-EXIT-CONFIRM")


@guard("verify_exit", "exit_verification", "R-EXIT-REFUSAL")
def _g_verify_exit(decider: Decider) -> None:
    for first, again in ((fed("binhu"), fed("binhu")), (union(), union()),
                         (fed("binhu"), fed("wuxi-city")), (fed("wuxi-city"), fed("binhu"))):
        d = drive_to(decider, "exit_verification")
        d.fire("verify_exit", first)
        refuse_on(d, "verify_exit", again, rule="R-EXIT-REFUSAL")
        assert d.case is not None and d.case.state == "exit_verification"


def _retention_guard(decider: Decider, state: str) -> None:
    d = drive_to(decider, state)
    due = retention_due(d)
    refuse_on(d, "retention_expired", SYSTEM, when=due - timedelta(minutes=1),
              rule="R-RETENTION")


for _state in ("exited", "cancelled", "rejected", "withdrawn"):
    guard("retention_expired", _state, "R-RETENTION")(
        functools.partial(_retention_guard, state=_state))


@pytest.mark.parametrize("key", sorted(GUARD_CASES, key=str), ids=str)
def test_guard_fails(decider: Decider, key: tuple[str, str | None, str]) -> None:
    GUARD_CASES[key](decider)


def test_guard_table_covers_every_guard_of_the_definition() -> None:
    assert set(GUARD_CASES) == GUARD_PAIRS


def test_guard_rules_are_those_of_the_spec() -> None:
    assert {g for _, _, g in GUARD_PAIRS} == {
        "R-ONE-OPEN-CASE", "R-ELIGIBLE", "R-PUBLICITY-ELAPSED", "E-OBJECTION",
        "R-RECHECK-CADENCE", "R-OUT-OF-HARDSHIP", "R-PHASEOUT-MAX", "R-PHASEOUT-ELAPSED",
        "R-EXIT-CONFIRM", "R-EXIT-REFUSAL", "R-RETENTION"}


# ---------------------------------------------------------------------------------------------
# Payload rules (E-PAYLOAD).

def _payload_refused(decider: Decider, trigger: str, state: str, data: dict[str, Any],
                     path: str | None = None, **options: Any) -> None:
    case, index, command = good(decider, trigger, state, **options)
    error = refuse(decider, case, index, dataclasses.replace(command, data=data),
                   InvalidPayload, "E-PAYLOAD")
    if path is not None:
        assert path in [p.path for p in error.problems], error  # type: ignore[attr-defined]


@pytest.mark.parametrize("trigger", REASON_TRIGGERS)
@pytest.mark.parametrize("reason", [None, "", "   ", 5])
def test_reason_is_required(decider: Decider, trigger: str, reason: object) -> None:
    state = spec_sources(trigger)[0]
    assert state is not None
    _, _, command = good(decider, trigger, state)
    data = {k: v for k, v in command.data.items() if k != "reason"}
    if reason is not None:
        data["reason"] = reason
    _payload_refused(decider, trigger, state, data, "data.reason")


@pytest.mark.parametrize("months", [0, -1, "3", 2.5, True, None, 3.0])
def test_months_must_be_a_whole_number_from_one(decider: Decider, months: object) -> None:
    data: dict[str, Any] = {"household": household("none"), "contact_person": "社工王某"}
    if months is not None:
        data["months"] = months
    _payload_refused(decider, "start_phase_out", "under_recheck", data, "data.months")


@pytest.mark.parametrize("missing", ["household", "contact_person"])
def test_phase_out_payload_fields_are_required(decider: Decider, missing: str) -> None:
    data = {"household": household("none"), "months": 3, "contact_person": "社工王某"}
    del data[missing]
    _payload_refused(decider, "start_phase_out", "under_recheck", data, f"data.{missing}")


@pytest.mark.parametrize("state", list(RUNNER))
def test_objection_id_is_unique_within_a_case(decider: Decider, state: str) -> None:
    d = drive_to(decider, state)
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    # still open: raising it again reuses the id
    refuse_on(d, "raise_objection", union(), {"objection_id": "OBJ-1", "summary": "再次"},
              error=InvalidPayload, rule="E-PAYLOAD")
    runner = union() if state == "unit_publicity" else fed("binhu")
    d.fire("dismiss_objection", runner, {"objection_id": "OBJ-1", **REASON})
    # closed: still used in this case
    refuse_on(d, "raise_objection", fed("binhu"), {"objection_id": "OBJ-1", "summary": "再次"},
              error=InvalidPayload, rule="E-PAYLOAD")
    assert d.fire("raise_objection", union(), {"objection_id": "OBJ-2", "summary": "新"})


def test_objection_id_used_in_an_earlier_publicity_cannot_be_reused(decider: Decider) -> None:
    d = drive_to(decider, "unit_publicity")
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    d.fire("dismiss_objection", union(), {"objection_id": "OBJ-1", **REASON})
    d.fire_timer("unit_publicity_ended", TimerKind.UNIT_PUBLICITY)
    d.fire("approve", fed("binhu"))
    assert d.case is not None and d.case.state == "media_publicity"
    refuse_on(d, "raise_objection", union(), {"objection_id": "OBJ-1", "summary": "再次"},
              error=InvalidPayload, rule="E-PAYLOAD")


@pytest.mark.parametrize(("trigger", "data", "path"), [
    ("raise_objection", {"summary": "有异议"}, "data.objection_id"),
    ("raise_objection", {"objection_id": "OBJ-3"}, "data.summary"),
    ("dismiss_objection", {"reason": "不成立"}, "data.objection_id"),
    ("uphold_objection", {"reason": "成立"}, "data.objection_id"),
])
def test_objection_payload_fields_are_required(decider: Decider, trigger: str,
                                               data: dict[str, Any], path: str) -> None:
    _payload_refused(decider, trigger, "media_publicity", data, path)


@pytest.mark.parametrize("data", [{"reason": "bankrupt"}, {"reason": "Deceased"}, {},
                                  {"reason": "other"}, {"reason": "other", "detail": ""},
                                  {"detail": "无"}])
def test_cancel_reason_outside_the_list_or_other_without_detail(decider: Decider,
                                                                data: dict[str, Any]) -> None:
    _payload_refused(decider, "cancel", "archived", data)


@pytest.mark.parametrize("reason", ["false_information", "deceased", "moved_out"])
def test_cancel_detail_is_optional_except_for_other(decider: Decider, reason: str) -> None:
    case, index, command = good(decider, "cancel", "phase_out")
    event = decider.decide(case, dataclasses.replace(command, data={"reason": reason}), index)
    assert event.derived.state == "cancelled"


def test_readmit_from_phase_out_needs_a_household(decider: Decider) -> None:
    _payload_refused(decider, "readmit", "re_entered", {}, "data.household")
    _payload_refused(decider, "readmit", "re_entered", {"accident": None}, "data.household")


def test_report_relapse_needs_a_summary(decider: Decider) -> None:
    _payload_refused(decider, "report_relapse", "phase_out", {}, "data.summary")


@pytest.mark.parametrize("trigger", ["confirm_eligibility", "start_phase_out", "readmit"])
def test_household_in_a_payload_is_validated(decider: Decider, trigger: str) -> None:
    state = spec_sources(trigger)[0]
    assert state is not None
    _, _, command = good(decider, trigger, state)
    two_selves = household("none")
    two_selves["members"][1]["relation"] = "self"
    negative = household("none")
    negative["members"][1]["annual_income"] = "-1"
    for bad in (two_selves, negative):
        _payload_refused(decider, trigger, state, {**command.data, "household": bad})


@pytest.mark.parametrize(("trigger", "state"), SPEC_ROUTES, ids=str)
def test_unknown_payload_key(decider: Decider, trigger: str, state: str | None) -> None:
    _, _, command = good(decider, trigger, state)
    data = {**command.data, "unexpected": "x"}
    path = None if trigger in ("submit", "amend_application") else "data.unexpected"
    _payload_refused(decider, trigger, state, data, path)  # type: ignore[arg-type]


@pytest.mark.parametrize("trigger", ["submit", "amend_application"])
def test_invalid_application_lists_its_problems(decider: Decider, trigger: str) -> None:
    state = spec_sources(trigger)[0]
    case, index, command = good(decider, trigger, state)
    data = application()
    data["household"]["members"][1]["annual_income"] = "-1"
    data["residence"]["region"] = "上海市"
    error = refuse(decider, case, index, dataclasses.replace(command, data=data),
                   InvalidPayload, "E-PAYLOAD")
    paths = " ".join(p.path for p in error.problems)  # type: ignore[attr-defined]
    assert "household.members[1].annual_income" in paths and "residence.region" in paths


def test_amendment_cannot_change_the_applicant(decider: Decider) -> None:
    _payload_refused(decider, "amend_application", "submitted",
                     application(id_number=OTHER_ID))


# ---------------------------------------------------------------------------------------------
# Check order: E-TRANSITION, E-ACTOR, E-PAYLOAD, then the guards in states/LIFECYCLE.md order.

def test_wrong_state_and_wrong_actor_is_e_transition(decider: Decider) -> None:
    case, index, clock = cached(decider, "submitted")
    for actor in (AUDITOR, fed("xishan"), worker(OTHER_ID)):
        refuse(decider, case, index, Command("C-1", "approve", actor, clock + STEP),
               TransitionNotAllowed, "E-TRANSITION")
    refuse(decider, case, index, Command("C-1", "cancel", AUDITOR, clock + STEP, {"x": 1}),
           TransitionNotAllowed, "E-TRANSITION")


def test_wrong_actor_and_bad_payload_is_e_actor(decider: Decider) -> None:
    case, index, clock = cached(decider, "preliminary_review")
    for actor in (fed("binhu"), union(OTHER_UNION), AUDITOR):
        refuse(decider, case, index, Command("C-1", "reject_preliminary", actor, clock + STEP),
               NotAuthorized, "E-ACTOR")
    case, index, clock = cached(decider, "under_recheck")
    refuse(decider, case, index, Command("C-1", "start_phase_out", fed("xishan"), clock + STEP,
                                         {"months": 0}), NotAuthorized, "E-ACTOR")
    refuse(decider, None, new_index(decider),
           Command("C-1", "submit", union(OTHER_UNION), at(2024, 3, 4, 9),
                   {**application(), "unexpected": 1}), NotAuthorized, "E-ACTOR")


def test_bad_payload_and_failing_guard_is_e_payload(decider: Decider) -> None:
    # eligible household (R-OUT-OF-HARDSHIP fails) and months 0
    case, index, clock = cached(decider, "under_recheck")
    refuse(decider, case, index, Command("C-1", "start_phase_out", fed("binhu"), clock + STEP,
                                         {"household": household("relative"), "months": 0,
                                          "contact_person": "社工王某"}),
           InvalidPayload, "E-PAYLOAD")
    # ineligible household (R-ELIGIBLE fails) and an unknown key
    refuse(decider, case, index,
           Command("C-1", "confirm_eligibility", fed("binhu"), clock + STEP,
                   {"household": household("none"), "note": "x"}), InvalidPayload, "E-PAYLOAD")
    # objection not open (E-OBJECTION) and no reason
    case, index, clock = cached(decider, "unit_publicity")
    refuse(decider, case, index, Command("C-1", "dismiss_objection", union(), clock + STEP,
                                         {"objection_id": "OBJ-9"}), InvalidPayload, "E-PAYLOAD")
    # a second open case (R-ONE-OPEN-CASE) and an invalid application
    d = drive_to(decider, "submitted")
    data = application()
    data["applicant"]["phone"] = ""
    refuse(decider, None, d.index, Command("C-2", "submit", union(), d.clock + STEP, data),
           InvalidPayload, "E-PAYLOAD")
    # readmit from phase_out: no household (E-PAYLOAD) whatever the eligibility
    case, index, clock = cached(decider, "re_entered")
    refuse(decider, case, index, Command("C-1", "readmit", fed("binhu"), clock + STEP, {}),
           InvalidPayload, "E-PAYLOAD")


def test_guards_are_checked_in_lifecycle_order(decider: Decider) -> None:
    # start_phase_out: R-OUT-OF-HARDSHIP before R-PHASEOUT-MAX
    case, index, clock = cached(decider, "under_recheck")
    refuse(decider, case, index, Command("C-1", "start_phase_out", fed("binhu"), clock + STEP,
                                         {"household": household("relative"), "months": 7,
                                          "contact_person": "社工王某"}),
           GuardFailed, "R-OUT-OF-HARDSHIP")
    # publicity ended: R-PUBLICITY-ELAPSED before E-OBJECTION
    d = drive_to(decider, "unit_publicity")
    d.fire("raise_objection", union(), {"objection_id": "OBJ-1", "summary": "有异议"})
    refuse_on(d, "unit_publicity_ended", SYSTEM, when=at(2024, 3, 11, 23, 59),
              rule="R-PUBLICITY-ELAPSED")


def test_a_refusal_leaves_the_case_as_it_was_and_the_next_command_works(
        decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    assert d.case is not None
    before, version = copy.deepcopy(d.case), d.case.version
    for command in (
            d.command("start_phase_out", fed("binhu"), {"household": household("relative"),
                                                        "months": 3, "contact_person": "王"}),
            d.command("start_phase_out", fed("binhu"), {"household": household("none"),
                                                        "months": 7, "contact_person": "王"}),
            d.command("confirm_eligibility", fed("binhu"), {"household": household("none")}),
            d.command("approve", fed("binhu")),
            d.command("cancel", AUDITOR, {"reason": "deceased"})):
        with pytest.raises(JiekunError):
            decider.decide_and_fold(d.case, command, d.index)
        assert d.case == before
    case = d.fire("confirm_eligibility", fed("binhu"), {"household": household("relative")})
    assert (case.state, case.version) == ("archived", version + 1)


# ---------------------------------------------------------------------------------------------
# E-POLICY: a guard that needs L (or the calendar) on a date the policy does not cover.

def _policy_not_in_force(d: Driver, trigger: str, actor: Actor,
                         data: dict[str, Any] | None = None,
                         when: datetime | None = None) -> None:
    refuse_on(d, trigger, actor, data, when, error=PolicyNotInForce, rule="E-POLICY")


def test_pass_after_known_until_is_e_policy(decider: Decider) -> None:
    d = drive_to(decider, "preliminary_review", start=at(2026, 7, 1, 9))
    _policy_not_in_force(d, "pass_preliminary_review", union())
    # on the last known day it is judged
    d = drive_to(decider, "preliminary_review", start=at(2026, 6, 30, 9))
    assert d.fire("pass_preliminary_review", union()).state == "unit_publicity"


def test_approve_after_known_until_is_e_policy(decider: Decider) -> None:
    d = drive_to(decider, "upper_review", start=at(2026, 6, 15, 9))
    _policy_not_in_force(d, "approve", fed("binhu"), when=at(2026, 7, 1, 9))


def test_recheck_decisions_after_known_until_are_e_policy(decider: Decider) -> None:
    # archived in 2026-03, re-check due in 2026-09: a re-check started early, in July
    d = drive_to(decider, "archived", start=at(2026, 3, 2, 9))
    d.fire("start_recheck", fed("binhu"), when=at(2026, 7, 1, 9))
    _policy_not_in_force(d, "confirm_eligibility", fed("binhu"),
                         {"household": household("relative")})
    _policy_not_in_force(d, "start_phase_out", fed("binhu"),
                         {"household": household("none"), "months": 3, "contact_person": "王"})
    # a phase-out from 2026-03 for 6 months: a relapse reported before it ends
    d = drive_to(decider, "phase_out", start=at(2025, 9, 1, 9), phase_out_months=6)
    assert d.due(TimerKind.PHASE_OUT) > at(2026, 7, 1, 9)
    d.fire("report_relapse", worker(), {"summary": "再次困难"}, when=at(2026, 7, 1, 9))
    _policy_not_in_force(d, "readmit", fed("binhu"), {"household": household("relative")})


def test_month_timers_after_known_until_are_judged(decider: Decider) -> None:
    d = drive_to(decider, "archived", start=at(2026, 1, 5, 9))  # re-check due 2026-07
    d.fire("start_recheck", fed("binhu"), when=at(2026, 6, 30, 9))
    d.fire("confirm_eligibility", fed("binhu"), {"household": household("relative")})
    assert d.due(TimerKind.RECHECK) == at(2026, 12, 30)
    assert d.fire("recheck_due", SYSTEM, when=at(2026, 12, 30, 0, 5)).state == "under_recheck"


def test_exit_publicity_into_an_unknown_calendar_year_is_e_policy(decider: Decider) -> None:
    d = drive_to(decider, "under_recheck")
    d.fire("start_phase_out", fed("binhu"), {"household": household("none"), "months": 6,
                                             "contact_person": "王"}, when=at(2026, 6, 29, 10))
    assert d.due(TimerKind.PHASE_OUT) == at(2026, 12, 29)
    d.fire("phase_out_ended", SYSTEM, when=at(2026, 12, 29, 0, 5))  # a month timer: judged
    d.fire("refuse_exit", worker(), REASON)
    d.fire("verify_exit", fed("binhu"))
    case = d.fire("verify_exit", union())
    # 5 working days after Tue 2026-12-29 run into 2027, which the calendar does not know
    timer = case.timer(TimerKind.EXIT_PUBLICITY)
    assert timer is not None and timer.due is None
    _policy_not_in_force(d, "exit_publicity_ended", SYSTEM, when=at(2027, 1, 20))
    # The time rule (states/LIFECYCLE.md): the timer *waits*; another command on the case is
    # decided before its earliest possible due time (start + 5 calendar days) and refused with
    # E-POLICY after it, naming the waiting timer.
    earliest = timer.started + timedelta(days=5)
    objection = {"objection_id": "OBJ-1", "summary": "有异议"}
    assert d.fire("raise_objection", fed("binhu"), objection,
                  when=earliest - timedelta(minutes=1)).objections_open == {"OBJ-1"}
    d.fire("dismiss_objection", fed("binhu"), {"objection_id": "OBJ-1", "reason": "不成立"},
           when=earliest - timedelta(seconds=30))
    with pytest.raises(PolicyNotInForce) as waiting:
        d.fire("raise_objection", fed("binhu"), {**objection, "objection_id": "OBJ-2"},
               when=earliest)
    assert "exit_publicity timer" in waiting.value.message and waiting.value.code == "E-POLICY"


# ---------------------------------------------------------------------------------------------
# R-NONEXCL: membership and employment never change a decision.

EMPLOYMENTS = ("employed", "laid_off", "migrant_worker", "flexible", "unemployed")
Step = tuple[str, str, Callable[[Driver], Actor], dict[str, Any] | None, TimerKind | None]

_fed: Callable[[Driver], Actor] = lambda d: fed(d.body if d.case else "wuxi-city")  # noqa: E731
_union: Callable[[Driver], Actor] = lambda d: union()  # noqa: E731
_worker: Callable[[Driver], Actor] = lambda d: worker()  # noqa: E731
_system: Callable[[Driver], Actor] = lambda d: SYSTEM  # noqa: E731
_PO = {"household": household("none"), "months": 2, "contact_person": "王"}


def _scenarios(member: bool, employment: str) -> dict[str, list[Step]]:
    def app(category: str, **kw: Any) -> dict[str, Any]:
        return application(category, union_member=member, employment=employment, **kw)
    return {
        "deep to archive, re-checked as relative": [
            ("C-1", "submit", _worker, app("deep"), None),
            ("C-1", "start_preliminary_review", _union, None, None),
            ("C-1", "pass_preliminary_review", _union, None, None),
            ("C-1", "unit_publicity_ended", _system, None, TimerKind.UNIT_PUBLICITY),
            ("C-1", "approve", _fed, None, None),
            ("C-1", "media_publicity_ended", _system, None, TimerKind.MEDIA_PUBLICITY),
            ("C-1", "recheck_due", _system, None, TimerKind.RECHECK),
            ("C-1", "start_phase_out", _fed, {**_PO, "household": household("relative")}, None),
            ("C-1", "confirm_eligibility", _fed, {"household": household("relative")}, None)],
        "not eligible, then a second case": [
            ("C-1", "submit", _union, app("none", household_kind="none"), None),
            ("C-1", "start_preliminary_review", _union, None, None),
            ("C-1", "pass_preliminary_review", _union, None, None),
            ("C-2", "submit", _union, app("relative"), None),
            ("C-1", "reject_preliminary", _union, REASON, None),
            ("C-2", "submit", _union, app("relative"), None)],
        "accident, phase-out, relapse, exit by verification": [
            ("C-1", "submit", _union, app("accident"), None),
            ("C-1", "start_preliminary_review", _union, None, None),
            ("C-1", "pass_preliminary_review", _union, None, None),
            ("C-1", "unit_publicity_ended", _system, None, TimerKind.UNIT_PUBLICITY),
            ("C-1", "approve", _fed, None, None),
            ("C-1", "media_publicity_ended", _system, None, TimerKind.MEDIA_PUBLICITY),
            ("C-1", "start_recheck", _fed, None, None),
            ("C-1", "start_phase_out", _fed, {**_PO, "months": 7}, None),
            ("C-1", "start_phase_out", _fed, _PO, None),
            ("C-1", "report_relapse", _worker, {"summary": "困难"}, None),
            ("C-1", "readmit", _fed, {"household": household("none")}, None),
            ("C-1", "decline_readmission", _fed, REASON, None),
            ("C-1", "phase_out_ended", _system, None, TimerKind.PHASE_OUT),
            ("C-1", "refuse_exit", _worker, REASON, None),
            ("C-1", "verify_exit", _fed, None, None),
            ("C-1", "verify_exit", _union, None, None),
            ("C-1", "exit_publicity_ended", _system, None, TimerKind.EXIT_PUBLICITY)],
    }


def _outcomes(decider: Decider, member: bool, employment: str,
              name: str) -> list[tuple[Any, ...]]:
    index = new_index(decider)
    drivers: dict[str, Driver] = {}
    clock = at(2024, 3, 4, 8)
    out: list[tuple[Any, ...]] = []
    for case_id, trigger, actor, data, timer in _scenarios(member, employment)[name]:
        d = drivers.setdefault(case_id, Driver(decider, case_id, index))
        d.clock = clock
        when = clock + STEP
        if timer is not None:
            when = max(when, d.due(timer))
        try:
            d.fire(trigger, actor(d), data, when)
        except JiekunError as refusal:
            out.append((case_id, trigger, "refused", refusal.rule))
        else:
            out.append((case_id, trigger, "ok", d.events[-1].derived.model_dump(mode="json")))
        clock = when
    return out


@pytest.mark.parametrize("name", list(_scenarios(True, "employed")))
def test_membership_and_employment_never_change_a_decision(decider: Decider,
                                                           name: str) -> None:
    baseline = _outcomes(decider, True, "employed", name)
    assert any(o[2] == "ok" for o in baseline) and any(o[2] == "refused" for o in baseline)
    for member in (True, False):
        for employment in EMPLOYMENTS:
            assert _outcomes(decider, member, employment, name) == baseline, (member,
                                                                              employment)


def test_nonexcl_scenarios_refuse_where_the_spec_says(decider: Decider) -> None:
    refusals = {name: [(o[0], o[1], o[3]) for o in _outcomes(decider, False, "migrant_worker",
                                                            name) if o[2] == "refused"]
                for name in _scenarios(True, "employed")}
    assert refusals == {
        "deep to archive, re-checked as relative": [
            ("C-1", "start_phase_out", "R-OUT-OF-HARDSHIP")],
        "not eligible, then a second case": [
            ("C-1", "pass_preliminary_review", "R-ELIGIBLE"),
            ("C-2", "submit", "R-ONE-OPEN-CASE")],
        "accident, phase-out, relapse, exit by verification": [
            ("C-1", "start_phase_out", "R-PHASEOUT-MAX"),
            ("C-1", "readmit", "R-ELIGIBLE")],
    }
