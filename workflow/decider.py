"""Deciding one command against one case, in memory: the heart that replay and the durable
engine share.

Checks run in the order of workflow/CONTRACT.md §3: the trigger is allowed in the state
(E-TRANSITION),
the actor may fire it (E-ACTOR), the payload is valid (E-PAYLOAD), then the route's guards in
states/LIFECYCLE.md order. A refusal raises and changes nothing; an accepted command becomes
an Event
whose fold (``apply``) is the new case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, TypeGuard

from jiekun.policies.aid_tables import ITEM_LABELS, PAID_ITEMS
from jiekun.policies.application import Application
from jiekun.policies.authorization import Parties, authorize
from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import local_date, require_aware
from jiekun.policies.errors import (
    FieldProblem,
    GuardFailed,
    InvalidPayload,
    JiekunError,
    ObjectionProblem,
    TransitionNotAllowed,
    UnknownTrigger,
)
from jiekun.policies.field_texts import MISSING
from jiekun.policies.labels import closest_triggers, trigger_zh
from jiekun.policies.policy_file import Policy, load_policy
from jiekun.policies.results import RuleResult
from jiekun.states import Effect, FieldType, Lifecycle, Route, TriggerDef
from jiekun.workflow.context import Decision, OpenCases
from jiekun.workflow.effects import apply, derive, wuxi_time
from jiekun.workflow.guards import GUARDS
from jiekun.workflow.machine import NO_CASE, LifecycleMachine, Subject
from jiekun.workflow.payloads import validate_payload
from jiekun.workflow.records import CaseState, Command, Derived, Event
from jiekun.workflow.timing import check_order


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # a dict, as JSON gives, without asking the Mapping ABC (slow) first
    return type(value) is dict or isinstance(value, Mapping)


def _submission_parties(data: Mapping[str, Any] | None) -> Parties:
    """Who the parties of a case being submitted are, read from its raw application."""
    raw = data
    applicant = raw.get("applicant") if _is_mapping(raw) else None
    id_number = applicant.get("id_number") if _is_mapping(applicant) else None
    union = raw.get("grassroots_union") if _is_mapping(raw) else None
    return Parties(id_number.upper() if isinstance(id_number, str) else None,
                   union if isinstance(union, str) else None, None)


# Guards that read the application or the applicant: not re-checkable once it is destroyed.
PERSONAL_GUARDS = frozenset({"R-ELIGIBLE", "R-OUT-OF-HARDSHIP", "R-ONE-OPEN-CASE"})

# What is known to decide and fold without reading the case's application. A list of what is
# safe, not of what is not: a guard, effect or payload type added later reads it until shown
# otherwise here (tests/workflow/test_application_free.py decides every such route both ways).
APPLICATION_FREE_GUARDS = frozenset({
    "R-PUBLICITY-ELAPSED", "E-OBJECTION", "R-RECHECK-CADENCE", "R-PHASEOUT-MAX",
    "R-PHASEOUT-ELAPSED", "R-RETENTION", "R-EXIT-CONFIRM", "R-EXIT-REFUSAL", "R-AID-STATE"})
APPLICATION_FREE_EFFECTS = frozenset({
    Effect.OPEN_OBJECTION, Effect.CLOSE_OBJECTION, Effect.ISSUE_ARCHIVE,
    Effect.RECORD_CONFIRMATION, Effect.RECORD_VERIFICATION, Effect.REMEMBER_ORIGIN,
    Effect.DESTROY_PERSONAL_DATA})
APPLICATION_FREE_PAYLOAD = frozenset({FieldType.TEXT, FieldType.MONTHS, FieldType.CANCEL_REASON})


def reads_application(trigger: TriggerDef) -> bool:
    """Whether deciding ``trigger`` may read the case's application (its guards, effects or
    payload checks); False lets a store skip parsing it (a timer firing never needs it)."""
    effects = set(trigger.effects)
    guards: set[str] = set()
    for route in trigger.routes:
        effects |= set(route.effects)
        guards |= set(route.guards)
    return not (guards <= APPLICATION_FREE_GUARDS and effects <= APPLICATION_FREE_EFFECTS
                and all(f.type in APPLICATION_FREE_PAYLOAD for f in trigger.payload))


def _stale_accident(case: CaseState, payload: Mapping[str, Any]) -> list[FieldProblem]:
    """A new household without ``accident`` keeps the case's accident: its member must still
    be in the household (workflow/CONTRACT.md §2), else the payload must replace or remove it."""
    household = payload.get("household")
    accident = case.application.accident if case.application else None
    if household is None or accident is None or "accident" in payload:
        return []
    names = {m.name for m in household.members}
    if accident.member in names:
        return []
    return [FieldProblem("data.accident", f"required: the case's accident names "
                         f"{accident.member!r}, who is not in the new household",
                         f"必须填写：本案的意外事件涉及“{accident.member}”，但其已不在新的家庭成员中，"
                         "请更新或删除意外事件", MISSING)]


def _aid_payload(payload: Mapping[str, Any]) -> list[FieldProblem]:
    item = payload["item"]
    if item in PAID_ITEMS:
        name = ITEM_LABELS[item]
        problems = [FieldProblem(f"data.{f}", f"required for {item} aid",
                                 f"发放{name}必须填写此项", MISSING)
                    for f in ("tier", "amount") if f not in payload]
        if item != "medical" and "self_paid_medical_total" in payload:
            problems.append(FieldProblem("data.self_paid_medical_total",
                                         "declared with medical aid only",
                                         "只有发放医疗救助时才填写年度自付医疗费用"))
        return problems
    return [FieldProblem(f"data.{f}", f"{item} is not paid in money",
                         f"{ITEM_LABELS[item]}不发放现金，不应填写此项")
            for f in ("amount", "tier", "self_paid_medical_total") if f in payload]


def _objection_refusal(trigger: str, result: RuleResult) -> ObjectionProblem:
    return ObjectionProblem(f"{trigger} refused: {result.explanation_en}",
                            message_zh=f"不能执行{trigger_zh(trigger)}：{result.explanation_zh}",
                            figures=result.figures)


class _NoCases:
    def open_case_of(self, applicant_id: str) -> str | None:
        return None


class Decider:
    """Decides commands under one policy. Build it once per process and share it."""

    def __init__(self, policy: Policy | None = None, machine: LifecycleMachine | None = None,
                 calendar: WorkingCalendar | None = None) -> None:
        self.policy = policy or load_policy()
        self.machine = machine or LifecycleMachine()
        self.calendar = calendar or WorkingCalendar.for_policy(self.policy)
        self._reads_application = {t.name: reads_application(t)
                                   for t in self.machine.lifecycle.triggers}

    def reads_application(self, trigger: str) -> bool:
        """Whether deciding ``trigger`` may read the case's application (unknown: True)."""
        return self._reads_application.get(trigger, True)

    @property
    def lifecycle(self) -> Lifecycle:
        return self.machine.lifecycle

    def allowed_triggers(self, state: str | None) -> tuple[str, ...]:
        return self.lifecycle.triggers_from(state)

    def _check_payload(self, case: CaseState, command: Command,
                       trigger: TriggerDef | None = None, on: date | None = None
                       ) -> dict[str, Any]:
        trigger = trigger or self.lifecycle.trigger(command.trigger)
        payload = validate_payload(trigger, command.data, on or local_date(command.at))
        problems = []
        if command.trigger == "raise_objection" and payload["objection_id"] in case.objections_used:
            used = payload["objection_id"]
            problems.append(FieldProblem("data.objection_id",
                                         f"{used} was used before in this case",
                                         f"异议编号 {used} 在本案中已使用过，请换用新编号"))
        if command.trigger == "cancel" and payload["reason"] == "other" and not payload.get(
                "detail"):
            problems.append(FieldProblem("data.detail", "required when the reason is other",
                                         "注销原因为“其他”（other）时必须填写说明", MISSING))
        new = payload.get("application")
        if command.trigger == "amend_application" and isinstance(new, Application):
            if new.applicant.id_number != case.applicant_id:
                problems.append(FieldProblem("data.applicant.id_number",
                                             "an amendment cannot change the applicant",
                                             "补正材料不能更换申请人"))
            if new.grassroots_union != case.grassroots_union:
                problems.append(FieldProblem("data.grassroots_union", "an amendment cannot "
                                             "change the union that received the application",
                                             "补正材料不能更换受理申请的基层工会"))
        problems += _stale_accident(case, payload)
        problems += _aid_payload(payload) if command.trigger == "grant_aid" else []
        if problems:
            raise InvalidPayload(command.trigger, problems)
        return payload

    def decide(self, case: CaseState | None, command: Command, open_cases: OpenCases) -> Event:
        """The event this command records on ``case``, or the refusal (a JiekunError)."""
        return self._decide(case, command, open_cases)[0]

    def _decide(self, case: CaseState | None, command: Command, open_cases: OpenCases
                ) -> tuple[Event, Application | None, Route, CaseState]:
        """The event, the application as it leaves the case (the payload's, validated, or
        the case's with the payload's household), the route the machine chose and the case
        decided on (a new one for a submission)."""
        # the moment in Asia/Shanghai and its date, worked out once: the payload, the guards,
        # the derivation and the event each read them
        moment = wuxi_time(require_aware(command.at, "at"))
        case = case or CaseState(command.case_id)
        state = case.state
        due = check_order(case, command.trigger, command.at, self.lifecycle, self.policy,
                          self.calendar)
        if command.trigger not in self.allowed_triggers(state):
            raise self._not_here(case, command)
        trigger = self.lifecycle.trigger(command.trigger)
        parties = case.parties if state is not None else _submission_parties(command.data)
        authorize(trigger.name, trigger.actors, state, command.actor, parties)
        on = moment.date()
        payload = self._check_payload(case, command, trigger, on)
        decision = Decision(case, command, payload, self.policy, self.calendar, open_cases, state,
                            due, on)
        subject = Subject(state or NO_CASE, decision)
        route = self.machine.choose_route(subject, command.trigger)
        if route is None:
            raise self._refusal(subject, state, command.trigger)
        derived = derive(decision, self.lifecycle,
                         subject.state if route.dest is None else route.dest,
                         trigger.effects + route.effects)
        # every value typed by the engine: the payload validated above, the rest derived
        event = Event.trusted(case.case_id, case.version + 1, moment,
                              command.trigger, command.actor.as_json(),
                              self._recorded(command, payload), self.policy.id,
                              self.policy.content_hash, derived)
        return event, decision.application, route, case

    def _not_here(self, case: CaseState, command: Command) -> JiekunError:
        """E-TRANSITION, or the rule a trigger names for the states it is refused in."""
        state = case.state
        trigger = self.lifecycle.trigger_index.get(command.trigger)
        rule_id = trigger.refused_elsewhere_by if trigger is not None else None
        if rule_id is None or state is None:
            return self.not_allowed(state, command.trigger)
        decision = Decision(case, command, {}, self.policy, self.calendar, _NoCases(), state)
        return GuardFailed(command.trigger, [GUARDS[rule_id](decision)])

    def not_allowed(self, state: str | None, trigger: str) -> TransitionNotAllowed:
        """E-TRANSITION; a name that is no trigger at all (a typo) names the closest ones."""
        allowed = self.allowed_triggers(state)
        if trigger in self.lifecycle.trigger_index:
            return TransitionNotAllowed(state, trigger, allowed)
        return UnknownTrigger(state, trigger, allowed, closest_triggers(trigger, allowed))

    def _refusal(self, subject: Subject, state: str | None, trigger: str) -> Exception:
        if subject.failure is not None:
            return subject.failure
        failed = [r for r in subject.results if not r.passed]
        if failed and failed[0].id == "E-OBJECTION":
            return _objection_refusal(trigger, failed[0])
        if failed:
            return GuardFailed(trigger, failed)
        return self.not_allowed(state, trigger)

    @staticmethod
    def _recorded(command: Command, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload as stored: validated values in their JSON form."""
        application = payload.get("application")
        if isinstance(application, Application):
            return application.as_json()
        recorded: dict[str, Any] = {}
        for name, value in payload.items():
            dump = getattr(value, "model_dump", None)
            if dump is not None:
                value = dump(mode="json")
            elif isinstance(value, Decimal):
                value = str(value)
            recorded[name] = value
        return recorded

    def decide_recorded(self, case: CaseState | None, command: Command,
                        derived: Derived, redacted: bool) -> tuple[Event, list[str]]:
        """An event of a case whose personal data was destroyed: order, transition, actor
        and the guards that need no personal data are judged; the recorded derivations are
        taken; what needed the destroyed data is named, not judged. Returns the event and
        what could not be re-checked (``actor``, ``payload``, or a guard's rule id)."""
        case = case or CaseState(command.case_id)
        state = case.state
        check_order(case, command.trigger, command.at, self.lifecycle, self.policy,
                    self.calendar)
        if command.trigger not in self.allowed_triggers(state):
            raise self.not_allowed(state, command.trigger)
        trigger = self.lifecycle.trigger(command.trigger)
        route = self.lifecycle.route_taken(command.trigger, state, derived.state)
        if route is None:
            raise self.not_allowed(state, command.trigger)
        unverifiable: list[str] = []
        actor = command.actor
        parties = case.parties if state is not None else Parties(
            None, derived.grassroots_union, derived.reviewing_body)
        if actor.role == "worker" and actor.id_number is None:
            unverifiable.append("actor")  # the worker's identity went with the personal data
            parties = Parties(None, parties.grassroots_union, parties.reviewing_body)
            if not any(a.role.value == "worker" for a in trigger.actors):
                authorize(trigger.name, trigger.actors, state, actor, parties)
        else:
            authorize(trigger.name, trigger.actors, state, actor, parties)
        public = {k: v for k, v in command.data.items() if k != "redacted"}
        if redacted:
            unverifiable.append("payload")  # the payload itself
            if not any(f.personal and f.required for f in trigger.payload):
                # what is left is a whole payload (grant_aid): typed as the guards read it
                public = self._check_payload(case, replace(command, data=public))
        else:
            public = self._check_payload(case, command)
        decision = Decision(case, command, public, self.policy, self.calendar, _NoCases(), state)
        for guard in route.guards:
            # medical aid's cap reads the self-paid totals declared with earlier grants
            if guard in PERSONAL_GUARDS or (guard == "R-MEDICAL-CAP"
                                            and public.get("item") == "medical"):
                unverifiable.append(guard)
                continue
            result = GUARDS[guard](decision)
            if not result.passed:
                raise (_objection_refusal(trigger.name, result) if guard == "E-OBJECTION"
                       else GuardFailed(trigger.name, [result]))
        event = Event(case_id=case.case_id, seq=case.version + 1, at=command.at,
                      trigger=command.trigger, actor=actor.as_json(),
                      data=dict(command.data), policy_id=self.policy.id,
                      policy_hash=self.policy.content_hash, derived=derived)
        return event, unverifiable

    def apply(self, case: CaseState | None, event: Event) -> CaseState:
        return apply(self.lifecycle, case or CaseState(event.case_id), event)

    def decide_and_fold(self, case: CaseState | None, command: Command,
                        open_cases: OpenCases) -> tuple[Event, CaseState]:
        """Decide, and fold the event into the case (``decide`` then ``apply``, sparing the
        fold a second validation of the application and a second search for the route)."""
        event, application, route, before = self._decide(case, command, open_cases)
        return event, apply(self.lifecycle, before, event, application, route)

