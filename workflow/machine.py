"""The one ``transitions`` machine of the process, built from states/.

Built once (a Machine per case costs ~30× more: workflow/DESIGN.md, transitions) with
``auto_transitions=False``
(the default adds guard-free ``to_<state>`` triggers). A command drives it through
``machine.events[name].trigger(subject)`` (``choose_route``) on a short-lived subject that is
never registered, so the machine holds no reference to any case. Each route has one condition, a
bound callable that checks the route's branch, then its route-only payload requirements, then
its guards in states/LIFECYCLE.md order; the first guard that fails is recorded on the subject,
because ``transitions`` itself only returns False. A guard with an outcome of its own
(``guards.OUTCOMES``) is asked that first; only a refusal is explained.

The machine chooses the route; it does not move the subject. Every route is added as an
internal transition (no destination), because the state after a command is the fold's to set
(from the chosen route's destination, recorded in the event): moving a subject that is thrown
away right after, with its exit and enter callbacks, was a third of the machine's time.

Its events are ``RouteEvent``s (``Machine.event_cls``, the library's own way to change how an
event fires): ``transitions`` still holds every route and checks their conditions in the order
they were added, but a trigger skips what this machine never uses: the queue, the callback
lists (checked empty when it is built), the move, and six debug log calls per trigger. That
machinery was half of the machine's time per command (issue 18).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import Event, EventData, Machine, MachineError

from jiekun.policies.errors import FieldProblem, InvalidPayload, JiekunError
from jiekun.policies.field_texts import MISSING
from jiekun.policies.labels import state_zh
from jiekun.policies.results import RuleResult
from jiekun.policies.rules import RULE_IDS
from jiekun.states import Branch, Lifecycle, Route, build_lifecycle
from jiekun.workflow.context import Decision
from jiekun.workflow.guards import GUARDS, OUTCOMES

NO_CASE = "__none__"  # the machine's stand-in for "no case yet", the source of submit

Condition = Callable[[EventData], bool]


@dataclass
class Subject:
    """The machine's model for one command: its state, the decision, what the guards
    explained (a guard whose outcome passed is not explained: ``guards.OUTCOMES``)."""

    state: str
    decision: Decision
    route: Route | None = None
    results: list[RuleResult] = field(default_factory=list)
    failure: JiekunError | None = None


def _subject(event: EventData) -> Subject:
    model = event.model
    assert isinstance(model, Subject)
    return model


BRANCHES: dict[Branch, Callable[[Decision], bool]] = {
    Branch.CAME_FROM_PHASE_OUT: lambda d: d.case.came_from == "phase_out",
    Branch.CAME_FROM_EXITED: lambda d: d.case.came_from == "exited",
    Branch.CONFIRMATIONS_COMPLETE:
        lambda d: d.case.confirmations | {d.command.actor.role} >= {"worker", "grassroots_union"},
    Branch.CONFIRMATIONS_INCOMPLETE:
        lambda d: not d.case.confirmations | {d.command.actor.role} >= {"worker",
                                                                       "grassroots_union"},
    Branch.VERIFICATIONS_COMPLETE:
        lambda d: d.case.verifications | {d.command.actor.role} >= {"federation",
                                                                   "grassroots_union"},
    Branch.VERIFICATIONS_INCOMPLETE:
        lambda d: not d.case.verifications | {d.command.actor.role} >= {"federation",
                                                                       "grassroots_union"},
}


def _route_condition(route: Route, trigger: str) -> Condition:
    """Whether ``route`` is taken: its branch, then its route-only payload requirements, then
    its guards in states/LIFECYCLE.md order, stopping at the first that fails.

    One condition per route rather than one per check: ``transitions`` evaluates a
    transition's conditions in order and stops at the first False, so the outcome is the same,
    and its per-condition dispatch is what the hot path of a transition spends most on."""
    branch = BRANCHES[route.branch] if route.branch is not None else None
    # (what the guard concludes, if it can say so apart, the guard explained)
    guards = tuple((OUTCOMES.get(g), GUARDS[g]) for g in route.guards)
    requires = route.requires

    def holds(event: EventData) -> bool:
        subject = _subject(event)
        decision = subject.decision
        if branch is not None and not branch(decision):
            return False
        subject.route = route
        missing = [f for f in requires if f not in decision.payload] if requires else None
        if missing:
            origin = decision.case.came_from
            subject.failure = InvalidPayload(trigger, [
                FieldProblem(f"data.{f}", f"required when coming from {origin}",
                             f"案件从{state_zh(origin)}返回时必须填写此项", MISSING)
                for f in missing])
            return False
        for outcome, check in guards:
            if outcome is not None and outcome(decision):
                continue  # passed: nothing reads a passed guard's explanation
            result = check(decision)
            subject.results.append(result)
            if not result.passed:
                return False
        return True
    return holds


class RouteEvent(Event):
    """An event of the route machine: the first of the model's state's transitions whose
    conditions all hold is taken, as ``Event.trigger`` decides; nothing is called around it
    (``RouteMachine`` has no callbacks and no queue) and the model does not move."""

    def trigger(self, model: object, *args: Any, **kwargs: Any) -> bool:
        state = getattr(model, self.machine.model_attribute)
        routes = self.transitions.get(state)
        if routes is None:  # (``ignore_invalid_triggers`` is refused when the machine is built)
            raise MachineError(f"{self.machine.name}Can't trigger event {self.name} from "
                               f"state {state}!")
        event_data = EventData(self.machine.states[state], self, self.machine, model, args,
                               kwargs)
        for transition in routes:
            event_data.transition = transition
            for condition in transition.conditions:
                if not condition.check(event_data):
                    break
            else:
                event_data.result = True
                return True
        return False


class RouteMachine(Machine):
    """A ``transitions.Machine`` whose events fire as ``RouteEvent``s."""

    event_cls = RouteEvent

    def check_plain(self) -> None:
        """Refuse what ``RouteEvent`` would skip: a callback, a queue, a move."""
        callbacks = [self.prepare_event, self.before_state_change, self.after_state_change,
                     self.finalize_event, self.on_exception, self.on_final]
        for event in self.events.values():
            for transitions in event.transitions.values():
                for transition in transitions:
                    if transition.dest is not None:
                        raise ValueError(f"{event.name} moves its model: routes are internal")
                    callbacks += [transition.prepare, transition.before, transition.after]
        for state in self.states.values():
            callbacks += [state.on_enter, state.on_exit]
        if any(callbacks) or self.has_queue:
            raise ValueError("the route machine runs no callbacks and no queue")
        if self.ignore_invalid_triggers or any(s.ignore_invalid_triggers
                                               for s in self.states.values()):
            raise ValueError("the route machine refuses a trigger where it has no route")


class LifecycleMachine:
    def __init__(self, lifecycle: Lifecycle | None = None) -> None:
        self.lifecycle = lifecycle or build_lifecycle(RULE_IDS)
        missing = {g for t in self.lifecycle.triggers for r in t.routes for g in r.guards
                   if g not in GUARDS}
        missing |= {r.branch for t in self.lifecycle.triggers for r in t.routes
                    if r.branch is not None and r.branch not in BRANCHES}
        if missing:
            raise LookupError(f"lifecycle names with no binding: {sorted(map(str, missing))}")
        self._lock = threading.Lock()  # not thread-safe: workflow/DESIGN.md, transitions
        self.machine = RouteMachine(
            model=None, states=[NO_CASE, *(s.name for s in self.lifecycle.states)],
            initial=NO_CASE, auto_transitions=False, send_event=True,
        )
        for trigger in self.lifecycle.triggers:
            for route in trigger.routes:
                self.machine.add_transition(trigger.name, route.source or NO_CASE, None,
                                            conditions=[_route_condition(route, trigger.name)])
        self.machine.check_plain()

    def choose_route(self, subject: Subject, trigger: str) -> Route | None:
        """Run ``trigger`` on the subject through the machine: the route taken, or None when
        every route was refused (the subject then holds what refused it). The subject stays
        in its state: where the route leads is ``route.dest`` (None: where it is)."""
        with self._lock:
            moved = self.machine.events[trigger].trigger(subject)
        return subject.route if moved else None
