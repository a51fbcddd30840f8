"""The values the engine folds over: commands in, events out, the case as their fold.

Events are frozen pydantic models; applying one checks ``seq == version + 1`` (as
eventsourcing's ``CanMutateAggregate.mutate`` does), so a fold can never skip or repeat one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from jiekun.policies.application import Application
from jiekun.policies.authorization import Actor, Parties
from jiekun.policies.deadlines import SHANGHAI
from jiekun.states import TimerKind


def _in_wuxi(value: datetime | None) -> datetime | None:
    """Every time the engine hands out is aware and in Asia/Shanghai (+08:00)."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("a time must be timezone-aware")
    return value.astimezone(SHANGHAI)


class Timer(BaseModel):
    """A timer armed on a case: started when its state was entered, due when it may fire.

    ``due`` is None when it could not be computed yet (a publicity running into a year the
    working-day calendar does not know); the guard then computes it when the timer fires.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TimerKind
    started: datetime
    due: datetime | None

    _wuxi = field_validator("started", "due")(_in_wuxi)


class AidRecord(BaseModel):
    """A grant of aid as decided: what the reports add up and the next grants compare with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    tier: str | None
    rank: int | None  # 0 = the highest tier of its table
    amount: Decimal | None
    year: str
    category: str | None
    reviewing_body: str | None


class Derived(BaseModel):
    """What the engine derived when it decided an event, recorded with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: str
    grassroots_union: str | None = None
    category: str | None = None
    reviewing_body: str | None = None
    timers: tuple[Timer, ...] = ()
    archive_number: str | None = None
    phase_out_end: datetime | None = None
    exited_at: datetime | None = None
    aid: AidRecord | None = None
    category_changed: bool | None = None  # set by a re-assessment at a re-check
    # a timer's event dated after its due time: the due time, which it derived from
    due: datetime | None = None

    _wuxi = field_validator("phase_out_end", "exited_at", "due")(_in_wuxi)


class Event(BaseModel):
    """One stored event: what happened to a case (``trigger`` by ``actor`` at ``at`` with its
    payload ``data``), its place in the case (``seq``), the policy it was decided under and
    what the engine derived (``derived``: the state after it, category, body, timers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    seq: int
    at: datetime
    trigger: str
    actor: dict[str, str]
    data: dict[str, Any]
    policy_id: str | None
    policy_hash: str | None
    derived: Derived

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.utcoffset() is None:
            raise ValueError("event time must be timezone-aware")
        return value.astimezone(SHANGHAI)

    @classmethod
    def trusted(cls, case_id: str, seq: int, at: datetime, trigger: str,
                actor: dict[str, str], data: dict[str, Any], policy_id: str | None,
                policy_hash: str | None, derived: Derived) -> Event:
        """An event from values already typed and checked (a stored row, whose hash is
        checked apart): what ``model_construct`` makes with every field given, at a quarter
        of its cost (~1 µs against ~4 µs; an audit of a million events builds a million).
        ``tests/engine/test_records.py`` holds it equal to ``model_construct``'s."""
        event = cls.__new__(cls)
        _set = object.__setattr__
        _set(event, "__dict__", {
            "case_id": case_id, "seq": seq, "at": at, "trigger": trigger, "actor": actor,
            "data": data, "policy_id": policy_id, "policy_hash": policy_hash,
            "derived": derived})
        _set(event, "__pydantic_fields_set__", set(_EVENT_FIELDS))  # model_copy adds to it
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        return event


_EVENT_FIELDS = frozenset(Event.model_fields)


@dataclass(frozen=True, init=False)
class Command:
    """A request to fire ``trigger`` on a case (``Engine.execute``); ``at`` timezone-aware."""

    case_id: str
    trigger: str
    actor: Actor
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None

    def __init__(self, case_id: str, trigger: str, actor: Actor, at: datetime,
                 data: Mapping[str, Any] | None = None,
                 idempotency_key: str | None = None) -> None:
        # filled at once, not through object.__setattr__ per field: one per event replayed
        self.__dict__.update(case_id=case_id, trigger=trigger, actor=actor, at=at,
                             data={} if data is None else data,
                             idempotency_key=idempotency_key)


@dataclass(frozen=True)
class CaseState:
    """A case as the fold of its events. ``application`` is personal data (None once purged)."""

    case_id: str
    state: str | None = None
    version: int = 0
    application: Application | None = None
    applicant_id: str | None = None
    grassroots_union: str | None = None
    category: str | None = None
    reviewing_body: str | None = None
    timers: tuple[Timer, ...] = ()
    objections_used: frozenset[str] = frozenset()
    objections_open: frozenset[str] = frozenset()
    confirmations: frozenset[str] = frozenset()
    verifications: frozenset[str] = frozenset()
    came_from: str | None = None
    archive_number: str | None = None
    phase_out_end: datetime | None = None
    exited_at: datetime | None = None
    entered_at: datetime | None = None
    last_at: datetime | None = None
    category_changed_at_last_recheck: bool = False
    aid_ranks: dict[str, int] = field(default_factory=dict)  # item → rank of the last grant
    medical_granted: dict[str, Decimal] = field(default_factory=dict)  # year → total granted
    medical_declared: dict[str, Decimal] = field(default_factory=dict)  # year → self-paid

    @property
    def parties(self) -> Parties:
        return Parties(self.applicant_id, self.grassroots_union, self.reviewing_body)

    def timer(self, kind: TimerKind) -> Timer | None:
        return next((t for t in self.timers if t.kind is kind), None)

    def evolve(self, **changes: Any) -> CaseState:
        """A copy with ``changes`` (what ``dataclasses.replace`` does, without re-running
        ``__init__``: the fold evolves a case once per event)."""
        if not changes.keys() <= _CASE_FIELDS:
            unknown = changes.keys() - _CASE_FIELDS
            raise TypeError(f"CaseState has no field {sorted(unknown)[0]!r}")
        # a copy of the case's own dict keeps its layout (the class's shared keys): filling
        # a new instance's empty dict key by key cost four times as much
        values = self.__dict__.copy()
        values.update(changes)
        new = object.__new__(CaseState)
        object.__setattr__(new, "__dict__", values)
        return new


_CASE_FIELDS = frozenset(f.name for f in fields(CaseState))
