"""A case's history as people read it (``jiekun case history``): for each event its time
(+08:00), who acted (role and organisation, in Chinese and English), the trigger and the state
it led to (their labels in states/), its payload with the personal data masked, what the engine
derived that a reader needs (category, reviewing body, archive number, timers started and their
due times, a late timer's due time), the policy it was decided under and the results of the
guards that decided it.

Personal data is what the store keeps apart from the chain: the payload fields states/ marks
``personal`` (all of a payload that is one application) and a worker's id number. It is masked
as ``***`` unless it is asked for by a reader who may see it (``may_see_personal``).

The guards' results are not stored with the events (nor in the chain): ``rule_results``
recomputes them by re-folding the case's events and running each guard of the route the event
took, under the policy the event names (``policy_for``). What cannot be recomputed says why: a
policy version this engine does not hold, personal data that was destroyed (as replay's
``unverifiable_lines``), R-ONE-OPEN-CASE (it reads the other cases of the store as they stood
then).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import local_date
from jiekun.policies.errors import JiekunError, NotAuthorized
from jiekun.policies.policy_file import Policy
from jiekun.policies.results import RuleResult
from jiekun.policies.routing import BODY_NAMES, CITY
from jiekun.policies.rules import RULES
from jiekun.states import Label, Lifecycle, Role, Route
from jiekun.states.lifecycle import ROLE_LABELS
from jiekun.workflow import render_text
from jiekun.workflow.context import Decision
from jiekun.workflow.decider import PERSONAL_GUARDS, Decider
from jiekun.workflow.guards import GUARDS
from jiekun.workflow.payloads import validate_payload
from jiekun.workflow.policy_versions import PolicyVersion
from jiekun.workflow.records import CaseState, Command, Derived, Event

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


def check_show_personal(reader: Actor, case: CaseState, case_id: str) -> None:
    """NotAuthorized (E-ACTOR) unless ``reader`` may see the case's personal data: what
    ``--show-personal`` asks of ``case history`` and ``audit report`` alike."""
    if not may_see_personal(reader, case):
        raise NotAuthorized(f"case {case_id}", reader.label,
                            "may not see its personal data (--show-personal)", verb="read",
                            reason_zh="无权查看其个人信息（--show-personal）")


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


def policy_for(decider: Decider, policy_id: str | None, policy_hash: str | None,
               held: Mapping[str, Policy] | None = None) -> Policy | None:
    """The policy an event was decided under, found by the hash the event names among the
    versions ``held`` (a store's, by their hash and the older hash events recorded before the
    store kept versions: ``held_policies``), else the decider's own when id and hash match;
    None when neither holds that version."""
    if held and policy_hash is not None and policy_hash in held:
        found = held[policy_hash]
        return found if policy_id in (None, found.id) else None
    policy = decider.policy
    if policy_id == policy.id and policy_hash == policy.content_hash:
        return policy
    return None


def held_policies(versions: Iterable[PolicyVersion]) -> dict[str, Policy]:
    """The policies of a store's versions by every hash their events may name."""
    held: dict[str, Policy] = {}
    for version in versions:
        policy = version.policy
        if policy is None:
            continue  # a version whose text the store never held: nothing to recompute with
        held[version.hash] = policy
        if version.legacy_hash is not None:
            held[version.legacy_hash] = policy
    return held


# Figures computed from personal data (a household's per-capita income, its self-paid medical
# total): masked with the payload they come from. Limits and the living standard are policy.
_PERSONAL_FIGURES = frozenset({"value", "self_paid"})
_OPEN_CASE_WHY = ("not recomputed: it reads the other cases of the store as they stood then, "
                  "which this case's history alone does not hold",
                  "未重新计算：须查看当时库中其他案件，仅凭本案历史无法判断")
_DESTROYED_WHY = ("could not be re-checked: its personal data was destroyed",
                  "无法重新核验：个人信息已销毁")


class _NoOtherCases:
    """R-ONE-OPEN-CASE is never recomputed here (``_OPEN_CASE_WHY``): nothing asks this."""

    def open_case_of(self, applicant_id: str) -> str | None:
        return None


def _rule_json(result: RuleResult, show_personal: bool) -> dict[str, Any]:
    out = result.as_json()
    known = RULES.get(result.id)
    out["title_zh"] = known.title_zh if known else result.id
    out["title_en"] = known.title_en if known else result.id
    if not show_personal and _PERSONAL_FIGURES & set(result.figures):
        out["figures"] = {k: MASK if k in _PERSONAL_FIGURES else v
                          for k, v in result.figures.items()}
        out["explanation_zh"] = out["explanation_en"] = MASK
    if result.rules:
        out["rules"] = [_rule_json(r, show_personal) for r in result.rules]
    out["recomputed"] = True
    return out


def _not_recomputed(rule_id: str, because: tuple[str, str]) -> dict[str, Any]:
    known = RULES.get(rule_id)
    return {"id": rule_id, "passed": None, "citation": known.citation if known else None,
            "title_zh": known.title_zh if known else rule_id,
            "title_en": known.title_en if known else rule_id,
            "recomputed": False, "because": because[0], "because_zh": because[1]}


def _actor_of(actor: dict[str, str]) -> Actor:
    return Actor(actor.get("role", ""), actor.get("org"), actor.get("id_number"))


def _guard_results(decider: Decider, case: CaseState | None, event: Event, route: Route,
                   show_personal: bool, held: Mapping[str, Policy] | None
                   ) -> list[dict[str, Any]]:
    """Each guard of ``route`` run again on ``case`` (the fold before ``event``)."""
    guards = route.guards
    policy = policy_for(decider, event.policy_id, event.policy_hash, held)
    if policy is None:
        version = policy_text(event) or "none"
        return [_not_recomputed(g, (f"not recomputed: policy version {version} not available",
                                    f"未重新计算：没有政策版本 {version}")) for g in guards]
    before = case or CaseState(event.case_id)
    trigger = decider.lifecycle.trigger(event.trigger)
    redacted = event.data.get("redacted") is True
    destroyed = redacted or (before.state is not None and before.application is None)
    public = {k: v for k, v in event.data.items() if k != "redacted"}
    try:
        payload = public if redacted and any(f.personal and f.required for f in trigger.payload) \
            else validate_payload(trigger, public, local_date(event.at))
    except JiekunError as error:
        return [_not_recomputed(g, (f"not recomputed: the payload is invalid: {error.message_en}",
                                    f"未重新计算：数据无效：{error.message_zh}")) for g in guards]
    calendar = decider.calendar if policy is decider.policy else WorkingCalendar.for_policy(policy)
    command = Command(event.case_id, event.trigger, _actor_of(event.actor), event.at, public)
    decision = Decision(before, command, payload, policy, calendar, _NoOtherCases(), before.state)
    out: list[dict[str, Any]] = []
    for guard in guards:
        if guard == "R-ONE-OPEN-CASE":
            out.append(_not_recomputed(guard, _OPEN_CASE_WHY))
        elif destroyed and (guard in PERSONAL_GUARDS or (
                guard == "R-MEDICAL-CAP" and payload.get("item") == "medical")):
            # as replay's unverifiable lines: medical aid's cap reads earlier declared totals
            out.append(_not_recomputed(guard, _DESTROYED_WHY))
        else:
            try:
                out.append(_rule_json(GUARDS[guard](decision), show_personal))
            except (JiekunError, LookupError, ValueError) as error:
                out.append(_not_recomputed(guard, (f"not recomputed: {error}",
                                                   f"未重新计算：{error}")))
    return out


def rule_results(decider: Decider, events: list[Event], show_personal: bool = False,
                 held: Mapping[str, Policy] | None = None) -> list[list[dict[str, Any]]]:
    """For each event, in order: one object per guard of the route it took, recomputed on the
    fold of the events before it (``recomputed`` true: the RuleResult's JSON with the rule's
    title) or saying why not (``recomputed`` false, ``passed`` null, ``because``). Figures
    computed from personal data are masked unless ``show_personal``."""
    out: list[list[dict[str, Any]]] = []
    case: CaseState | None = None
    broken: tuple[str, str] | None = None
    for event in events:
        source = None if case is None else case.state
        route = decider.lifecycle.route_taken(event.trigger, source, event.derived.state)
        if route is None or not route.guards:
            out.append([])
        elif broken is not None:
            out.append([_not_recomputed(g, broken) for g in route.guards])
        else:
            out.append(_guard_results(decider, case, event, route, show_personal, held))
        if broken is None:
            try:
                case = decider.apply(case, event)
            except Exception as error:  # a history that does not fold: `audit verify` names it
                broken = (f"not recomputed: the history does not fold at event {event.seq}: "
                          f"{error}", f"未重新计算：历史在第 {event.seq} 个事件处无法折叠：{error}")
    return out


def history_view(lifecycle: Lifecycle, events: list[Event], show_personal: bool,
                 decider: Decider | None = None, held: Mapping[str, Policy] | None = None
                 ) -> list[dict[str, Any]]:
    """One object per event, in order (``--format json``; ``history_text`` lays it out for
    people). With ``decider``, each has ``rules``: its guards' results (``rule_results``),
    each event's under the version it names among ``held`` (``held_policies``)."""
    rows: list[dict[str, Any]] = []
    before: Derived | None = None
    rules = None if decider is None else rule_results(decider, events, show_personal, held)
    for number, event in enumerate(events):
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
        if rules is not None:
            rows[-1]["rules"] = rules[number]
        before = event.derived
    return rows


def _rule_lines(result: dict[str, Any], indent: str) -> list[str]:
    head = f"{indent}规则 rule {result['id']} {result['citation'] or ''} {result['title_zh']}"
    if not result["recomputed"]:
        return [f"{head}: — {result['because_zh']} / {result['because']}"]
    verdict = "✓ 通过 passed" if result["passed"] else "✗ 未通过 failed"
    said = (f" — {result['explanation_zh']} / {result['explanation_en']}"
            if result["explanation_zh"] != MASK else "")
    lines = [f"{head}: {verdict}{said}"]
    if result["figures"]:
        lines.append(f"{indent}  数据 figures: " + ", ".join(
            f"{k}={v}" for k, v in result["figures"].items()))
    for part in result.get("rules", ()):
        lines += _rule_lines(part, indent + "  ")
    return lines


def history_text(rows: list[dict[str, Any]]) -> str:
    """``jiekun case history``: ``render_text.history``'s block per event, each followed by
    its guards' results (rule id, clause, passed, explanation, figures)."""
    if not rows:
        return render_text.history(rows)
    blocks: list[str] = []
    for row in rows:
        lines = [render_text.history([row])]
        for result in row.get("rules", ()):
            lines += _rule_lines(result, "     ")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
