"""One case's path drawn over the whole lifecycle: the edges it took (numbered and dated), the
state it is in now, and grey for what it never reached.

Drawn over the full lifecycle rather than as a bare chain of steps, so an auditor or trainer
sees at once which alternatives the case did not take. The steps must be transitions of the
definition and follow one another: a path that does not is a broken history, and drawing it
anyway would hide that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jiekun.diagrams.extract import lifecycle_diagram
from jiekun.diagrams.labels import LEGEND_LABELS, PATH_TITLE, check_lang, pick
from jiekun.diagrams.model import (
    START_NODE_ID,
    Diagram,
    Edge,
    Emphasis,
    LegendEntry,
    LegendSample,
    Node,
    PathMark,
    PathStep,
)
from jiekun.states import Lifecycle

# policies/RULES.md, Time: dates are Asia/Shanghai dates, whatever zone a timestamp was stored in.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")

_PATH_LEGEND = (LegendSample.TAKEN_EDGE, LegendSample.FADED_EDGE,
                LegendSample.CURRENT_STATE, LegendSample.FADED_STATE)


def case_path_diagram(lifecycle: Lifecycle, steps: Sequence[PathStep], lang: str = "zh",
                      guards: bool = False, *, lengths: Mapping[str, int] | None = None,
                      title: str | None = None) -> Diagram:
    """The lifecycle diagram with ``steps`` (a case's events, oldest first) marked on it.

    Raises ValueError if there are no steps, a step is not a transition of the lifecycle, a
    step does not start where the previous one ended, or a step's time is naive.
    """
    language = check_lang(lang)
    base = lifecycle_diagram(lifecycle, language, guards, lengths)
    marks = _marks(base, steps)
    reached = {e.source for e in base.edges if e.key in marks}
    reached |= {e.target for e in base.edges if e.key in marks}
    current = steps[-1].dest
    nodes = tuple(_node_emphasis(n, reached, current) for n in base.nodes)
    edges = tuple(_edge_emphasis(e, marks.get(e.key, ())) for e in base.edges)
    legend = replace(base.legend, entries=base.legend.entries + tuple(
        LegendEntry(s, pick(LEGEND_LABELS[s], language)) for s in _PATH_LEGEND))
    heading = title if title is not None else pick(PATH_TITLE, language)
    return replace(base, title=heading, nodes=nodes, edges=edges, legend=legend)


def local_date(at: datetime) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"step time {at.isoformat()} has no timezone: its date is ambiguous")
    return at.astimezone(LOCAL_ZONE).date()


def _step_key(step: PathStep) -> tuple[str, str, str]:
    source = START_NODE_ID if step.source is None else step.source
    return (source, step.trigger, step.dest)


def _marks(base: Diagram, steps: Sequence[PathStep]) -> dict[tuple[str, str, str],
                                                             tuple[PathMark, ...]]:
    if not steps:
        raise ValueError("a case path needs at least one step")
    known = {e.key for e in base.edges}
    found: defaultdict[tuple[str, str, str], list[PathMark]] = defaultdict(list)
    previous: PathStep | None = None
    for number, step in enumerate(steps, start=1):
        described = f"step {number} ({step.trigger}: {step.source} → {step.dest})"
        if _step_key(step) not in known:
            raise ValueError(f"{described} is not a transition of the lifecycle")
        if previous is not None and step.source != previous.dest:
            raise ValueError(f"{described} does not start in {previous.dest}, "
                             f"where step {number - 1} left the case")
        found[_step_key(step)].append(PathMark(number, local_date(step.at), step.actor))
        previous = step
    return {key: tuple(marks) for key, marks in found.items()}


def _node_emphasis(node: Node, reached: set[str], current: str) -> Node:
    if node.id == current:
        return replace(node, emphasis=Emphasis.CURRENT)
    return replace(node, emphasis=Emphasis.HIGHLIGHT if node.id in reached else Emphasis.FADED)


def _edge_emphasis(edge: Edge, marks: tuple[PathMark, ...]) -> Edge:
    if marks:
        return replace(edge, marks=marks, emphasis=Emphasis.HIGHLIGHT)
    return replace(edge, emphasis=Emphasis.FADED)
