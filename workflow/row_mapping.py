"""Between the engine's values (Event, CaseState) and the store's text rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from jiekun.persistence.chain import (
    StoredEvent,
    canonical,
    from_utc_text,
    join_personal,
    personal_digest,
    split_personal,
    utc_text,
)
from jiekun.persistence.schema import CASES_INDEXED
from jiekun.persistence.statements import ProjectionRow, TimerRow
from jiekun.policies.application import Application
from jiekun.policies.deadlines import SHANGHAI
from jiekun.states import Lifecycle
from jiekun.workflow.records import CaseState, Derived, Event

_CASE = TypeAdapter(CaseState)
# kept in the vault (case_personal), not in the projection
_PERSONAL_FIELDS = {"application", "applicant_id"}
# the projection's personal figures: kept sealed apart from its snapshot (``cases.personal``)
_SNAPSHOT_PERSONAL = {"medical_declared"}


def stored_event(lifecycle: Lifecycle, event: Event, prev_hash: str,
                 salt: Callable[[], bytes | None] | None = None) -> StoredEvent:
    """The event as its row holds it; ``salt`` gives the case's digest salt (asked only when
    the event has a personal part; None: an unsalted digest)."""
    actor, data, personal = split_personal(lifecycle, event.trigger, event.actor, event.data)
    return StoredEvent(
        case_id=event.case_id, seq=event.seq, at=utc_text(event.at), trigger=event.trigger,
        actor=canonical(actor), data=canonical(data),
        personal_digest=None if personal is None else personal_digest(
            personal, None if salt is None else salt()),
        policy_id=event.policy_id, policy_hash=event.policy_hash,
        derived=event.derived.model_dump_json(), prev_hash=prev_hash, personal=personal,
    )


def event_of(row: StoredEvent) -> Event:
    """The Event a stored row holds; ``{"redacted": true}`` in its data when its personal part
    was destroyed."""
    actor, data = json.loads(row.actor), json.loads(row.data)
    if row.personal_digest is not None and row.personal is None:
        data = {**data, "redacted": True}
    else:
        actor, data = join_personal(actor, data, row.personal)
    # Every field is typed already (the row was validated when it was written, and its hash
    # is checked apart): construct without validating again.
    return Event.trusted(
        case_id=row.case_id, seq=row.seq, at=from_utc_text(row.at).astimezone(SHANGHAI),
        trigger=row.trigger,
        actor=actor, data=data, policy_id=row.policy_id, policy_hash=row.policy_hash,
        derived=derived_of(row.derived))


@lru_cache(maxsize=4096)
def derived_of(text: str) -> Derived:
    # Derived values are frozen, and many events of a history derive the same (a state, a
    # category, a body): one parse serves them all.
    return Derived.model_validate_json(text)


def snapshot(case: CaseState) -> str:
    return _CASE.dump_json(case, exclude=_PERSONAL_FIELDS | _SNAPSHOT_PERSONAL).decode()


def snapshot_personal(case: CaseState) -> str | None:
    """The projection's personal figures as JSON (None: the case has none)."""
    if not case.medical_declared:
        return None
    return _CASE.dump_json(case, include=_SNAPSHOT_PERSONAL).decode()


@lru_cache(maxsize=4096)
def _application(text: str) -> Application:
    # Applications are frozen and change rarely: most commands on a case reread the same text.
    return Application.model_validate_json(text)


def case_of(snapshot_text: str, application: str | None,
            personal: str | None = None) -> CaseState:
    """The case a projection holds: its snapshot, its personal figures (``personal``, None:
    none, or not opened) and its application (None: none, or not read)."""
    raw: dict[str, Any] = json.loads(snapshot_text)
    if personal is not None:
        raw.update(json.loads(personal))
    case = _CASE.validate_python(raw)
    if application is None:
        return case
    app = _application(application)
    return case.evolve(application=app, applicant_id=app.applicant.id_number)


def projection(case: CaseState, head_hash: str, updated_at: str) -> ProjectionRow:
    assert case.state is not None
    return ProjectionRow(case.case_id, case.state, case.version, case.category,
                         case.reviewing_body, case.grassroots_union, snapshot(case), head_hash,
                         updated_at, snapshot_personal(case))


def kept_columns(before: CaseState, after: CaseState) -> frozenset[str]:
    """The indexed projection columns (CASES_INDEXED) whose value this transition keeps."""
    return frozenset(c for c in CASES_INDEXED if getattr(before, c) == getattr(after, c))


def timer_row(before: CaseState, after: CaseState) -> TimerRow | None:
    """The timer row when the transition changed it, else None (nothing to write). Closing
    the last open objection rewrites it as pending: a timer blocked by that objection fires
    at the next run, whatever the dismissal's time."""
    settled = bool(before.objections_open) and not after.objections_open and bool(after.timers)
    if before.timers == after.timers and not settled:
        return None
    if not after.timers:
        old = before.timers[0]
        return TimerRow(after.case_id, old.kind.value, None if old.due is None
                        else utc_text(old.due), "void", after.version)
    timer = after.timers[0]
    return TimerRow(after.case_id, timer.kind.value,
                    None if timer.due is None else utc_text(timer.due), "pending", after.version)
