"""Checks of the lifecycle graph, run whenever it is built (workflow/DESIGN.md, Practices)."""

from __future__ import annotations

from collections import deque

from jiekun.states.model import Lifecycle, Role


class LifecycleDefinitionError(ValueError):
    """The lifecycle definition contradicts itself; names every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid lifecycle definition:\n- " + "\n- ".join(problems))


def _reachable(lifecycle: Lifecycle, start: str) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for trigger in lifecycle.triggers:
            for route in trigger.routes:
                if route.source == state and route.dest and route.dest not in seen:
                    seen.add(route.dest)
                    queue.append(route.dest)
    return seen


def validate_lifecycle(lifecycle: Lifecycle, known_rule_ids: frozenset[str] | None) -> None:
    problems: list[str] = []
    names = [s.name for s in lifecycle.states]
    if len(set(names)) != len(names):
        problems.append("duplicate state names")
    initial = [s.name for s in lifecycle.states if s.initial]
    if len(initial) != 1:
        problems.append(f"exactly one initial state expected, found {initial}")
    for trigger in lifecycle.triggers:
        for route in trigger.routes:
            for end in (route.source, route.dest):
                if end is not None and end not in lifecycle.state_index:
                    problems.append(f"{trigger.name}: unknown state {end!r}")
            if route.source is None and route.dest not in initial:
                problems.append(f"{trigger.name}: a creating trigger must enter the initial state")
            if known_rule_ids is not None:
                problems += [f"{trigger.name}: unknown guard {g!r}"
                             for g in route.guards if g not in known_rule_ids]
            fields = {f.name for f in trigger.payload}
            problems += [f"{trigger.name}: route requires unknown payload field {f!r}"
                         for f in route.requires if f not in fields]
        if known_rule_ids is not None:
            problems += [f"{trigger.name}: unknown cited rule {c!r}"
                         for c in trigger.cites if c not in known_rule_ids]
        if (known_rule_ids is not None and trigger.refused_elsewhere_by is not None
                and trigger.refused_elsewhere_by not in known_rule_ids):
            problems.append(f"{trigger.name}: unknown rule {trigger.refused_elsewhere_by!r}")
        if not trigger.actors:
            problems.append(f"{trigger.name}: no actor may fire it")
        sources = [r.source for r in trigger.routes]
        for source in set(sources):
            same = [r for r in trigger.routes if r.source == source]
            if len(same) > 1 and any(r.branch is None for r in same):
                problems.append(f"{trigger.name}: several routes from {source} need branches")
    if initial and not problems:
        unreachable = set(names) - _reachable(lifecycle, initial[0])
        if unreachable:
            problems.append(f"unreachable states: {sorted(unreachable)}")
    for state in lifecycle.states:
        if not state.final and not lifecycle.triggers_from(state.name):
            problems.append(f"{state.name}: not final but has no way out")
        leaving = [r for t in lifecycle.triggers for r in t.routes
                   if r.source == state.name and r.dest not in (None, state.name)]
        if not state.final and not leaving:
            problems.append(f"{state.name}: a trap (no transition leaves it)")
        if state.final and lifecycle.triggers_from(state.name):
            problems.append(f"{state.name}: final but has triggers")
    for timer in lifecycle.timers:
        fired = lifecycle.trigger_index.get(timer.fires)
        if fired is None:
            problems.append(f"timer {timer.kind}: fires unknown trigger {timer.fires!r}")
            continue
        if not fired.timed or any(a.role is not Role.SYSTEM for a in fired.actors):
            problems.append(f"timer {timer.kind}: {timer.fires} is not fired by the system alone")
        if not timer.states <= set(fired.sources):
            problems.append(f"timer {timer.kind}: {timer.fires} is not allowed where it is armed")
        if known_rule_ids is not None and timer.guard not in known_rule_ids:
            problems.append(f"timer {timer.kind}: unknown guard {timer.guard!r}")
    if problems:
        raise LifecycleDefinitionError(problems)
