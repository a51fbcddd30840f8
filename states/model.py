"""The vocabulary the lifecycle definition is written in: plain frozen data, no behaviour.

Everything here is referenced by value (enum members), never by callback: the workflow package
binds branches, guards, payload field types and effects to code, and checks that every member
it meets has a binding when it builds its machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class Phase(StrEnum):
    """The diagram clusters; also how states/LIFECYCLE.md groups the states."""

    APPLICATION = "application"
    ARCHIVE = "archive"
    EXIT = "exit"
    CLOSED = "closed"


class Role(StrEnum):
    WORKER = "worker"
    GRASSROOTS_UNION = "grassroots_union"
    FEDERATION = "federation"
    SYSTEM = "system"
    AUDITOR = "auditor"


class Scope(StrEnum):
    """Which member of a role may act on a given case (states/LIFECYCLE.md, actors)."""

    APPLICANT = "applicant"  # a worker whose id_number is the applicant's
    OWN_UNION = "own_union"  # the grassroots union that received the application
    REVIEWING_BODY = "reviewing_body"  # the federation that currently reviews the case
    COUNTY_OR_ABOVE = "county_or_above"  # the reviewing body, or wuxi-city
    TIMER = "timer"  # the system, firing a due timer


class Branch(StrEnum):
    """Facts of a case that pick one destination among several for the same trigger."""

    CAME_FROM_PHASE_OUT = "came_from_phase_out"
    CAME_FROM_EXITED = "came_from_exited"
    CONFIRMATIONS_COMPLETE = "confirmations_complete"
    CONFIRMATIONS_INCOMPLETE = "confirmations_incomplete"
    VERIFICATIONS_COMPLETE = "verifications_complete"
    VERIFICATIONS_INCOMPLETE = "verifications_incomplete"


class FieldType(StrEnum):
    """Types of payload fields; the workflow binds each to a validator."""

    TEXT = "text"  # a non-empty string
    APPLICATION = "application"  # workflow/CONTRACT.md §1
    HOUSEHOLD = "household"  # the schema of application.household
    ACCIDENT = "accident"  # the schema of application.accident, null allowed
    MONTHS = "months"  # an integer >= 1 (the upper bound is a rule, R-PHASEOUT-MAX)
    AID_ITEM = "aid_item"  # living, education, medical, training, job_referral, legal_aid
    AMOUNT = "amount"  # money as workflow/CONTRACT.md §1 writes it
    PERIOD = "period"  # YYYY or YYYY-MM
    CANCEL_REASON = "cancel_reason"  # false_information, deceased, moved_out, other


class Effect(StrEnum):
    """What a transition does to the case besides moving it; timers follow the states."""

    SET_APPLICATION = "set_application"
    SET_GRASSROOTS_UNION = "set_grassroots_union"
    ASSESS = "assess"  # assign category and reviewing body from an assessment
    UPDATE_HOUSEHOLD = "update_household"
    OPEN_OBJECTION = "open_objection"
    CLOSE_OBJECTION = "close_objection"
    ISSUE_ARCHIVE = "issue_archive"  # archive number, certificate, provincial registration
    START_PHASE_OUT = "start_phase_out"
    RECORD_CONFIRMATION = "record_confirmation"
    RECORD_VERIFICATION = "record_verification"
    REMEMBER_ORIGIN = "remember_origin"
    DESTROY_PERSONAL_DATA = "destroy_personal_data"
    RECORD_AID = "record_aid"


class LengthUnit(StrEnum):
    WORKING_DAYS = "working_days"
    MONTHS = "months"
    YEARS = "years"


class TimerKind(StrEnum):
    UNIT_PUBLICITY = "unit_publicity"
    MEDIA_PUBLICITY = "media_publicity"
    RECHECK = "recheck"
    PHASE_OUT = "phase_out"
    EXIT_PUBLICITY = "exit_publicity"
    RETENTION = "retention"


@dataclass(frozen=True)
class Label:
    zh: str
    en: str


@dataclass(frozen=True)
class StateDef:
    name: str
    label: Label
    phase: Phase
    initial: bool = False
    final: bool = False
    closed: bool = False  # a closed case does not count for R-ONE-OPEN-CASE


@dataclass(frozen=True)
class ActorRule:
    role: Role
    scope: Scope
    in_states: frozenset[str] | None = None  # None: whatever the source state


@dataclass(frozen=True)
class PayloadField:
    name: str
    type: FieldType
    required: bool = True
    personal: bool = False  # kept in the personal-data vault, apart from the history chain


@dataclass(frozen=True)
class Route:
    """One source → destination of a trigger. ``dest`` None is an internal transition."""

    source: str | None  # None only for the creating trigger
    dest: str | None
    branch: Branch | None = None
    guards: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # payload fields required on this route only
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class TriggerDef:
    name: str
    label: Label
    actors: tuple[ActorRule, ...]
    routes: tuple[Route, ...]
    payload: tuple[PayloadField, ...] = ()
    effects: tuple[Effect, ...] = ()  # on every route
    cites: tuple[str, ...] = ()  # rule ids the trigger implements besides its guards
    # Outside its routes' sources the trigger is refused by this rule, not as E-TRANSITION
    # (grant_aid: "accepted in every state, its first guard R-AID-STATE").
    refused_elsewhere_by: str | None = None

    @property
    def sources(self) -> tuple[str | None, ...]:
        return tuple(dict.fromkeys(r.source for r in self.routes))

    @property
    def timed(self) -> bool:
        return any(a.role is Role.SYSTEM for a in self.actors)

    @cached_property
    def personal_fields(self) -> frozenset[str]:
        """The payload fields the store keeps apart from the chain (read per event)."""
        return frozenset(f.name for f in self.payload if f.personal)

    @cached_property
    def whole_payload_personal(self) -> bool:
        """The payload is one personal application: all of it is kept apart."""
        spec = self.payload
        return len(spec) == 1 and spec[0].personal and spec[0].name == "application"


@dataclass(frozen=True)
class TimerDef:
    kind: TimerKind
    label: Label
    states: frozenset[str]  # armed on entering any of these, void on leaving
    fires: str  # trigger name
    unit: LengthUnit
    parameter: str  # the policy parameter that gives the length
    guard: str  # the rule id that says the timer is due


@dataclass(frozen=True)
class Lifecycle:
    states: tuple[StateDef, ...]
    triggers: tuple[TriggerDef, ...]
    timers: tuple[TimerDef, ...]
    state_index: dict[str, StateDef] = field(init=False, repr=False, compare=False)
    trigger_index: dict[str, TriggerDef] = field(init=False, repr=False, compare=False)
    _from: dict[str | None, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _routes: dict[tuple[str, str | None, str], Route] = field(init=False, repr=False,
                                                             compare=False)
    _timers: dict[TimerKind, TimerDef] = field(init=False, repr=False, compare=False)
    _state_timers: dict[str, TimerDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_index", {s.name: s for s in self.states})
        object.__setattr__(self, "trigger_index", {t.name: t for t in self.triggers})
        # asked on every command: computed once
        origins = {None, *self.state_index}
        object.__setattr__(self, "_from", {o: tuple(t.name for t in self.triggers
                                                    if o in t.sources) for o in origins})
        # (trigger, source, state after) names one route: what a stored event's fold looks up
        # the time rule looks a case's timer up before every command
        object.__setattr__(self, "_timers", {t.kind: t for t in self.timers})
        # every transition into a state arms its timer: the first timer naming it, as before
        object.__setattr__(self, "_state_timers", {
            state: t for t in reversed(self.timers) for state in t.states})
        object.__setattr__(self, "_routes", {
            (t.name, r.source, r.dest or r.source or ""): r
            for t in self.triggers for r in t.routes})

    def state(self, name: str) -> StateDef:
        return self.state_index[name]

    def trigger(self, name: str) -> TriggerDef:
        return self.trigger_index[name]

    def route_taken(self, trigger: str, source: str | None, after: str) -> Route | None:
        """The route of ``trigger`` that leads from ``source`` to ``after`` (None: none)."""
        return self._routes.get((trigger, source, after))

    def triggers_from(self, state: str | None) -> tuple[str, ...]:
        return self._from.get(state, ())

    def timer_for_state(self, state: str) -> TimerDef | None:
        return self._state_timers.get(state)

    def timer(self, kind: TimerKind) -> TimerDef:
        return self._timers[kind]
