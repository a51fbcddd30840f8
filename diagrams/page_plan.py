"""Which pictures a page size needs: the whole diagram where one page holds it legibly, else an
overview of the states and then each phase — and a phase too large for the page state by
state, a state too large as its moves in and its moves out. Every picture planned prints its
smallest text at 8 pt or more with no line through a text; PageTooSmall where none would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from jiekun.diagrams.guard_names import GuardName
from jiekun.diagrams.labels import PHASE_LABELS, pick
from jiekun.diagrams.model import Diagram
from jiekun.diagrams.page_fit import MIN_LABEL_PT
from jiekun.diagrams.page_render import LaidOut, PageSize, PageTooSmall, lay_out
from jiekun.diagrams.views import PHASES, focus_view, overview, phase_view
from jiekun.states import Lifecycle, Phase

#: ``--phase overview``: the overview page alone (a title slide, the handbook's first picture)
OVERVIEW = "overview"
_OVERVIEW = {"zh": "概览", "en": "overview"}
_MOVES_IN = {"zh": "进入", "en": "moves in"}
_MOVES_OUT = {"zh": "离开与原地", "en": "moves out and in place"}


@dataclass(frozen=True)
class PlannedPage:
    diagram: Diagram
    laid: LaidOut


def _ok(laid: LaidOut) -> bool:
    return laid.fit.legible and not laid.fit.crossings


def plan_pages(diagram: Diagram, lifecycle: Lifecycle, page: PageSize,
               guards: Mapping[str, GuardName], phase: str | None = None
               ) -> list[PlannedPage]:
    """The pages ``diagram`` (the lifecycle or a case path over it) needs on ``page``;
    ``phase`` limits them to one phase (``views.PHASES``), or to the overview alone
    (``OVERVIEW``: every state and move, no words on the moves)."""
    lang = diagram.lang
    if phase == OVERVIEW:
        short = overview(diagram, f"{diagram.title} · {_OVERVIEW[lang]}")
        laid = lay_out(short, page, guards)
        if not _ok(laid):
            raise PageTooSmall(f"the overview does not fit {page.name} with every text at "
                               f"{MIN_LABEL_PT:g} pt or more")
        return [PlannedPage(short, laid)]
    if phase is None:
        whole = lay_out(diagram, page, guards)
        if _ok(whole):
            return [PlannedPage(diagram, whole)]
        short = overview(diagram, f"{diagram.title} · {_OVERVIEW[lang]}")
        laid = lay_out(short, page, guards)
        pages = [PlannedPage(short, laid)] if _ok(laid) else []
        for name in PHASES:
            pages += _phase_pages(diagram, lifecycle, page, guards, name)
        return pages
    return _phase_pages(diagram, lifecycle, page, guards, phase)


def _phase_pages(diagram: Diagram, lifecycle: Lifecycle, page: PageSize,
                 guards: Mapping[str, GuardName], phase: str) -> list[PlannedPage]:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: use one of {', '.join(PHASES)}")
    name = pick(PHASE_LABELS[Phase(phase)], diagram.lang)
    view = phase_view(diagram, lifecycle, phase, f"{diagram.title} · {name}")
    laid = lay_out(view, page, guards)
    if _ok(laid):
        return [PlannedPage(view, laid)]
    pages: list[PlannedPage] = []
    for state in (s for s in lifecycle.states if s.phase.value == phase):
        title = f"{diagram.title} · {name} · {diagram.node(state.name).label}"
        pages += _state_pages(diagram, page, guards, state.name, title)
    return pages


def _state_pages(diagram: Diagram, page: PageSize, guards: Mapping[str, GuardName],
                 state: str, title: str) -> list[PlannedPage]:
    view = focus_view(diagram, [state], title)
    laid = lay_out(view, page, guards)
    if _ok(laid):
        return [PlannedPage(view, laid)]
    lang = diagram.lang
    halves = (
        replace(view, title=f"{title} · {_MOVES_IN[lang]}",
                edges=tuple(e for e in view.edges if e.target == state and e.source != state)),
        replace(view, title=f"{title} · {_MOVES_OUT[lang]}",
                edges=tuple(e for e in view.edges if e.source == state)),
    )
    pages = []
    for half in halves:
        ends = {e.source for e in half.edges} | {e.target for e in half.edges} | {state}
        half = replace(half, nodes=tuple(n for n in half.nodes if n.id in ends))
        half = replace(half, clusters=tuple(c for c in half.clusters
                                            if any(n.cluster == c.id for n in half.nodes)))
        laid = lay_out(half, page, guards)
        if not _ok(laid):
            raise PageTooSmall(
                f"{half.title}: on {page.name} the smallest text prints at "
                f"{laid.fit.smallest_pt:.1f} pt (at least {MIN_LABEL_PT:g} needed) with "
                f"{len(laid.fit.crossings)} lines through a text: use a larger page")
        pages.append(PlannedPage(half, laid))
    return pages
