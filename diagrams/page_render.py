"""A diagram laid out for a page: A4 portrait, A3 portrait or a 16:9 slide.

Unlike ``render`` (one picture of everything, for the README), a page layout must be readable
where it is used: every text at least 8 pt once printed (``page_fit.MIN_LABEL_PT``) and no line
through a text. So an edge's words are a node of their own, between the edge's two halves:
graphviz routes lines around nodes, where it lets them run through edge labels. The guards on
an edge carry their short name with the rule id (``收入≤2L R-DEEP-INCOME``), keyed in the legend.
The scale is computed from graphviz's own layout (``-Tjson``) against the page, and the page is
filled with margins so a PDF is exactly the page (A4: 595 × 842 pt).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import graphviz

from jiekun.diagrams.fonts import CJK_FONT, cjk_font_check
from jiekun.diagrams.guard_names import GuardName
from jiekun.diagrams.labels import LEGEND_TITLE, pick
from jiekun.diagrams.model import Diagram, Edge, NodeKind
from jiekun.diagrams.page_fit import MIN_LABEL_PT, Fit, Layout, read_layout
from jiekun.diagrams.page_fit import fit as fit_layout
from jiekun.diagrams.render import (
    CLUSTER_COLOURS,
    INK,
    edge_attrs,
    legend_sample_cell,
    node_attrs,
)


@dataclass(frozen=True)
class PageSize:
    """A sheet or a slide, in inches, and the margin kept free on every side."""

    name: str
    width: float
    height: float
    margin: float = 0.4

    @property
    def portrait(self) -> bool:
        return self.height >= self.width

    @property
    def inner_pt(self) -> tuple[float, float]:
        return ((self.width - 2 * self.margin) * 72, (self.height - 2 * self.margin) * 72)


PAGES: Mapping[str, PageSize] = {
    "a4": PageSize("a4", 8.27, 11.69, 0.35),
    "a3": PageSize("a3", 11.69, 16.54),
    # PowerPoint's and Impress's 16:9 slide; its PNG is 1920 × 1080 (144 dpi)
    "slide": PageSize("slide", 13.333, 7.5, 0.25),
}
SLIDE_DPI = 144
PRINT_DPI = 150

_EDGE_PT, _TRIGGER_PT, _STATE_PT, _LEGEND_PT = "10", "11", "12", "10"


class PageTooSmall(ValueError):
    """The picture cannot be printed on the page with every text at least 8 pt."""


def page_graph(diagram: Diagram, guards: Mapping[str, GuardName], rankdir: str = "TB",
               extra: Mapping[str, str] | None = None) -> graphviz.Digraph:
    """The graphviz graph of ``diagram`` for a page (not yet scaled: see ``lay_out``)."""
    # a picture without edge words (the overview) packs its ranks closer, and its legend is
    # as large as its states: the smallest text there is the legend's
    bare = not any(_has_words(e) for e in diagram.edges)
    graph = graphviz.Digraph("page", graph_attr={
        "rankdir": rankdir, "fontname": CJK_FONT, "fontsize": "16",
        "labelloc": "t", "newrank": "true", "nodesep": "0.12",
        "ranksep": "0.12" if bare else "0.2", "pad": "0",
        "bgcolor": "white", "charset": "UTF-8", "label": f"<<B>{_esc(diagram.title)}</B>>",
        **(extra or {})},
        node_attr={"fontname": CJK_FONT, "fontsize": _STATE_PT, "shape": "box",
                   "style": "rounded,filled", "fillcolor": "white", "color": INK,
                   "margin": "0.12,0.06"},
        edge_attr={"fontname": CJK_FONT, "fontsize": _EDGE_PT, "color": INK,
                   "arrowsize": "0.7"})
    for node in diagram.nodes_in(None):
        graph.node(node.id, **node_attrs(node))
    for cluster in diagram.clusters:
        fill, border = CLUSTER_COLOURS.get(cluster.id, ("#F7F7F7", "#BDBDBD"))
        with graph.subgraph(name=f"cluster_{cluster.id}") as sub:
            # the phase's name is a node of the cluster, not its label: lines entering a
            # cluster run through a cluster label, never through a node
            sub.attr(label="", style="rounded,filled", fillcolor=fill, color=border,
                     margin="8")
            name = f"phase_{cluster.id}"
            sub.node(name, label=f"<<B>{_esc(cluster.label)}</B>>",
                     shape="plaintext", style="", fontsize="14", margin="0")
            first = diagram.nodes_in(cluster.id)
            if first:  # just above (or before) the phase's first state
                sub.edge(name, first[0].id, style="invis", weight="10")
            for node in diagram.nodes_in(cluster.id):
                sub.node(node.id, **node_attrs(node))
    used: dict[str, GuardName] = {}
    # one words node for a move several states make alike (withdraw from each application
    # state, cancel from each archive state): the same words once, arrows from each source
    shared: dict[tuple[str, str, str, str], str] = {}
    for number, edge in enumerate(diagram.edges):
        style = edge_attrs(edge)
        if not _has_words(edge):
            graph.edge(edge.source, edge.target, **style)
            continue
        colour = style.get("fontcolor", INK)
        label = _words(edge, guards, used, colour)
        key = (edge.trigger, edge.target, label, style.get("color", INK))
        words = shared.get(key) if edge.source != edge.target else None
        if words is None:
            words = f"w{number}"
            if edge.source != edge.target:
                shared[key] = words
            graph.node(words, label=label, shape="plaintext", style="", margin="0.02,0.01",
                       fontsize=_EDGE_PT, fontcolor=colour)
            graph.edge(words, edge.target, **{**style, "id": f"{style['id']}#2"})
        graph.edge(edge.source, words, **{**style, "arrowhead": "none",
                                          "id": f"{style['id']}#1"})
    _legend(graph, diagram, used, _STATE_PT if bare else _LEGEND_PT)
    return graph


@dataclass(frozen=True)
class LaidOut:
    graph: graphviz.Digraph
    layout: Layout
    fit: Fit
    rankdir: str


def lay_out(diagram: Diagram, page: PageSize, guards: Mapping[str, GuardName]) -> LaidOut:
    """Lay ``diagram`` out top-down and left-right, and keep what prints larger on ``page``
    (a view with many neighbours on one side is wide one way and narrow the other); of two
    alike, the one without crossings."""
    best: LaidOut | None = None
    for rankdir in ("TB", "LR") if page.portrait else ("LR", "TB"):
        graph = page_graph(diagram, guards, rankdir)
        layout = read_layout(graph.pipe(format="json").decode("utf-8"))
        width, height = page.inner_pt
        laid = LaidOut(graph, layout, fit_layout(layout, width, height), rankdir)
        if best is None or _better(laid.fit, best.fit):
            best = laid
    assert best is not None
    return best


def _better(one: Fit, other: Fit) -> bool:
    if one.legible != other.legible:
        return one.legible
    if bool(one.crossings) != bool(other.crossings):
        return not one.crossings
    return one.scale > other.scale + 0.01


def render_page(diagram: Diagram, page: PageSize, guards: Mapping[str, GuardName],
                path: Path) -> Fit:
    """Write ``diagram`` on one ``page`` as PDF, PNG, SVG or DOT (by extension); PageTooSmall
    when a text would print under 8 pt."""
    laid = lay_out(diagram, page, guards)
    if not laid.fit.legible:
        raise PageTooSmall(
            f"{diagram.title}: on {page.name} the smallest text would print at "
            f"{laid.fit.smallest_pt:.1f} pt (under {MIN_LABEL_PT:g} pt)")
    write_laid(diagram, laid, page, guards, path)
    return laid.fit


def write_laid(diagram: Diagram, laid: LaidOut, page: PageSize,
               guards: Mapping[str, GuardName], path: Path) -> None:
    """Write a laid-out ``diagram`` scaled onto ``page``: the file is exactly the page (the
    margins fill it around the scaled drawing)."""
    suffix = path.suffix.lower()
    if suffix in (".dot", ".gv"):
        path.write_text(laid.graph.source, encoding="utf-8")
        return
    if suffix not in (".pdf", ".png", ".svg"):
        raise ValueError(f"cannot write a page to {suffix or 'a file without extension'!r}: "
                         "use .pdf, .png, .svg or .dot")
    cjk_font_check()
    width, height = page.inner_pt
    attrs: dict[str, str] = {}
    dpi = SLIDE_DPI if page.name == "slide" else PRINT_DPI
    if suffix == ".png":
        attrs["dpi"] = str(dpi)
    fmt = suffix[1:]
    # graphviz's own scaling to ``size`` is measured, not predicted (it moves a little with
    # the margins): drawn, measured, the margins (or the box) corrected, at most 8 times
    margin_x = margin_y = 0.0
    data = b""
    # the file's size is whole points (PDF, SVG) or pixels (PNG): aim at the page's
    unit = dpi if fmt == "png" else 72
    target = (round(page.width * unit), round(page.height * unit))
    box = [width / 72, height / 72]
    for _attempt in range(8):
        attrs["size"] = f"{box[0]:.4f},{box[1]:.4f}"
        attrs["margin"] = f"{margin_x:.4f},{margin_y:.4f}"
        data = page_graph(diagram, guards, laid.rankdir, attrs).pipe(format=fmt)
        drawn = _drawn_inches(data, fmt, dpi)
        error_x, error_y = target[0] - drawn[0] * unit, target[1] - drawn[1] * unit
        if abs(error_x) < 0.01 and abs(error_y) < 0.01:
            break
        if (error_x < 0 and margin_x == 0) or (error_y < 0 and margin_y == 0):
            # drawn larger than the page even without margins: a smaller box to scale into
            shrink = min(target[0] / (drawn[0] * unit), target[1] / (drawn[1] * unit)) * 0.995
            box = [box[0] * shrink, box[1] * shrink]
            continue
        margin_x = max(0.0, margin_x + _step(error_x) / unit)
        margin_y = max(0.0, margin_y + _step(error_y) / unit)
    path.write_bytes(data)


def _step(error: float) -> float:
    """How much to widen each margin: half the error, but a quarter of a unit once it is
    about one unit (the writer rounds the size, so half a unit could swing back)."""
    if abs(error) < 0.01:
        return 0.0
    if abs(error) >= 1.5:
        return error / 2
    return 0.25 if error > 0 else -0.25


def _drawn_inches(data: bytes, fmt: str, dpi: int) -> tuple[float, float]:
    """The size of a drawing graphviz wrote, from the file's own header."""
    if fmt == "png":  # the IHDR chunk: width and height, big-endian, at bytes 16-24
        return (int.from_bytes(data[16:20], "big") / dpi,
                int.from_bytes(data[20:24], "big") / dpi)
    pattern = (rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)" if fmt == "pdf"
               else rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
    found = re.search(pattern, data)
    if found is None:
        raise RuntimeError(f"cannot read the size of graphviz's {fmt} output")
    return (float(found.group(1)) / 72, float(found.group(2)) / 72)


def write_pages(pages: Sequence[tuple[Diagram, LaidOut]], page: PageSize,
                guards: Mapping[str, GuardName], path: Path) -> None:
    """Laid-out diagrams, one a page: one file for one page, else one PDF (joined with
    poppler's ``pdfunite``)."""
    if len(pages) == 1:
        write_laid(*pages[0], page, guards, path)
        return
    if path.suffix.lower() != ".pdf":
        raise ValueError(f"{len(pages)} pages need a .pdf file, not {path.name} "
                         "(or choose one phase with --phase)")
    unite = shutil.which("pdfunite")
    if unite is None:
        raise RuntimeError("pdfunite not found: install the Debian package poppler-utils")
    with tempfile.TemporaryDirectory(prefix="jiekun-pages-") as folder:
        parts = []
        for number, (diagram, laid) in enumerate(pages, start=1):
            part = Path(folder) / f"{number:02d}.pdf"
            write_laid(diagram, laid, page, guards, part)
            parts.append(str(part))
        subprocess.run([unite, *parts, str(path)], check=True, capture_output=True,
                       timeout=120)


def _esc(text: str) -> str:
    return escape(text, quote=False)


def _has_words(edge: Edge) -> bool:
    return bool(edge.label or edge.marks)


def _words(edge: Edge, guards: Mapping[str, GuardName], used: dict[str, GuardName],
           colour: str) -> str:
    lines = [f"<B>{_esc(mark.text)}</B>" for mark in edge.marks]
    lines.append(f'<FONT POINT-SIZE="{_TRIGGER_PT}">{_esc(edge.label)}</FONT>')
    if edge.branch_label:
        lines.append(_esc(f"（{edge.branch_label}）"))
    who = edge.actor_label
    if edge.length_label:
        who = f"{who} · {edge.length_label}"
    if who:
        lines.append(_esc(who))
    for rule_id in edge.guards:
        name = guards.get(rule_id)
        if name is None:
            lines.append(_esc(f"[{rule_id}]"))
            continue
        used[rule_id] = name
        lines.append(_esc(f"[{name.tag}]"))
    body = "<BR/>".join(lines)
    return f'<<FONT COLOR="{colour}">{body}</FONT>>'


def _legend(graph: graphviz.Digraph, diagram: Diagram, used: Mapping[str, GuardName],
            size: str) -> None:
    """The legend: the line samples, then each guard shown with its rule id and clause."""
    title = pick(LEGEND_TITLE, diagram.lang)
    rows = [f'<TR><TD COLSPAN="3" ALIGN="LEFT"><B>{_esc(title)}</B></TD></TR>']
    rows += [f'<TR>{legend_sample_cell(entry.sample)}'
             f'<TD COLSPAN="2" ALIGN="LEFT">{_esc(entry.label)}</TD></TR>'
             for entry in diagram.legend.entries]
    # short name, rule id, clause: the rule's words are in the handbook's glossary (a long
    # title here would set the picture's width)
    rows += [f'<TR><TD ALIGN="LEFT">{_esc(g.short)}</TD><TD ALIGN="LEFT">{_esc(g.rule_id)}</TD>'
             f'<TD ALIGN="LEFT">{_esc(g.clause)}</TD></TR>'
             for g in used.values()]
    table = ('<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="3"'
             ' CELLPADDING="1">' + "".join(rows) + "</TABLE>")
    with graph.subgraph(name="legend") as sub:
        sub.attr(rank="sink")  # below (or after) the picture, not beside it
        sub.node("__legend__", label=f"<{table}>", shape="plaintext", style="",
                 fontsize=size)


def state_count(diagram: Diagram) -> int:
    """States drawn (the start point left out)."""
    return sum(1 for n in diagram.nodes if n.kind is NodeKind.STATE)
