"""The neutral diagram model: what a lifecycle or case-path diagram says, not how it is drawn.

Why a model between the definition and graphviz (workflow/DESIGN.md, Practices;
after python-statemachine's
``contrib/diagram``): the tests check nodes, edges and labels as plain data instead of pixels,
and another renderer (Mermaid for the docs, say) would only need a new ``render`` module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

#: The id of the point the creating trigger (``submit``) starts from. It is not a state: a case
#: does not exist before it is submitted, but the diagram still has to show that ``submit``
#: enters ``submitted`` and who may fire it.
START_NODE_ID = "__start__"


class NodeKind(StrEnum):
    STATE = "state"
    START = "start"  # see START_NODE_ID


class Emphasis(StrEnum):
    """How strongly an element is drawn; everything is NORMAL in the lifecycle diagram."""

    NORMAL = "normal"
    HIGHLIGHT = "highlight"  # a case path: a state it reached, an edge it took
    CURRENT = "current"  # a case path: the state the case is in after its last step
    FADED = "faded"  # a case path: a state never reached, an edge never taken


class LineStyle(StrEnum):
    SOLID = "solid"  # an action by a person (worker, union, federation)
    DASHED = "dashed"  # a timer firing (the system)


class LegendSample(StrEnum):
    """What a legend row shows a sample of; the renderer draws it like the real thing."""

    ACTION_EDGE = "action_edge"
    TIMER_EDGE = "timer_edge"
    TAKEN_EDGE = "taken_edge"
    FADED_EDGE = "faded_edge"
    CURRENT_STATE = "current_state"
    FADED_STATE = "faded_state"


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str


@dataclass(frozen=True)
class Node:
    id: str  # the state's code name, or START_NODE_ID
    label: str  # in the diagram's language; empty for the start point
    cluster: str | None  # a Cluster id; None outside every cluster
    kind: NodeKind = NodeKind.STATE
    initial: bool = False
    final: bool = False
    emphasis: Emphasis = Emphasis.NORMAL


def step_marker(number: int) -> str:
    """①…㊿ for the first 50 steps (all in Noto Sans CJK), then "(51)": short enough to sit on
    an edge next to a date."""
    if 1 <= number <= 20:
        return chr(0x2460 + number - 1)
    if 21 <= number <= 35:
        return chr(0x3251 + number - 21)
    if 36 <= number <= 50:
        return chr(0x32B1 + number - 36)
    return f"({number})"


@dataclass(frozen=True)
class PathMark:
    """One use of an edge by a case: its step number (from 1), the local date of the step and,
    when known, who acted (an organisation such as ``xinwu``, else the role's name)."""

    step: int
    on: date
    actor: str | None = None

    @property
    def text(self) -> str:
        who = f" {self.actor}" if self.actor else ""
        return f"{step_marker(self.step)} {self.on.isoformat()}{who}"


@dataclass(frozen=True)
class Edge:
    """One (source, trigger, destination) of the definition; an internal route is a self-loop."""

    source: str
    target: str
    trigger: str
    label: str  # the trigger's label in the diagram's language
    actor_label: str  # who may fire it from this source, e.g. "职工、基层工会"
    guards: tuple[str, ...] = ()  # rule ids; empty unless the diagram asked for guards
    timed: bool = False  # fired by the system when a timer runs out
    length_label: str | None = None  # the timer's length, e.g. "5个工作日"; only when timed
    branch_label: str | None = None  # which case facts pick this route among several
    internal: bool = False  # the state does not change (the event is still recorded)
    marks: tuple[PathMark, ...] = ()  # a case path: the steps that took this edge, in order
    emphasis: Emphasis = Emphasis.NORMAL

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.trigger, self.target)

    @property
    def id(self) -> str:
        return f"{self.source}--{self.trigger}--{self.target}"

    @property
    def style(self) -> LineStyle:
        return LineStyle.DASHED if self.timed else LineStyle.SOLID


@dataclass(frozen=True)
class LegendEntry:
    sample: LegendSample
    label: str


@dataclass(frozen=True)
class Legend:
    title: str
    entries: tuple[LegendEntry, ...]


@dataclass(frozen=True)
class Diagram:
    """A whole diagram. Checks its own consistency so a renderer never meets a dangling edge."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...]
    legend: Legend
    lang: Lang = "zh"

    def __post_init__(self) -> None:
        problems = _duplicates("node", (n.id for n in self.nodes))
        problems += _duplicates("edge", (e.id for e in self.edges))
        problems += _duplicates("cluster", (c.id for c in self.clusters))
        node_ids = {n.id for n in self.nodes}
        problems += [f"edge {e.id} has an unknown end" for e in self.edges
                     if e.source not in node_ids or e.target not in node_ids]
        cluster_ids = {c.id for c in self.clusters}
        problems += [f"node {n.id} is in unknown cluster {n.cluster!r}" for n in self.nodes
                     if n.cluster is not None and n.cluster not in cluster_ids]
        if problems:
            raise ValueError("inconsistent diagram: " + "; ".join(problems))

    @property
    def state_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind is NodeKind.STATE)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def nodes_in(self, cluster_id: str | None) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.cluster == cluster_id)

    def edge(self, source: str, trigger: str, target: str) -> Edge:
        return next(e for e in self.edges if e.key == (source, trigger, target))


def _duplicates(what: str, ids: Iterable[str]) -> list[str]:
    counts = Counter(ids)
    return [f"duplicate {what} id {i!r}" for i, n in counts.items() if n > 1]


@dataclass(frozen=True)
class PathStep:
    """One recorded event of a case, as the path diagram needs it.

    ``source`` is None only for the creating ``submit``; ``dest == source`` for an internal
    event. ``at`` must be timezone-aware: the date shown is the Asia/Shanghai date. ``actor``
    is who acted as the step's mark shows it (the organisation, e.g. ``wuxi-city``), if given.
    """

    trigger: str
    source: str | None
    dest: str
    at: datetime
    actor: str | None = None
