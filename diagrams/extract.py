"""The lifecycle definition (states/) turned into the neutral diagram model.

Built from the same data the engine runs on, so a trainer's diagram cannot drift from what the
engine does: one node per state, one edge per (source, trigger, destination) route.
"""

from __future__ import annotations

from collections.abc import Mapping

from jiekun.diagrams.labels import (
    BRANCH_LABELS,
    LEGEND_LABELS,
    LEGEND_TITLE,
    LIFECYCLE_TITLE,
    PHASE_LABELS,
    actor_label,
    check_lang,
    length_label,
    pick,
    resolve_lengths,
)
from jiekun.diagrams.model import (
    START_NODE_ID,
    Cluster,
    Diagram,
    Edge,
    Lang,
    Legend,
    LegendEntry,
    LegendSample,
    Node,
    NodeKind,
)
from jiekun.states import Lifecycle, Phase, Role, Route, StateDef, TimerDef, TriggerDef


def lifecycle_diagram(lifecycle: Lifecycle, lang: str = "zh", guards: bool = False,
                      lengths: Mapping[str, int] | None = None) -> Diagram:
    """The whole lifecycle: states clustered by phase, every route an edge, timers dashed.

    Besides one node per state there is one point node, ``START_NODE_ID``, outside every
    cluster: ``submit`` creates the case, so its edge needs somewhere to start from.

    ``guards`` adds each route's rule ids to its edge. ``lengths`` overrides the timer lengths
    shown (keys as in the policy file's ``[durations]``; see ``labels.DEFAULT_LENGTHS``).
    """
    language = check_lang(lang)
    resolved = resolve_lengths(lengths)
    start = Node(START_NODE_ID, "", None, kind=NodeKind.START)
    nodes = (start, *(_state_node(s, language) for s in lifecycle.states))
    edges = tuple(
        _edge(lifecycle, trigger, route, language, guards, resolved)
        for trigger in lifecycle.triggers
        for route in trigger.routes
    )
    used = {s.phase for s in lifecycle.states}
    clusters = tuple(Cluster(p.value, pick(PHASE_LABELS[p], language)) for p in Phase if p in used)
    legend = Legend(pick(LEGEND_TITLE, language), tuple(
        LegendEntry(sample, pick(LEGEND_LABELS[sample], language))
        for sample in (LegendSample.ACTION_EDGE, LegendSample.TIMER_EDGE)))
    return Diagram(pick(LIFECYCLE_TITLE, language), nodes, edges, clusters, legend, language)


def _state_node(state: StateDef, lang: Lang) -> Node:
    return Node(state.name, pick(state.label, lang), state.phase.value,
                initial=state.initial, final=state.final)


def _firing_timer(lifecycle: Lifecycle, trigger: TriggerDef, source: str) -> TimerDef | None:
    """The timer whose running out fires ``trigger`` in ``source``; None for a person's action."""
    if not any(a.role is Role.SYSTEM for a in trigger.actors):
        return None
    return next((t for t in lifecycle.timers
                 if t.fires == trigger.name and source in t.states), None)


def _edge(lifecycle: Lifecycle, trigger: TriggerDef, route: Route, lang: Lang, guards: bool,
          lengths: Mapping[str, int]) -> Edge:
    source = START_NODE_ID if route.source is None else route.source
    # an internal route keeps the case where it is: drawn as a loop on its source
    target = source if route.dest is None else route.dest
    timer = None if route.source is None else _firing_timer(lifecycle, trigger, route.source)
    return Edge(
        source=source,
        target=target,
        trigger=trigger.name,
        label=pick(trigger.label, lang),
        actor_label=actor_label(trigger.actors, route.source, lang),
        guards=route.guards if guards else (),
        timed=timer is not None,
        length_label=None if timer is None else length_label(timer, source, lengths, lang),
        branch_label=None if route.branch is None else pick(BRANCH_LABELS[route.branch], lang),
        internal=route.dest is None,
    )
