"""Property tests of the Decider: random trigger sequences on a few cases at once.

Each example drives 2-3 cases (sometimes of the same applicant, so that R-ONE-OPEN-CASE comes
into play) with random triggers (mostly ones allowed in the case's state, often the one that
moves the case forward, sometimes any name at all), random actors (every role; the right org or
id and wrong ones), random times (always forward: minutes to ~8 months, or exactly a timer's due
time read from ``case.timers`` so that system triggers can pass) and random payloads (valid ones
built per trigger, sometimes broken). Checked:

1. a refusal is always a ``JiekunError`` (anything else escapes and fails the test);
2. a refused command changes nothing: the case passed in and the open-case index are as before;
3. the applied events reproduce the final state: (a) folding them with ``Decider.apply`` from
   nothing, (b) writing them as a history file (workflow/CONTRACT.md §2) and replaying it: the same
   state, category, reviewing body, ``events_applied`` and no violation;
4. every applied event has seq = previous + 1 and never moves the case's time backwards;
5. every state reached is one of the 17 states and a destination the definition
   (states/lifecycle.py) routes that trigger to from the previous state;
and, as a bonus, an applicant never has two open cases at once (R-ONE-OPEN-CASE).

This file builds its own applications and actors (it does not use builders.py).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import GuardFailed, JiekunError, TransitionNotAllowed
from jiekun.states import Role, Scope, TimerKind
from jiekun.workflow.decider import Decider
from jiekun.workflow.history import event_line
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.replay import OpenCaseIndex, replay
from tests.soak_settings import examples

# ---------------------------------------------------------------------------------------------
# Parties


def resident_id(first17: str) -> str:
    """GB 11643-1999 check character (workflow/CONTRACT.md §1), computed here independently."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


ID_A = resident_id("32021119790315516")  # born 1979-03-15
ID_B = resident_id("32028119850720231")  # born 1985-07-20
ID_WRONG = resident_id("32020219900101002")  # a valid id that is nobody's applicant here
UNIONS = ("gu-prop-a", "gu-prop-b")
FEDERATIONS = ("wuxi-city", "liangxi", "xishan", "huishan", "binhu", "xinwu", "jiangyin",
               "yixing")
SYSTEM = Actor("system")

ACTOR_POOL = (
    Actor("worker", id_number=ID_A), Actor("worker", id_number=ID_B),
    Actor("worker", id_number=ID_WRONG), Actor("worker"),
    *(Actor("grassroots_union", org=u) for u in UNIONS), Actor("grassroots_union"),
    *(Actor("federation", org=f) for f in FEDERATIONS),
    Actor("federation", org=UNIONS[0]), Actor("federation"),
    SYSTEM, Actor("auditor", org="audit-office"), Actor("mayor", org="wuxi"),
)

T = TypeVar("T")

SELF, SPOUSE = "王强", "李梅"

STATES = frozenset({
    "submitted", "preliminary_review", "unit_publicity", "upper_review", "media_publicity",
    "archived", "under_recheck", "phase_out", "exit_pending", "exit_verification",
    "exit_publicity", "exited", "re_entered", "rejected", "withdrawn", "cancelled", "purged",
})
CLOSED = frozenset({"exited", "rejected", "withdrawn", "cancelled", "purged"})

START_FIRST = datetime(2024, 1, 2, 9, 0, tzinfo=SHANGHAI)
END = datetime(2026, 6, 30, 12, 0, tzinfo=SHANGHAI)  # the policy knows L until 2026-06-30

# ---------------------------------------------------------------------------------------------
# The choices of a step


class Choices:
    """The random choices of one step, drawn up front by hypothesis as a few bytes (one cheap
    draw per step); each call consumes the next byte (three for a wide range). 0 is always the
    plain choice (the forward trigger, the right actor, a valid payload), so a shrunk example
    stays on the ordinary path except where the failure needs otherwise."""

    def __init__(self, values: bytes) -> None:
        self._values = values
        self._next = 0

    def _byte(self) -> int:
        value = self._values[self._next % len(self._values)]
        self._next += 1
        return value

    def integer(self, lo: int, hi: int) -> int:
        span = hi - lo + 1
        value = self._byte()
        if span > 256:
            value = value << 16 | self._byte() << 8 | self._byte()
        return lo + value % span

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def coin(self) -> bool:
        return self.integer(0, 1) == 1

    def noisy(self, chaos: int) -> bool:
        """True with probability ~1/20, 3/20, 6/20 or 10/20 as chaos is 0, 1, 2 or 3."""
        return self.integer(0, 19) >= 20 - (1, 3, 6, 10)[chaos]


STEP = st.binary(min_size=16, max_size=16)

# ---------------------------------------------------------------------------------------------
# Payloads

# Two members, so the per-capita monthly figure of an annual total T is T / 24
# (policies/data/wx-2023-45.toml:
# L = 1095 / 1115 / 1167). deep: I = N = 1000 (I <= 2L, N < L); relative: I = 2500 > 2L,
# N = (60000 - 10000) / 24 = 2083.33 <= 2L; accident: I = 3750 <= 4L and > 3L, with the accident
# N_a = (90000 - 25000) / 24 = 2708.33 < 3L; none: I = 5000 > 4L (4668 at the highest L).
HOUSEHOLDS = {
    "deep": (24000, 0),
    "relative": (60000, 10000),
    "accident": (90000, 0),
    "none": (120000, 0),
}
PLACES = (("滨湖区", "enterprise"), ("江阴市", "enterprise"), ("梁溪区", "city_direct_unit"),
          ("经开区", None))
APPLICATION_KINDS = ("deep", "relative", "accident", "deep", "relative", "none")
OBJECTION_IDS = ("OB-1", "OB-2", "OB-3")
CANCEL_REASONS = ("false_information", "deceased", "moved_out", "other")
AID_ITEMS = ("training", "job_referral", "legal_aid", "living")


def household(kind: str) -> dict[str, Any]:
    income, expenses = HOUSEHOLDS[kind]
    return {
        "members": [
            {"name": SELF, "relation": "self", "annual_income": str(income - 10000)},
            {"name": SPOUSE, "relation": "spouse", "annual_income": "10000"},
        ],
        "rigid_expenses": [] if not expenses else [
            {"kind": "medical_self_pay", "annual_amount": str(expenses)}],
    }


def accident() -> dict[str, Any]:
    return {"kind": "major_illness", "member": SPOUSE, "occurred_on": "2023-12-15",
            "necessary_expenses": "30000", "compensation_received": "5000"}


def application(id_number: str, union: str, kind: str, place: int = 0) -> dict[str, Any]:
    region, unit_kind = PLACES[place]
    return {
        "applicant": {"name": SELF, "id_number": id_number, "phone": "13900000001",
                      "union_member": False, "employment": "laid_off"},
        "grassroots_union": union,
        "unit": None if unit_kind is None else {"name": "测试企业", "kind": unit_kind,
                                                "region": region},
        "residence": {"region": region, "community": "测试社区"},
        "household": household(kind),
        "accident": accident() if kind == "accident" else None,
        "declared_category": kind if kind != "none" else "relative",
    }


REASON_TRIGGERS = frozenset({
    "request_supplement", "reject_preliminary", "return_to_grassroots", "reject_upper",
    "end_phase_out_early", "refuse_exit", "accept_refusal", "decline_readmission",
})


@dataclass(frozen=True)
class Plan:
    """Who a case is for: the applicant and the union its application names."""

    case_id: str
    applicant_id: str
    union: str


def _valid_payload(ch: Choices, trigger: str, case: CaseState | None, plan: Plan,
                   at: datetime) -> dict[str, Any]:
    if trigger in ("submit", "amend_application"):
        return application(plan.applicant_id, plan.union, ch.pick(APPLICATION_KINDS),
                           ch.integer(0, len(PLACES) - 1))
    if trigger in REASON_TRIGGERS:
        return {"reason": "核实情况"}
    if trigger == "raise_objection":
        used = case.objections_used if case else frozenset()
        fresh = [o for o in OBJECTION_IDS if o not in used] or ["OB-X"]
        return {"objection_id": ch.pick(fresh), "summary": "群众反映收入不实"}
    if trigger in ("dismiss_objection", "uphold_objection"):
        open_ = sorted(case.objections_open) if case else []
        return {"objection_id": ch.pick(open_ or OBJECTION_IDS), "reason": "经核查"}
    if trigger in ("confirm_eligibility", "readmit"):
        if trigger == "readmit" and case is not None and case.came_from == "exited" and (
                ch.coin()):
            return {}
        kind = ch.pick(("deep", "relative", "accident"))
        payload: dict[str, Any] = {"household": household(kind)}
        if kind == "accident" or ch.coin():
            payload["accident"] = accident() if kind == "accident" else None
        return payload
    if trigger == "start_phase_out":
        return {"household": household("none"), "accident": None,
                "months": ch.integer(1, 6), "contact_person": "张三"}
    if trigger == "cancel":
        reason = ch.pick(CANCEL_REASONS)
        return {"reason": reason, "detail": "迁出本市"} if reason == "other" else {
            "reason": reason}
    if trigger == "report_relapse":
        return {"summary": "家庭成员重病"}
    if trigger == "grant_aid":
        # Unpaid items need no tier table (the default policy ships none: a paid item, here
        # living, is refused by R-AID-TIER).
        return {"item": ch.pick(AID_ITEMS), "period": at.strftime("%Y-%m")}
    return {}


def _broken_application(ch: Choices, valid: dict[str, Any], plan: Plan) -> dict[str, Any]:
    app = copy.deepcopy(valid)
    how = ch.integer(0, 9)
    if how == 9:  # Python values a JSON text cannot carry as written
        app["household"]["members"][0]["annual_income"] = ch.pick((1.5, float("nan"), 1e2))
    elif how == 0:
        del app["household"]
    elif how == 1:
        app["household"]["members"][0]["annual_income"] = "1e2"
    elif how == 2:
        app["applicant"]["id_number"] = plan.applicant_id[:17] + (
            "0" if plan.applicant_id[17] != "0" else "1")  # wrong check character
    elif how == 3:
        app["spouse_income"] = "0"
    elif how == 4:
        app["declared_category"] = "rich"
    elif how == 5:
        app["household"]["members"] = []
    elif how == 6:
        app = {"application": app}  # wrapped: the data of submit IS the application
    elif how == 7:
        other = next(u for u in UNIONS if u != plan.union)
        app["grassroots_union"] = other  # an amendment cannot change the union
    else:
        app["applicant"]["id_number"] = ID_WRONG  # an amendment cannot change the applicant
    return app


def _broken_payload(ch: Choices, trigger: str, valid: dict[str, Any],
                    plan: Plan) -> dict[str, Any]:
    if trigger in ("submit", "amend_application"):
        return _broken_application(ch, valid, plan)
    broken = dict(valid)
    how = ch.integer(0, 5)
    if how == 0 and broken:
        del broken[ch.pick(sorted(broken))]
    elif how == 1 and broken:
        broken[ch.pick(sorted(broken))] = ch.pick(("", "   ", 7, None, True, [], 2.5,
                                                    float("nan")))
    elif how == 2 and "months" in broken:
        broken["months"] = ch.pick((0, -1, "3", 2.5, 3.0, True, 7, 9))  # 7, 9: R-PHASEOUT-MAX
    elif how == 3 and "reason" in broken and trigger == "cancel":
        broken["reason"] = ch.pick(("bankrupt", "other"))
        broken.pop("detail", None)
    elif how == 4 and "objection_id" in broken:
        broken["objection_id"] = ch.pick((*OBJECTION_IDS, "OB-never"))
    else:
        broken["bogus"] = "x"  # unknown field
    return broken


# ---------------------------------------------------------------------------------------------
# Triggers, actors, times

FORWARD: dict[str | None, tuple[str, ...]] = {
    None: ("submit",),
    "submitted": ("start_preliminary_review", "amend_application"),
    "preliminary_review": ("pass_preliminary_review",),
    "unit_publicity": ("unit_publicity_ended", "unit_publicity_ended", "raise_objection",
                       "dismiss_objection"),
    "upper_review": ("approve",),
    "media_publicity": ("media_publicity_ended", "media_publicity_ended", "raise_objection",
                        "dismiss_objection"),
    "archived": ("recheck_due", "start_recheck"),
    "under_recheck": ("start_phase_out", "confirm_eligibility"),
    "phase_out": ("phase_out_ended", "end_phase_out_early", "report_relapse"),
    "exit_pending": ("confirm_exit", "refuse_exit"),
    "exit_verification": ("verify_exit",),
    "exit_publicity": ("exit_publicity_ended", "exit_publicity_ended", "raise_objection",
                       "dismiss_objection"),
    "exited": ("report_relapse", "retention_expired"),
    "re_entered": ("readmit", "decline_readmission"),
    "rejected": ("retention_expired",),
    "withdrawn": ("retention_expired",),
    "cancelled": ("retention_expired",),
}


def _choose_trigger(ch: Choices, decider: Decider, state: str | None, chaos: int) -> str:
    allowed = decider.allowed_triggers(state)
    if not ch.noisy(chaos) and FORWARD.get(state):
        return ch.pick(FORWARD[state])
    if ch.integer(0, 2) < 2 and allowed:
        return ch.pick(allowed)
    return ch.pick((*(t.name for t in decider.lifecycle.triggers), "grant_aid",
                    "no_such_trigger"))


def _right_actors(decider: Decider, trigger: str, case: CaseState | None,
                  plan: Plan) -> list[Actor]:
    if trigger not in {t.name for t in decider.lifecycle.triggers}:
        return []
    state = case.state if case else None
    applicant = (case.applicant_id if case else None) or plan.applicant_id
    union = (case.grassroots_union if case else None) or plan.union
    body = (case.reviewing_body if case else None) or "wuxi-city"
    out: list[Actor] = []
    for rule in decider.lifecycle.trigger(trigger).actors:
        if rule.in_states is not None and state not in rule.in_states:
            continue
        if rule.role is Role.WORKER:
            out.append(Actor("worker", id_number=applicant))
        elif rule.role is Role.GRASSROOTS_UNION:
            out.append(Actor("grassroots_union", org=union))
        elif rule.role is Role.FEDERATION:
            out.append(Actor("federation", org=body))
            if rule.scope is Scope.COUNTY_OR_ABOVE:
                out.append(Actor("federation", org="wuxi-city"))
        elif rule.role is Role.SYSTEM:
            out.append(SYSTEM)
    return out


def _choose_actor(ch: Choices, decider: Decider, trigger: str, case: CaseState | None,
                  plan: Plan, chaos: int) -> Actor:
    right = _right_actors(decider, trigger, case, plan)
    if right and not ch.noisy(chaos):
        return ch.pick(right)
    return ch.pick(ACTOR_POOL)


# Mostly small steps, so that a run does not spend its ~2.5 years in a few steps:
# (weight out of 20, shortest, longest), on average ~13 days a step (4/20 * 30 d + 1/20 * 150 d).
DELTAS = ((2, timedelta(0), timedelta(0)),
          (6, timedelta(minutes=1), timedelta(minutes=59)),
          (7, timedelta(hours=1), timedelta(hours=72)),
          (4, timedelta(days=1), timedelta(days=60)),
          (1, timedelta(days=60), timedelta(days=245)))  # up to ~8 months
TIMER_TRIGGERS = frozenset({
    "unit_publicity_ended", "media_publicity_ended", "recheck_due", "phase_out_ended",
    "exit_publicity_ended", "retention_expired"})
JUMP_OFFSETS = (timedelta(0), timedelta(0), timedelta(0), timedelta(minutes=-1),
                timedelta(minutes=1), timedelta(hours=3))


def _random_delta(ch: Choices) -> timedelta:
    roll = ch.integer(0, 19)
    for weight, shortest, longest in DELTAS:
        if roll < weight:
            minutes = (longest - shortest) // timedelta(minutes=1)
            return shortest + timedelta(minutes=ch.integer(0, minutes))
        roll -= weight
    raise AssertionError("the weights add up to 20")


def _choose_time(ch: Choices, clock: datetime, case: CaseState | None,
                 trigger: str) -> datetime:
    """Forward from ``clock``: by a random amount, or to a due time of the case's timers,
    never past END (the retention timers, 10 years, are for the finale)."""
    if case is not None and ch.integer(0, 9) < (7 if trigger in TIMER_TRIGGERS else 2):
        dues = sorted(t.due for t in case.timers if t.due is not None and clock <= t.due <= END)
        if dues:
            moment = ch.pick(dues) + ch.pick(JUMP_OFFSETS)
            return max(clock, moment.astimezone(SHANGHAI))
    moment = clock + _random_delta(ch)
    return moment if moment <= END or clock > END else clock


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class World:
    decider: Decider
    plans: dict[str, Plan]
    clock: datetime
    index: OpenCaseIndex
    chaos: int  # 0..3: how often a step is off the forward path (trigger, actor, payload)
    cases: dict[str, CaseState] = field(default_factory=dict)
    applied: list[Event] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)  # noted when an example fails


def _allowed_destinations(decider: Decider, trigger: str, source: str | None) -> set[str]:
    routes = decider.lifecycle.trigger(trigger).routes
    return {r.dest or str(source) for r in routes if r.source == source}


def _index_snapshot(index: OpenCaseIndex) -> dict[str, Any]:
    return copy.deepcopy(vars(index))


def _check_applied(world: World, before: CaseState | None, command: Command, ev: Event,
                   after: CaseState) -> None:
    previous_version = before.version if before else 0
    # 4. seq and time
    assert ev.case_id == command.case_id
    assert ev.seq == previous_version + 1
    assert after.version == ev.seq
    assert ev.at == command.at
    if before is not None and before.last_at is not None:
        assert ev.at >= before.last_at
    # 5. the state reached is a state, and a destination of this trigger from the source
    source = before.state if before else None
    assert after.state in STATES
    assert after.state == ev.derived.state
    assert after.state in _allowed_destinations(world.decider, command.trigger, source), (
        source, command.trigger, after.state)


def _one_open_case_each(world: World) -> None:
    open_of: dict[str, list[str]] = {}
    for cid, case in world.cases.items():
        if case.state not in CLOSED and case.applicant_id is not None:
            open_of.setdefault(case.applicant_id, []).append(cid)
    assert all(len(v) <= 1 for v in open_of.values()), open_of


def _step(values: bytes, world: World) -> None:
    ch = Choices(values)
    cid = ch.pick(sorted(world.plans))
    plan = world.plans[cid]
    case = world.cases.get(cid)
    trigger = _choose_trigger(ch, world.decider, case.state if case else None, world.chaos)
    actor = _choose_actor(ch, world.decider, trigger, case, plan, world.chaos)
    world.clock = _choose_time(ch, world.clock, case, trigger)
    data = _valid_payload(ch, trigger, case, plan, world.clock)
    if ch.noisy(world.chaos):
        data = _broken_payload(ch, trigger, data, plan)
    _execute(world, Command(cid, trigger, actor, world.clock, data))


def _finale(offsets: list[int], steps: list[bytes], world: World) -> None:
    """The retention timers of the closed cases fire (at their due time, or a little before
    or after), then a few more random steps, now years past END."""
    for cid, offset in zip(sorted(world.cases), offsets, strict=False):
        retention = world.cases[cid].timer(TimerKind.RETENTION)
        if retention is None or retention.due is None:
            continue
        moment = retention.due + JUMP_OFFSETS[offset % len(JUMP_OFFSETS)]
        world.clock = max(world.clock, moment.astimezone(SHANGHAI))
        _execute(world, Command(cid, "retention_expired", SYSTEM, world.clock, {}))
    for values in steps:
        _step(values, world)


def _describe(command: Command) -> str:
    data = dict(command.data)
    if "applicant" in data or "application" in data:
        data = {"<application>": "..."}
    return (f"{command.case_id} {command.trigger} by {command.actor.label} at "
            f"{command.at.isoformat()} data={data}")


def _execute(world: World, command: Command) -> None:
    cid = command.case_id
    case = world.cases.get(cid)
    case_before = copy.deepcopy(case)
    index_before = _index_snapshot(world.index)
    world.log.append(f"{_describe(command)} -> ?")
    try:
        ev, after = world.decider.decide_and_fold(case, command, world.index)
    except JiekunError as refusal:  # 1. anything else escapes and fails the test
        world.log[-1] = f"{_describe(command)} -> refused {refusal.rule}"
        event(f"refused {refusal.rule}")
        # 2. a refusal changes nothing
        assert case == case_before
        assert _index_snapshot(world.index) == index_before
        return
    world.log[-1] = f"{_describe(command)} -> {after.state}"
    _check_applied(world, case, command, ev, after)
    world.index.update(after)
    world.cases[cid] = after
    world.applied.append(ev)
    world.reached.add(after.state or "")
    event(f"applied {command.trigger}")
    _one_open_case_each(world)


def _check_replays(world: World) -> None:
    decider = world.decider
    by_case: dict[str, list[Event]] = {}
    for ev in world.applied:
        by_case.setdefault(ev.case_id, []).append(ev)
    # 3a. the fold of the recorded events from nothing is the final case
    for cid, events in by_case.items():
        folded: CaseState | None = None
        for ev in events:
            folded = decider.apply(folded, ev)
        assert folded == world.cases[cid]
    # 3b. the applied commands as a history file replay to the same cases
    lines = [event_line(e.case_id, e.at, e.trigger, e.actor, e.data) for e in world.applied]
    report = replay(lines, decider)
    assert set(report.cases) == set(by_case)
    assert report.violations == 0
    for cid, events in by_case.items():
        result, final = report.cases[cid], world.cases[cid]
        assert result.violation is None, (cid, result.violation)
        out = result.as_json()
        assert out["events_applied"] == len(events)
        assert (out["state"], out["category"], out["reviewing_body"]) == (
            final.state, final.category, final.reviewing_body)
        assert result.case == final
        assert [(e.seq, e.trigger, e.at, e.derived) for e in result.events] == [
            (e.seq, e.trigger, e.at, e.derived) for e in events]


PARTIES = st.lists(st.tuples(st.sampled_from((ID_A, ID_B)), st.sampled_from(UNIONS)),
                   min_size=2, max_size=3)
# The length first, so that runs are long (a plain st.lists averages only a few elements).
STEPS = st.integers(1, 80).flatmap(lambda n: st.lists(STEP, min_size=n, max_size=n))
FINALE = st.none() | st.tuples(st.lists(st.integers(0, 5), min_size=3, max_size=3),
                                st.lists(STEP, max_size=6))


@settings(max_examples=examples(300), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(parties=PARTIES, start_day=st.integers(0, 300), chaos=st.integers(0, 3),
       steps=STEPS, finale=FINALE)
def test_random_trigger_sequences(
        decider: Decider, parties: list[tuple[str, str]], start_day: int, chaos: int,
        steps: list[bytes],
        finale: tuple[list[int], list[bytes]] | None) -> None:
    plans = {f"P-{i}": Plan(f"P-{i}", applicant, union)
             for i, (applicant, union) in enumerate(parties, start=1)}
    closed = frozenset(s.name for s in decider.lifecycle.states if s.closed)
    world = World(decider, plans, START_FIRST + timedelta(days=start_day),
                  OpenCaseIndex(closed), chaos)
    try:
        for values in steps:
            _step(values, world)
        if finale is not None:
            _finale(*finale, world)
        for state in sorted(world.reached):
            event(f"reached {state}")
        _check_replays(world)
    except BaseException:
        for line in world.log:
            note(line)
        raise


# ---------------------------------------------------------------------------------------------
# A guided path to `purged`, with the timer due times derived by hand


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_guided_path_to_purged(decider: Decider) -> None:
    """A relative case (滨湖区 enterprise → binhu) from submission to the destruction of its
    personal data. Times (2024 has no holiday in these weeks):
    - pass_preliminary_review Mon 03-04: unit publicity, 5 working days after 03-04 =
      03-05 .. 03-08, 03-11 → due 2024-03-12 00:00;
    - approve Tue 03-12: media publicity 03-13 .. 03-15, 03-18, 03-19 → due 03-20 00:00;
    - archived 03-20 (relative: re-check every 6 months) → due 2024-09-20 00:00;
    - start_phase_out 09-20 with months = 2 → phase-out ends 2024-11-20 00:00;
    - exited 2024-11-20 10:00 → retention 10 years from the exit date → due 2034-11-20 00:00.
    """
    index = OpenCaseIndex(frozenset(s.name for s in decider.lifecycle.states if s.closed))
    union, body = Actor("grassroots_union", org=UNIONS[0]), Actor("federation", org="binhu")
    worker = Actor("worker", id_number=ID_A)
    case: CaseState | None = None
    events: list[Event] = []

    def fire(trigger: str, actor: Actor, when: datetime,
             data: dict[str, Any] | None = None) -> CaseState:
        nonlocal case
        command = Command("G-1", trigger, actor, when, data or {})
        ev, case = decider.decide_and_fold(case, command, index)
        index.update(case)
        events.append(ev)
        return case

    def due(kind: TimerKind) -> datetime | None:
        assert case is not None
        timer = case.timer(kind)
        return None if timer is None else timer.due

    def refused(trigger: str, actor: Actor, when: datetime) -> JiekunError:
        with pytest.raises(JiekunError) as info:
            decider.decide_and_fold(case, Command("G-1", trigger, actor, when, {}), index)
        return info.value

    fire("submit", union, _at(2024, 3, 4, 9), application(ID_A, UNIONS[0], "relative"))
    fire("start_preliminary_review", union, _at(2024, 3, 4, 10))
    assert fire("pass_preliminary_review", union, _at(2024, 3, 4, 11)).reviewing_body == "binhu"
    assert due(TimerKind.UNIT_PUBLICITY) == _at(2024, 3, 12)
    early = refused("unit_publicity_ended", SYSTEM, _at(2024, 3, 11, 23, 59))
    assert isinstance(early, GuardFailed) and early.rule == "R-PUBLICITY-ELAPSED"
    fire("unit_publicity_ended", SYSTEM, _at(2024, 3, 12))
    fire("approve", body, _at(2024, 3, 12, 9))
    assert due(TimerKind.MEDIA_PUBLICITY) == _at(2024, 3, 20)
    assert fire("media_publicity_ended", SYSTEM, _at(2024, 3, 20)).state == "archived"
    assert due(TimerKind.RECHECK) == _at(2024, 9, 20)
    fire("recheck_due", SYSTEM, _at(2024, 9, 20))
    fire("start_phase_out", body, _at(2024, 9, 20, 10),
         {"household": household("none"), "months": 2, "contact_person": "张三"})
    assert due(TimerKind.PHASE_OUT) == _at(2024, 11, 20)
    fire("phase_out_ended", SYSTEM, _at(2024, 11, 20))
    assert fire("confirm_exit", worker, _at(2024, 11, 20, 9)).state == "exit_pending"
    assert fire("confirm_exit", union, _at(2024, 11, 20, 10)).state == "exited"
    assert due(TimerKind.RETENTION) == _at(2034, 11, 20)
    assert index.open_case_of(ID_A) is None
    early = refused("retention_expired", SYSTEM, _at(2034, 11, 19, 23, 59))
    assert isinstance(early, GuardFailed) and early.rule == "R-RETENTION"
    purged = fire("retention_expired", SYSTEM, _at(2034, 11, 20))

    assert purged.state == "purged"
    assert purged.application is None and purged.applicant_id is None
    assert purged.version == len(events) == 12
    error = refused("report_relapse", worker, _at(2034, 11, 21))
    assert isinstance(error, TransitionNotAllowed)
    # The history of the purged case still replays to the same end.
    lines = [event_line(e.case_id, e.at, e.trigger, e.actor, e.data) for e in events]
    report = replay(lines, decider)
    result = report.cases["G-1"]
    assert result.violation is None
    assert result.as_json()["events_applied"] == 12
    assert result.case == purged
