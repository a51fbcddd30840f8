"""The benchmark's workload: realistic case paths built through the Decider in memory.

Applications come from the demo's seeded caseload generator (incomes spread around the
thresholds, accidents, eight regions), each given a distinct valid id number. Every case
follows one path of the lifecycle, chosen by a seeded roll, all of it in 2024–2026:

- rejected: submit → start_preliminary_review → reject_preliminary (ineligible households);
- archive: submit → start → pass → unit_publicity_ended → approve → media_publicity_ended;
- objection: an objection raised and dismissed during the unit publicity, then as archive;
- recheck: archive, then recheck_due → confirm_eligibility;
- exit: archive, then recheck_due → start_phase_out → phase_out_ended → confirm_exit ×2.

Each step keeps the command, the event, and the rows the durable engine stores for it (the
chained event row, the projection row, the timer row): the raw baseline writes the same rows,
and the audit benchmark clones them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from jiekun.persistence.chain import GENESIS, StoredEvent
from jiekun.persistence.statements import ProjectionRow, TimerRow
from jiekun.policies.application import validate_application
from jiekun.policies.authorization import SYSTEM, Actor
from jiekun.policies.deadlines import local_date
from jiekun.policies.eligibility import assess
from jiekun.policies.resident_id import check_character
from jiekun.workflow.decider import Decider
from jiekun.workflow.demo import caseload
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.replay import OpenCaseIndex
from jiekun.workflow.row_mapping import projection, stored_event, timer_row

FIRST_DAY, LAST_DAY = date(2024, 1, 2), date(2024, 12, 20)
PATHS = ("rejected", "archive", "objection", "recheck", "exit")


def resident_id(serial: int, prefix: str = "320211") -> str:
    """A valid id number, distinct for every serial (birth day and sequence number)."""
    born = date(1960, 1, 1) + timedelta(days=serial // 1000)
    first17 = f"{prefix}{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Step:
    command: Command
    event: Event
    row: StoredEvent  # the chained event row as the engine stores it
    hash: str
    projection: ProjectionRow
    timer: TimerRow | None  # None: the transition leaves the timer row as it is


@dataclass
class CaseRun:
    case_id: str
    applicant_id: str
    application: dict[str, Any]
    path: str
    steps: list[Step] = field(default_factory=list)
    case: CaseState | None = None

    @property
    def timer(self) -> TimerRow | None:
        """The case's timer row after its last step (what the engine leaves in the table)."""
        return next((s.timer for s in reversed(self.steps) if s.timer is not None), None)


def applications(count: int, seed: int, decider: Decider, first_serial: int = 0
                 ) -> list[tuple[str, dict[str, Any], datetime, random.Random, str | None]]:
    """(case id, application, submission time, rng, assessed category) for ``count`` cases."""
    standard = decider.policy.living_standard_on(FIRST_DAY).amount
    out = []
    for n, household in enumerate(caseload(count, seed, FIRST_DAY, LAST_DAY, standard)):
        app = household.application
        prefix = app["applicant"]["id_number"][:6]
        app["applicant"]["id_number"] = resident_id(first_serial + n, prefix)
        on = local_date(household.applies_at)
        category = assess(validate_application(app, on), decider.policy, on).category
        if category is not None:
            app["declared_category"] = category
        case_id = f"B{seed % 1000:03d}-{first_serial + n:07d}"
        out.append((case_id, app, household.applies_at, random.Random(household.seed),
                    category))
    return out


def _path(rng: random.Random, category: str | None) -> str:
    if category is None:
        return "rejected"
    roll = rng.random()
    if roll < 0.10:
        return "objection"
    if roll < 0.50 or category == "accident":
        return "archive"
    return "recheck" if roll < 0.80 else "exit"


# One step: (case so far, time of its last event) → (trigger, actor, time, data)
Maker = Callable[[CaseState, datetime], tuple[str, Actor, datetime, dict[str, Any]]]


def _union(app: dict[str, Any]) -> Actor:
    return Actor("grassroots_union", org=app["grassroots_union"])


def _federation(case: CaseState) -> Actor:
    return Actor("federation", org=case.reviewing_body)


def _when_due(case: CaseState, last: datetime) -> datetime:
    due = case.timers[0].due
    assert due is not None, f"{case.case_id}: a timer without a due time"
    return max(due, last + timedelta(minutes=1))


def _makers(path: str, app: dict[str, Any], at: datetime, rng: random.Random) -> list[Maker]:
    union = _union(app)
    worker = Actor("worker", id_number=app["applicant"]["id_number"])
    same = {"household": app["household"], "accident": None}
    members = app["household"]["members"]

    def improved(on: datetime) -> dict[str, Any]:
        # out of hardship: every member earns five times the (highest) standard
        income = str(Decimal(1167) * 12 * 5)
        return {"members": [{**m, "annual_income": income} for m in members],
                "rigid_expenses": []}

    def after(trigger: str, actor: Actor, delta: timedelta,
              data: dict[str, Any] | None = None) -> Maker:
        return lambda case, last: (trigger, actor, last + delta, data or {})

    def fed(trigger: str, delta: timedelta, data: Callable[[datetime], dict[str, Any]]
            | None = None) -> Maker:
        return lambda case, last: (trigger, _federation(case), last + delta,
                                   {} if data is None else data(last + delta))

    def timer(trigger: str) -> Maker:
        return lambda case, last: (trigger, SYSTEM, _when_due(case, last), {})

    day, hours, morning = timedelta(days=1), timedelta(hours=2), timedelta(hours=9)
    submit: Maker = lambda case, last: ("submit", union, at, app)  # noqa: E731
    start = after("start_preliminary_review", union, day)
    if path == "rejected":
        return [submit, start, after("reject_preliminary", union, hours,
                                     {"reason": "家庭收入超过认定标准"})]
    objection = [after("raise_objection", union, day, {"objection_id": "O-1",
                                                        "summary": "群众反映情况待核实"}),
                 after("dismiss_objection", union, day, {"objection_id": "O-1",
                                                          "reason": "经核实不属实"})]
    archive = [submit, start, after("pass_preliminary_review", union, hours),
               *(objection if path == "objection" else []),
               timer("unit_publicity_ended"), fed("approve", timedelta(hours=33)),
               timer("media_publicity_ended")]
    if path in ("archive", "objection"):
        return archive
    recheck = [*archive, timer("recheck_due")]
    if path == "recheck":
        return [*recheck, fed("confirm_eligibility", 3 * day + morning, lambda _: same)]
    phase_out = fed("start_phase_out", 3 * day + morning, lambda on: {
        "household": improved(on), "accident": None, "months": 3, "contact_person": "社工李某"})
    return [*recheck, phase_out, timer("phase_out_ended"),
            after("confirm_exit", worker, day + morning), after("confirm_exit", union, hours)]


def build(decider: Decider, count: int, seed: int, *, first_serial: int = 0,
          truncate: Callable[[CaseRun], int | None] | None = None) -> list[CaseRun]:
    """``count`` cases through the Decider in memory (a refusal is a bug of this module and
    raises). ``truncate(run)`` may cut a case's path to its first n steps."""
    closed = frozenset(s.name for s in decider.lifecycle.states if s.closed)
    index = OpenCaseIndex(closed)
    runs = []
    for case_id, app, at, rng, category in applications(count, seed, decider, first_serial):
        run = CaseRun(case_id, app["applicant"]["id_number"], app, _path(rng, category))
        makers = _makers(run.path, app, at, rng)
        limit = truncate(run) if truncate is not None else None
        case: CaseState | None = None
        head, last = GENESIS, at
        for maker in makers[:limit]:
            trigger, actor, when, data = maker(case or CaseState(case_id), last)
            command = Command(case_id, trigger, actor, when, data)
            before = case or CaseState(case_id)
            event, after = decider.decide_and_fold(case, command, index)
            index.update(after)
            row = stored_event(decider.lifecycle, event, head)
            head = row.chain_hash()
            run.steps.append(Step(command, event, row, head, projection(after, head, row.at),
                                  timer_row(before, after)))
            case, last = after, when
        run.case = case
        runs.append(run)
    return runs


def stream(runs: list[CaseRun]) -> list[Step]:
    """Every step of these cases in time order (cases interleave as they would in a day's
    work); each case's own steps stay in order."""
    steps = [(s.command.at, n, s.event.seq, s) for n, r in enumerate(runs) for s in r.steps]
    steps.sort(key=lambda x: (x[0], x[1], x[2]))
    return [s for *_, s in steps]
