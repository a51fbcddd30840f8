"""Builders for the workflow tests: valid applications, actors, and cases driven through the
Decider to any state of the lifecycle (states/LIFECYCLE.md).

Households have two members (n = 2), so the per-capita monthly figure of an annual total T is
T / 24. L = 1095 until 2024-06-30, 1115 from 2024-07-01, 1167 from 2025-07-01
(policies/data/wx-2023-45.toml).

household   Y       E      A            I=Y/24   N=(Y-E)/24  category (any date 2024-2026)
deep        24000   0      -            1000     1000        deep: I <= 2L (2190), N < L (1095)
relative    60000   10000  -            2500     2083.33     relative: I <= 3L (3285), N <= 2L
                                                             (2190); not deep: I > 2L even at
                                                             L = 1167 (2334)
accident    90000   0      30000-5000   3750     3750        accident: I <= 4L (4380),
                                                             N_a = 65000/24 = 2708.33 < 3L
                                                             (3285); not relative: I > 3L even
                                                             at L = 1167 (3501)
none        120000  0      -            5000     5000        nothing: I > 4L even at 1167 (4668)
borderline  53000   27000  -            2208.33  1083.33     relative while L = 1095 (I > 2190);
                                                             deep from 2024-07-01 (I <= 2230,
                                                             N < 1115)

Routing (policies/RULES.md §1.1), unit an enterprise in 滨湖区: deep → wuxi-city, relative and
accident → binhu.

The default timeline of ``drive_to`` (relative or accident; start Mon 2024-03-04 09:00+08:00):
submit 03-04 09:00, start_preliminary_review 10:00, pass_preliminary_review 11:00 (unit
publicity: working days 03-05..03-08, 03-11 → due 2024-03-12 00:00), unit_publicity_ended
03-12 00:05, approve 01:05 (media publicity: 03-13..03-15, 03-18, 03-19 → due 2024-03-20 00:00),
media_publicity_ended 03-20 00:05 (re-check due 2024-09-20 00:00 relative/accident,
2025-03-20 00:00 deep), recheck_due at that due + 5 min, start_phase_out one hour later
(months 3), phase_out_ended at its end + 5 min, and so on, one hour per step.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from jiekun.policies.application import Application
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.states import TimerKind
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.replay import OpenCaseIndex

UNION = "gu-test-001"
OTHER_UNION = "gu-test-002"
START = datetime(2024, 3, 4, 9, 0, tzinfo=SHANGHAI)  # a Monday
STEP = timedelta(hours=1)
TIMER_LATE = timedelta(minutes=5)


def resident_id(first17: str) -> str:
    """GB 11643-1999 check character appended (workflow/CONTRACT.md §1), computed here
    independently."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


WORKER_ID = resident_id("32021119790315516")  # born 1979-03-15
OTHER_ID = resident_id("32021119820101123")  # born 1982-01-01

SELF, SPOUSE = "王强", "李梅"


def household(kind: str) -> dict[str, Any]:
    """The households of the module docstring's table."""
    income, expenses = {
        "deep": (24000, 0),
        "relative": (60000, 10000),
        "accident": (90000, 0),
        "none": (120000, 0),
        "borderline": (53000, 27000),
    }[kind]
    return {
        "members": [
            {"name": SELF, "relation": "self", "annual_income": str(income - 10000)},
            {"name": SPOUSE, "relation": "spouse", "annual_income": "10000"},
        ],
        "rigid_expenses": [] if not expenses else [
            {"kind": "medical_self_pay", "annual_amount": str(expenses)}],
    }


def accident() -> dict[str, Any]:
    # A = 30000 - 5000 = 25000
    return {"kind": "major_illness", "member": SPOUSE, "occurred_on": "2024-01-15",
            "necessary_expenses": "30000", "compensation_received": "5000"}


BODY = {"deep": "wuxi-city", "relative": "binhu", "accident": "binhu"}
RECHECK_MONTHS = {"deep": 12, "relative": 6, "accident": 6}


def application(category: str = "relative", *, id_number: str = WORKER_ID,
                union: str = UNION, region: str = "滨湖区", unit_kind: str = "enterprise",
                union_member: bool = True, employment: str = "employed",
                household_kind: str | None = None) -> dict[str, Any]:
    """A valid application (workflow/CONTRACT.md §1) whose household assesses as ``category``
    (``none``: qualifies for nothing; ``borderline``: see the module docstring)."""
    kind = household_kind or category
    return {
        "applicant": {"name": SELF, "id_number": id_number, "phone": "13900000001",
                      "union_member": union_member, "employment": employment},
        "grassroots_union": union,
        "unit": {"name": "测试企业", "kind": unit_kind, "region": region},
        "residence": {"region": region, "community": "测试社区"},
        "household": household(kind),
        "accident": accident() if category == "accident" else None,
        "declared_category": category if category in BODY else "relative",
    }


def worker(id_number: str = WORKER_ID) -> Actor:
    return Actor("worker", id_number=id_number)


def union(org: str = UNION) -> Actor:
    return Actor("grassroots_union", org=org)


def fed(org: str) -> Actor:
    return Actor("federation", org=org)


SYSTEM = Actor("system")
AUDITOR = Actor("auditor", org="audit-office")


def new_index(decider: Decider) -> OpenCaseIndex:
    return OpenCaseIndex(frozenset(s.name for s in decider.lifecycle.states if s.closed))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class Driver:
    """Fires commands on one case through the Decider, keeping the case, an open-case index
    and a clock (the time of the last event)."""

    def __init__(self, decider: Decider, case_id: str = "C-1",
                 index: OpenCaseIndex | None = None, start: datetime = START) -> None:
        self.decider = decider
        self.case_id = case_id
        self.index = index if index is not None else new_index(decider)
        self.case: CaseState | None = None
        self.clock = start - STEP
        self.events: list[Event] = []

    def command(self, trigger: str, actor: Actor, data: dict[str, Any] | None = None,
                when: datetime | None = None) -> Command:
        return Command(self.case_id, trigger, actor, when or self.clock + STEP, data or {})

    def fire(self, trigger: str, actor: Actor, data: dict[str, Any] | None = None,
             when: datetime | None = None) -> CaseState:
        command = self.command(trigger, actor, data, when)
        event, after = self.decider.decide_and_fold(self.case, command, self.index)
        self.index.update(after)
        self.case, self.clock = after, command.at
        self.events.append(event)
        return after

    def due(self, kind: TimerKind) -> datetime:
        assert self.case is not None
        timer = self.case.timer(kind)
        assert timer is not None and timer.due is not None, (kind, self.case.timers)
        return timer.due

    def fire_timer(self, trigger: str, kind: TimerKind) -> CaseState:
        return self.fire(trigger, SYSTEM, when=self.due(kind) + TIMER_LATE)

    @property
    def body(self) -> str:
        assert self.case is not None and self.case.reviewing_body is not None
        return self.case.reviewing_body

    def snapshot(self) -> tuple[CaseState, OpenCaseIndex, datetime]:
        assert self.case is not None
        return self.case, copy.deepcopy(self.index), self.clock


# The path to each state: (previous state, how to get from there).
PATHS: dict[str, str] = {
    "submitted": "", "preliminary_review": "submitted", "unit_publicity": "preliminary_review",
    "upper_review": "unit_publicity", "media_publicity": "upper_review",
    "archived": "media_publicity", "under_recheck": "archived", "phase_out": "under_recheck",
    "exit_pending": "phase_out", "exit_verification": "exit_pending",
    "exit_publicity": "exit_verification", "exited": "exit_pending", "re_entered": "",
    "rejected": "preliminary_review", "withdrawn": "submitted", "cancelled": "archived",
    "purged": "rejected",
}


def drive_to(decider: Decider, state: str, category: str = "relative", *,
             came_from: str = "phase_out", case_id: str = "C-1",
             index: OpenCaseIndex | None = None, start: datetime = START,
             phase_out_months: int = 3, **app: Any) -> Driver:
    """A Driver whose case is in ``state``, reached by the ordinary path (module docstring).
    ``re_entered`` comes from ``came_from`` (``phase_out`` or ``exited``)."""
    d = Driver(decider, case_id, index, start)
    _walk(d, state, category, came_from, phase_out_months, app)
    assert d.case is not None and d.case.state == state, (state, d.case)
    return d


def _walk(d: Driver, state: str, category: str, came_from: str, months: int,
          app: dict[str, Any]) -> None:
    if state == "submitted":
        d.fire("submit", union(app.get("union", UNION)), application(category, **app),
               when=d.clock + STEP)
        return
    if state == "re_entered":
        _walk(d, came_from, category, came_from, months, app)
        d.fire("report_relapse", worker(app.get("id_number", WORKER_ID)),
               {"summary": "家庭成员重病，再次陷入困难"})
        return
    _walk(d, PATHS[state], category, came_from, months, app)
    own = union(app.get("union", UNION))
    if state == "preliminary_review":
        d.fire("start_preliminary_review", own)
    elif state == "unit_publicity":
        d.fire("pass_preliminary_review", own)
    elif state == "upper_review":
        d.fire_timer("unit_publicity_ended", TimerKind.UNIT_PUBLICITY)
    elif state == "media_publicity":
        d.fire("approve", fed(d.body))
    elif state == "archived":
        d.fire_timer("media_publicity_ended", TimerKind.MEDIA_PUBLICITY)
    elif state == "under_recheck":
        d.fire_timer("recheck_due", TimerKind.RECHECK)
    elif state == "phase_out":
        d.fire("start_phase_out", fed(d.body),
               {"household": household("none"), "months": months,
                "contact_person": "社工王某"})
    elif state == "exit_pending":
        d.fire_timer("phase_out_ended", TimerKind.PHASE_OUT)
    elif state == "exit_verification":
        d.fire("refuse_exit", worker(app.get("id_number", WORKER_ID)), {"reason": "不同意退档"})
    elif state == "exit_publicity":
        d.fire("verify_exit", fed(d.body))
        d.fire("verify_exit", own)
    elif state == "exited":
        d.fire("confirm_exit", worker(app.get("id_number", WORKER_ID)))
        d.fire("confirm_exit", own)
    elif state == "rejected":
        d.fire("reject_preliminary", own, {"reason": "材料不实"})
    elif state == "withdrawn":
        d.fire("withdraw", worker(app.get("id_number", WORKER_ID)))
    elif state == "cancelled":
        d.fire("cancel", fed(d.body), {"reason": "moved_out"})
    elif state == "purged":
        d.fire_timer("retention_expired", TimerKind.RETENTION)
    else:  # pragma: no cover - a state this table does not know
        raise ValueError(state)


def case_in(decider: Decider, state: str, category: str = "relative",
            **options: Any) -> tuple[CaseState, OpenCaseIndex, datetime]:
    """(case, its open-case index, the time of its last event) for a case in ``state``."""
    return drive_to(decider, state, category, **options).snapshot()


def with_incomes_times(application: Application, factor: int) -> Application:
    """The application amended: every member's annual income ``factor`` times as much (a new
    object, as an amendment is)."""
    members = [m.model_copy(update={"annual_income": m.annual_income * factor})
               for m in application.household.members]
    return application.model_copy(update={"household": application.household.model_copy(
        update={"members": members})})
