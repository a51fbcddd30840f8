"""Smaller pictures cut from a whole diagram, for pages and slides: one phase, one state and its
neighbours, or an overview with the states and moves but no edge text.

Cut from the diagram (the lifecycle, or a case path over it) rather than built anew, so a view
shows exactly what the whole shows for its part: the same labels, guards and path marks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from jiekun.diagrams.model import START_NODE_ID, Diagram, Edge, Emphasis, Node
from jiekun.states import Lifecycle, Phase

#: The phases a ``--phase`` option accepts, in the lifecycle's order.
PHASES: tuple[str, ...] = tuple(p.value for p in Phase)


def focus_view(diagram: Diagram, focus: Collection[str], title: str) -> Diagram:
    """The nodes in ``focus``, every edge touching one of them, and the nodes at the other end
    of those edges: faded unless the diagram already marks them, and outside every cluster,
    so they do not stretch a cluster across the page."""
    unknown = sorted(set(focus) - {n.id for n in diagram.nodes})
    if unknown:
        raise ValueError(f"no such states in the diagram: {', '.join(unknown)}")
    edges = tuple(e for e in diagram.edges if e.source in focus or e.target in focus)
    ends = {e.source for e in edges} | {e.target for e in edges} | set(focus)
    nodes = tuple(_neighbour(n) if n.id not in focus else n
                  for n in diagram.nodes if n.id in ends)
    used = {n.cluster for n in nodes}
    clusters = tuple(c for c in diagram.clusters if c.id in used)
    return replace(diagram, title=title, nodes=nodes, edges=edges, clusters=clusters)


def _neighbour(node: Node) -> Node:
    if node.id == START_NODE_ID:
        return node
    emphasis = Emphasis.FADED if node.emphasis is Emphasis.NORMAL else node.emphasis
    return replace(node, cluster=None, emphasis=emphasis)


def phase_view(diagram: Diagram, lifecycle: Lifecycle, phase: str, title: str) -> Diagram:
    """The states of one phase (``PHASES``) with their moves in and out."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: use one of {', '.join(PHASES)}")
    states = [s.name for s in lifecycle.states if s.phase.value == phase]
    return focus_view(diagram, states, title)


_RANK = (Emphasis.CURRENT, Emphasis.HIGHLIGHT, Emphasis.NORMAL, Emphasis.FADED)


def overview(diagram: Diagram, title: str) -> Diagram:
    """Every state and one unlabelled arrow per (source, target, kind of move): small enough
    for a page or a slide at a legible size; the phase views carry the words."""
    merged: dict[tuple[str, str, bool], Edge] = {}
    for edge in diagram.edges:
        key = (edge.source, edge.target, edge.timed)
        bare = replace(edge, label="", actor_label="", guards=(), length_label=None,
                       branch_label=None, marks=())
        kept = merged.get(key)
        if kept is None or _RANK.index(edge.emphasis) < _RANK.index(kept.emphasis):
            merged[key] = bare
    return replace(diagram, title=title, edges=tuple(merged.values()))
