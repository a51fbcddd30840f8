"""What a transition derives (recorded in its event) and how an event folds into a case.

``derive`` runs once, when an event is decided; ``apply`` is the fold, used by the engine right
after deciding and by every replay or audit afterwards, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from jiekun.policies.application import Accident, Application, Household
from jiekun.policies.deadlines import (
    SHANGHAI,
    local_date,
    months_due,
    publicity_elapsed_at,
    years_due,
)
from jiekun.policies.errors import HistoryTampered, PolicyNotInForce
from jiekun.states import Effect, Lifecycle, Route, TimerKind
from jiekun.workflow.context import Decision
from jiekun.workflow.guards import aid_rank
from jiekun.workflow.records import AidRecord, CaseState, Derived, Event, Timer

M = TypeVar("M", bound=BaseModel)
_NONE: frozenset[str] = frozenset()


def wuxi_time(value: datetime) -> datetime:
    """What the records' validators make of an aware time: the moment in Asia/Shanghai."""
    return value if value.tzinfo is SHANGHAI else value.astimezone(SHANGHAI)


def _wuxi_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else wuxi_time(value)


_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def built(model: type[M], values: dict[str, Any]) -> M:
    """A record of values this module derived and typed itself (never outside input), every
    field given in the model's order: what ``model_construct`` makes, without validating the
    engine's own values again (a third of an event's pydantic time went to re-checking
    them). Every field given, the record shares its class's set of field names, as
    ``application.share_field_sets`` makes a validated application's (a case holds its timer).
    ``tests/workflow/test_replay_trusted.py`` holds it equal to the validated record."""
    record = model.__new__(model)
    setattr_ = object.__setattr__
    setattr_(record, "__dict__", values)
    shared = _ALL_FIELDS.get(model)
    if shared is None:
        shared = _ALL_FIELDS[model] = set(model.model_fields)
    setattr_(record, "__pydantic_fields_set__", shared)
    setattr_(record, "__pydantic_extra__", None)
    setattr_(record, "__pydantic_private__", None)
    return record


def _start_timer(d: Decision, kind: TimerKind, dest: str, category: str | None,
                 phase_out_end: datetime | None, exited_at: datetime | None) -> Timer:
    at, durations = d.at, d.policy.durations
    due: datetime | None
    if kind is TimerKind.RECHECK:
        due = months_due(at, durations.recheck_months(category or "deep"))
    elif kind is TimerKind.PHASE_OUT:
        due = phase_out_end
    elif kind is TimerKind.RETENTION and dest == "exited":
        due = years_due(exited_at or at, durations.retention_years)  # from the exit date
    elif kind is TimerKind.RETENTION:
        years = (durations.retention_years if dest == "cancelled"
                 else durations.retention_years_rejected_withdrawn)
        due = years_due(at, years)  # from the decision
    else:
        days = durations.working_days(kind.value)
        try:
            due = publicity_elapsed_at(at, days, d.calendar)
        except PolicyNotInForce:
            due = None  # computed by its guard once the calendar covers the year
    return built(Timer, {"kind": kind, "started": wuxi_time(at), "due": _wuxi_or_none(due)})


def _rearmed(d: Decision, timers: tuple[Timer, ...]) -> tuple[Timer, ...]:
    """The last open objection dismissed: a publicity already past its end is due at once."""
    if d.command.trigger != "dismiss_objection" or d.case.objections_open - {
            d.payload["objection_id"]}:
        return timers
    at = d.command.at
    return tuple(t.model_copy(update={"due": at}) if t.due is not None and t.due < at else t
                 for t in timers)


def derive(d: Decision, lifecycle: Lifecycle, dest: str, effects: tuple[Effect, ...]) -> Derived:
    case, at = d.case, d.at
    category, body = case.category, case.reviewing_body
    if Effect.ASSESS in effects:
        category, body = d.verdict()
    phase_out_end = case.phase_out_end
    if Effect.START_PHASE_OUT in effects:
        phase_out_end = months_due(at, int(d.payload["months"]))
    exited_at = case.exited_at
    if dest == "exited" and d.source != "re_entered":
        exited_at = at
    elif dest == "preliminary_review" and d.source == "re_entered":
        exited_at = None  # re-entered from exit: a new application, a new closing later
    archive_number = case.archive_number
    if Effect.ISSUE_ARCHIVE in effects:
        archive_number = f"WX-{body}-{local_date(at):%Y%m%d}-{case.case_id}"
    timers = case.timers
    if dest != case.state:
        timer = lifecycle.timer_for_state(dest)
        timers = () if timer is None else (
            _start_timer(d, timer.kind, dest, category, phase_out_end, exited_at),)
    aid = _aid_record(d, category, body) if Effect.RECORD_AID in effects else None
    changed = (category != case.category if Effect.ASSESS in effects
               and d.source in ("under_recheck", "re_entered") else None)
    if Effect.START_PHASE_OUT in effects:
        changed = True  # the re-check found the household out of hardship: a significant change
    union = case.grassroots_union
    application = d.application
    if Effect.SET_GRASSROOTS_UNION in effects and application is not None:
        union = application.grassroots_union
    due = d.due if d.due is not None and d.due < d.command.at else None
    return built(Derived, {
        "state": dest, "grassroots_union": union, "category": category,
        "reviewing_body": body, "timers": _rearmed(d, timers), "archive_number": archive_number,
        "phase_out_end": _wuxi_or_none(phase_out_end), "exited_at": _wuxi_or_none(exited_at),
        "aid": aid, "category_changed": changed, "due": _wuxi_or_none(due)})


def _aid_record(d: Decision, category: str | None, body: str | None) -> AidRecord:
    p = d.payload
    return AidRecord(item=str(p["item"]), tier=p.get("tier"), rank=aid_rank(d),
                     amount=p.get("amount"), year=str(p["period"])[:4], category=category,
                     reviewing_body=body)


def _aid_changes(case: CaseState, event: Event) -> dict[str, Any]:
    """The fold of a grant: the item's last tier, the year's medical totals."""
    aid = event.derived.aid
    if aid is None:
        return {}
    changes: dict[str, Any] = {}
    if aid.rank is not None:
        changes["aid_ranks"] = {**case.aid_ranks, aid.item: aid.rank}
    if aid.item == "medical":
        granted = case.medical_granted.get(aid.year, Decimal(0)) + (aid.amount or Decimal(0))
        changes["medical_granted"] = {**case.medical_granted, aid.year: granted}
        declared = event.data.get("self_paid_medical_total")
        if declared is not None:
            changes["medical_declared"] = {**case.medical_declared,
                                           aid.year: Decimal(str(declared))}
    return changes


def _bookkeeping(case: CaseState, event: Event, effects: tuple[Effect, ...],
                 entered: bool) -> dict[str, Any]:
    data: Mapping[str, Any] = event.data
    # the case's own sets wherever nothing changes them: most events touch none, and a
    # case held by a long replay should not carry a fresh copy of each
    used, opened = case.objections_used, case.objections_open
    if Effect.OPEN_OBJECTION in effects:
        used = used | {data["objection_id"]}
        opened = opened | {data["objection_id"]}
    if Effect.CLOSE_OBJECTION in effects:
        opened = opened - {data["objection_id"]}
    changes: dict[str, Any] = {"objections_used": used,
                               "objections_open": _NONE if entered else opened}
    role = event.actor.get("role", "")
    confirmations = _NONE if entered else case.confirmations
    verifications = _NONE if entered else case.verifications
    if Effect.RECORD_CONFIRMATION in effects:
        confirmations = confirmations | {role}
    if Effect.RECORD_VERIFICATION in effects:
        verifications = verifications | {role}
    changes["confirmations"], changes["verifications"] = confirmations, verifications
    if Effect.REMEMBER_ORIGIN in effects:
        changes["came_from"] = case.state
    return changes


def _application_after(case: CaseState, event: Event, effects: tuple[Effect, ...],
                       validated: Application | None) -> Application | None:
    data = event.data
    if Effect.DESTROY_PERSONAL_DATA in effects:
        return None
    if data.get("redacted"):
        return case.application
    if Effect.SET_APPLICATION in effects:
        return validated if validated is not None else Application.model_validate(data)
    if Effect.UPDATE_HOUSEHOLD in effects and "household" in data and case.application:
        if validated is not None:  # the decision's own copy with the new household
            return validated
        changes: dict[str, Any] = {"household": Household.model_validate(data["household"])}
        if "accident" in data:
            raw = data["accident"]
            changes["accident"] = None if raw is None else Accident.model_validate(raw)
        return case.application.model_copy(update=changes)
    return case.application


def apply(lifecycle: Lifecycle, case: CaseState, event: Event,
          validated: Application | None = None, route: Route | None = None) -> CaseState:
    """The case after ``event``: the fold step, the same for deciding, replaying and auditing.

    ``validated`` and ``route``: the application as the decision left it (validated from
    the event's data: a new application, or the case's with the new household) and the
    route its machine took, so that deciding does neither twice; a stored event's fold
    looks its route up and validates its data. HistoryTampered when the event cannot follow
    the case (its sequence, its trigger or its state after it)."""
    if event.seq != case.version + 1:
        raise HistoryTampered(case.case_id, event.seq,
                              f"event {event.seq} does not follow version {case.version}")
    derived = event.derived
    if route is None:
        route = lifecycle.route_taken(event.trigger, case.state, derived.state)
        if route is None:
            raise HistoryTampered(case.case_id, event.seq,
                                  f"{event.trigger} cannot lead from {case.state} to "
                                  f"{derived.state}")
    trigger = lifecycle.trigger(event.trigger)
    effects = trigger.effects + route.effects
    entered = derived.state != case.state
    application = _application_after(case, event, effects, validated)
    changes = _bookkeeping(case, event, effects, entered)
    changes.update(_aid_changes(case, event))
    if derived.category_changed is not None:
        changes["category_changed_at_last_recheck"] = derived.category_changed
    if Effect.ISSUE_ARCHIVE in effects:  # a new archive: no earlier grant to compare with
        changes["aid_ranks"] = {}
        changes["category_changed_at_last_recheck"] = False
    if Effect.DESTROY_PERSONAL_DATA in effects:
        changes["medical_declared"] = {}
    return case.evolve(
        grassroots_union=derived.grassroots_union,
        state=derived.state, version=event.seq, application=application,
        applicant_id=None if application is None and Effect.DESTROY_PERSONAL_DATA in effects
        else (application.applicant.id_number if application else case.applicant_id),
        category=derived.category, reviewing_body=derived.reviewing_body,
        timers=derived.timers, archive_number=derived.archive_number,
        phase_out_end=derived.phase_out_end, exited_at=derived.exited_at,
        entered_at=event.at if entered else case.entered_at, last_at=event.at, **changes,
    )
