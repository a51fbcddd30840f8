"""A case's history as people read it (``jiekun case history``): for each event its time
(+08:00), who acted (role and organisation, in Chinese and English), the trigger and the state
it led to (their labels in states/), its payload with the personal data masked, what the engine
derived that a reader needs (category, reviewing body, archive number, timers started and their
due times, a late timer's due time) and the policy it was decided under.

Personal data is what the store keeps apart from the chain: the payload fields states/ marks
``personal`` (all of a payload that is one application) and a worker's id number. It is masked
as ``***`` unless it is asked for by a reader who may see it (``may_see_personal``).

The guards' results are not stored with the events, so they are not shown.
"""

from __future__ import annotations

from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.routing import BODY_NAMES, CITY
from jiekun.states import Label, Lifecycle, Role
from jiekun.states.lifecycle import ROLE_LABELS
from jiekun.workflow.records import CaseState, Derived, Event

MASK = "***"
CATEGORY_LABELS = {"deep": Label("深度困难", "deep"), "relative": Label("相对困难", "relative"),
                   "accident": Label("意外致困", "accident")}
_ROLES = {role.value: label for role, label in ROLE_LABELS.items()}


def may_see_personal(reader: Actor, case: CaseState) -> bool:
    """Whether ``reader`` may see the case's personal data: an auditor; the case's own
    grassroots union; its reviewing federation or wuxi-city; the worker whose case it is.
    The system, and anyone else, may not."""
    role, org = reader.role, reader.org
    if role == Role.AUDITOR.value:
        return True
    if role == Role.FEDERATION.value:
        return org is not None and org in (case.reviewing_body, CITY)
    if role == Role.GRASSROOTS_UNION.value:
        return org is not None and org == case.grassroots_union
    if role == Role.WORKER.value:
        return (reader.id_number is not None and case.applicant_id is not None
                and reader.id_number.upper() == case.applicant_id.upper())
    return False


def policy_text(event: Event) -> str | None:
    """``wx-2023-45@b936535eaaac``: the policy's id and the first 12 hex digits of its hash
    (after its ``sha256:`` prefix)."""
    if event.policy_id is None:
        return None
    digest = (event.policy_hash or "").removeprefix("sha256:")[:12]
    return f"{event.policy_id}@{digest}" if digest else event.policy_id


def _actor(actor: dict[str, str], show_personal: bool) -> dict[str, Any]:
    role = actor.get("role", "")
    label = _ROLES.get(role)
    out: dict[str, Any] = {"role": role, "role_zh": label.zh if label else role,
                           "role_en": label.en if label else role}
    if "org" in actor:
        out["org"] = actor["org"]
        out["org_zh"] = BODY_NAMES.get(actor["org"]) if role == Role.FEDERATION.value else None
    if "id_number" in actor:
        out["id_number"] = actor["id_number"] if show_personal else MASK
    return out


def _payload(lifecycle: Lifecycle, event: Event, show_personal: bool) -> dict[str, Any]:
    if show_personal:
        return dict(event.data)
    definition = lifecycle.trigger(event.trigger)
    whole = definition.whole_payload_personal
    personal = definition.personal_fields
    return {k: MASK if (whole and k != "redacted") or k in personal else v
            for k, v in event.data.items()}


def _time(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _derived(lifecycle: Lifecycle, now: Derived, before: Derived | None) -> dict[str, Any]:
    """What this event derived that a reader needs: what changed since the event before it."""
    out: dict[str, Any] = {}
    if now.category is not None and (before is None or before.category != now.category):
        label = CATEGORY_LABELS.get(now.category)
        out["category"] = {"code": now.category, "zh": label.zh if label else now.category,
                           "en": label.en if label else now.category}
    if now.category_changed is not None:
        out["category_changed"] = now.category_changed
    if now.reviewing_body is not None and (
            before is None or before.reviewing_body != now.reviewing_body):
        out["reviewing_body"] = {"code": now.reviewing_body,
                                 "zh": BODY_NAMES.get(now.reviewing_body, now.reviewing_body)}
    if now.archive_number is not None and (
            before is None or before.archive_number != now.archive_number):
        out["archive_number"] = now.archive_number
    armed = set() if before is None else {(t.kind, t.started) for t in before.timers}
    started = [t for t in now.timers if (t.kind, t.started) not in armed]
    if started:
        out["timers_started"] = [
            {"kind": t.kind.value, "zh": lifecycle.timer(t.kind).label.zh,
             "en": lifecycle.timer(t.kind).label.en, "started": _time(t.started),
             "due": _time(t.due)} for t in started]
    if now.due is not None:
        out["due"] = _time(now.due)
    for name in ("phase_out_end", "exited_at"):
        value = getattr(now, name)
        if value is not None and (before is None or getattr(before, name) != value):
            out[name] = _time(value)
    if now.aid is not None:
        out["aid"] = {"item": now.aid.item, "tier": now.aid.tier, "year": now.aid.year,
                      "amount": None if now.aid.amount is None else str(now.aid.amount)}
    return out


def history_view(lifecycle: Lifecycle, events: list[Event], show_personal: bool
                 ) -> list[dict[str, Any]]:
    """One object per event, in order (``--format json``; ``render_text.history`` lays it
    out for people)."""
    rows: list[dict[str, Any]] = []
    before: Derived | None = None
    for event in events:
        trigger = lifecycle.trigger_index.get(event.trigger)
        state = lifecycle.state_index.get(event.derived.state)
        rows.append({
            "case": event.case_id, "seq": event.seq, "at": _time(event.at),
            "actor": _actor(event.actor, show_personal),
            "event": event.trigger,
            "event_zh": trigger.label.zh if trigger else event.trigger,
            "event_en": trigger.label.en if trigger else event.trigger,
            "state": event.derived.state,
            "state_zh": state.label.zh if state else event.derived.state,
            "state_en": state.label.en if state else event.derived.state,
            "data": _payload(lifecycle, event, show_personal),
            "derived": _derived(lifecycle, event.derived, before),
            "policy": policy_text(event),
        })
        before = event.derived
    return rows
