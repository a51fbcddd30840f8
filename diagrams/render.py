"""The diagram model drawn with graphviz ``dot``: DOT source, or SVG, PNG and PDF files.

All presentation decisions (colours, fonts, sizes) live here and nowhere in the model. The font
is named on the graph, the nodes and the edges because graphviz does not inherit a graph's
font into node and edge labels, and without a CJK font every Chinese glyph comes out as an
empty box, silently (workflow/DESIGN.md, graphviz and Chinese).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path

import graphviz

from jiekun.diagrams.fonts import CJK_FONT, cjk_font_check
from jiekun.diagrams.model import (
    Diagram,
    Edge,
    Emphasis,
    LegendSample,
    Node,
    NodeKind,
)

#: file extension → graphviz output format; None: the DOT source itself
FORMATS: Mapping[str, str | None] = {
    ".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None,
}

# 150 dpi keeps a PNG sharp when printed on A4/A3 without making it huge on screen.
PNG_DPI = "150"

LEGEND_NODE_ID = "__legend__"

INK = "#333333"
TIMER_INK = "#1F5FA8"
PATH_INK = "#C0392B"
FADED_LINE = "#D3D3D3"
FADED_TEXT = "#A8A8A8"

_CLUSTER_COLOURS: Mapping[str, tuple[str, str]] = {
    # phase → (fill, border): pale enough to print in greyscale without hiding the text
    "application": ("#EAF2FB", "#9DBBDD"),
    "archive": ("#EAF6EC", "#9CCBA5"),
    "exit": ("#FDF3E3", "#E0BC80"),
    "closed": ("#F2F2F2", "#BDBDBD"),
}

# The whole lifecycle is meant for A3 portrait (inside a printer's margins). dot compresses the
# layout towards that page first and only then scales it down (~0.8: 10 pt edge text prints at
# ~8 pt, states at ~10.5 pt); A4 would shrink it below what a trainer can read.
PAGE_INCHES = "11.3,16.1"

_GRAPH_ATTR = {
    "rankdir": "TB", "fontname": CJK_FONT, "fontsize": "20", "labelloc": "t",
    "newrank": "true", "nodesep": "0.25", "ranksep": "0.35", "pad": "0.3",
    "size": PAGE_INCHES, "ratio": "compress", "charset": "UTF-8",
}
_NODE_ATTR = {
    "fontname": CJK_FONT, "fontsize": "13", "shape": "box", "style": "rounded,filled",
    "fillcolor": "white", "color": INK, "penwidth": "1.2", "margin": "0.15,0.07",
}
_EDGE_ATTR = {
    "fontname": CJK_FONT, "fontsize": "10", "color": INK, "fontcolor": INK, "arrowsize": "0.7",
}


def to_dot(diagram: Diagram) -> str:
    """The graphviz source of ``diagram``."""
    source: str = _graph(diagram).source
    return source


def render(diagram: Diagram, path: Path | str, *, check_font: bool = True) -> Path:
    """Write ``diagram`` to ``path`` as SVG, PNG, PDF or DOT, chosen by the file extension.

    ``check_font`` first makes sure the CJK font resolves when the diagram has Chinese text,
    since a missing font does not fail the rendering but prints empty boxes.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot render a diagram to {suffix or 'a file without extension'!r}"
                         f" ({target.name}): use one of {', '.join(FORMATS)}")
    output = FORMATS[suffix]
    if output is None:
        target.write_text(to_dot(diagram), encoding="utf-8")
        return target
    if check_font and not _is_ascii(diagram):
        cjk_font_check()  # also for "≤" or "①" in an English diagram: DejaVu may lack them
    extra = {"dpi": PNG_DPI} if output == "png" else {}
    data: bytes = _graph(diagram, extra).pipe(format=output)
    target.write_bytes(data)
    return target


def _is_ascii(diagram: Diagram) -> bool:
    texts = [diagram.title, diagram.legend.title, *(c.label for c in diagram.clusters),
             *(n.label for n in diagram.nodes), *(e.label for e in diagram.legend.entries)]
    for edge in diagram.edges:
        texts += [edge.label, edge.actor_label, edge.branch_label or "", edge.length_label or ""]
        texts += [mark.text for mark in edge.marks]
    return all(t.isascii() for t in texts)


def _graph(diagram: Diagram, extra: Mapping[str, str] | None = None) -> graphviz.Digraph:
    graph = graphviz.Digraph(
        "lifecycle", graph_attr={**_GRAPH_ATTR, **(extra or {}), "label": _title(diagram.title)},
        node_attr=_NODE_ATTR, edge_attr=_EDGE_ATTR,
    )
    for node in diagram.nodes_in(None):
        _add_node(graph, node)
    for cluster in diagram.clusters:
        fill, border = _CLUSTER_COLOURS.get(cluster.id, ("#F7F7F7", "#BDBDBD"))
        with graph.subgraph(name=f"cluster_{cluster.id}") as sub:
            sub.attr(label=_html(_bold(_esc(cluster.label))), fontsize="15", style="rounded,filled",
                     fillcolor=fill, color=border, margin="14")
            for node in diagram.nodes_in(cluster.id):
                _add_node(sub, node)
    loops: dict[str, list[Edge]] = {}
    for edge in diagram.edges:
        if edge.source == edge.target:
            loops.setdefault(edge.source, []).append(edge)
        else:
            graph.edge(edge.source, edge.target, label=_edge_label(edge), **_edge_style(edge))
    for group in loops.values():
        _add_loop(graph, group)
    _add_legend(graph, diagram)
    return graph


def _esc(text: str) -> str:
    return escape(text, quote=False)


def _html(body: str) -> str:
    # the graphviz package passes a string in angle brackets through as an HTML-like label
    return f"<{body}>"


def _bold(body: str) -> str:
    return f"<B>{body}</B>"


def _title(title: str) -> str:
    return _html(_bold(_esc(title)))


def _add_node(graph: graphviz.Digraph, node: Node) -> None:
    if node.kind is NodeKind.START:
        faded = node.emphasis is Emphasis.FADED
        graph.node(node.id, label="", shape="point", width="0.2",
                   color=FADED_LINE if faded else INK)
        return
    graph.node(node.id, label=_node_label(node), tooltip=node.id, **_node_style(node))


def _node_label(node: Node) -> str:
    text = _esc(node.label)
    return _html(_bold(text) if node.emphasis is Emphasis.CURRENT else text)


def _node_style(node: Node) -> dict[str, str]:
    style: dict[str, str] = {}
    if node.initial:
        style["penwidth"] = "2"
    if node.final:
        style["peripheries"] = "2"
    if node.emphasis is Emphasis.CURRENT:
        style.update(fillcolor="#FFE08A", color=PATH_INK, penwidth="3.5")
    elif node.emphasis is Emphasis.HIGHLIGHT:
        style.update(color=PATH_INK, penwidth="2")
    elif node.emphasis is Emphasis.FADED:
        style.update(color=FADED_LINE, fontcolor=FADED_TEXT, fillcolor="#FAFAFA")
    return style


def _edge_style(edge: Edge) -> dict[str, str]:
    style = {"style": edge.style.value, "id": edge.id}
    if edge.timed:
        style.update(color=TIMER_INK, fontcolor=TIMER_INK)
    if edge.emphasis is Emphasis.HIGHLIGHT:
        style.update(color=PATH_INK, fontcolor=PATH_INK, penwidth="2.6", arrowsize="0.9")
    elif edge.emphasis is Emphasis.FADED:
        style.update(color=FADED_LINE, fontcolor=FADED_TEXT)
    return style


def _add_loop(graph: graphviz.Digraph, group: list[Edge]) -> None:
    """Draws the self-loops of one node as a single loop carrying all their labels.

    dot 2.43 stacks several labelled loops on one node so that each label lies across the next
    loop; one loop with the labels one under another stays legible. The loop takes the
    strongest emphasis of its members; each member's text keeps its own colour.
    """
    if len(group) == 1:
        edge = group[0]
        label = _html(_loop_text(_edge_lines(edge)))
        graph.edge(edge.source, edge.target, label=label, **_edge_style(edge))
        return
    ranked = (Emphasis.HIGHLIGHT, Emphasis.NORMAL, Emphasis.FADED)
    strongest = next(e for level in ranked for e in group if e.emphasis is level)
    style = _edge_style(strongest)
    style["id"] = "+".join(e.id for e in group)
    blocks = [_colour(_edge_lines(e), _edge_style(e).get("fontcolor")) for e in group]
    label = _html(_loop_text("<BR/>".join(blocks)))
    graph.edge(group[0].source, group[0].source, label=label, **style)


def _loop_text(body: str) -> str:
    # dot puts a loop's label right against the loop's arrowhead: keep a little gap
    return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
            f'<TD WIDTH="8"> </TD><TD>{body}</TD></TR></TABLE>')


def _colour(body: str, colour: str | None) -> str:
    return body if colour is None else f'<FONT COLOR="{colour}">{body}</FONT>'


def _edge_label(edge: Edge) -> str:
    return _html(_edge_lines(edge))


def _edge_lines(edge: Edge) -> str:
    lines = [_bold(_esc(mark.text)) for mark in edge.marks]
    lines.append(f'<FONT POINT-SIZE="11">{_esc(edge.label)}</FONT>')
    if edge.branch_label:
        lines.append(_esc(f"（{edge.branch_label}）"))
    who = edge.actor_label
    if edge.length_label:
        who = f"{who} · {edge.length_label}"
    lines.append(_esc(who))
    if edge.guards:
        lines.append(_esc("[" + ", ".join(edge.guards) + "]"))
    return "<BR/>".join(lines)


def _add_legend(graph: graphviz.Digraph, diagram: Diagram) -> None:
    """The legend as one table node: unlike a cluster of sample edges it does not take part in
    the ranking, so its rows stay together whatever the rest of the layout does."""
    if not diagram.legend.entries:
        return
    rows = [f'<TR><TD COLSPAN="2"><B>{_esc(diagram.legend.title)}</B></TD></TR>']
    rows += [f'<TR>{_legend_sample(entry.sample)}<TD ALIGN="LEFT">{_esc(entry.label)}</TD></TR>'
             for entry in diagram.legend.entries]
    table = ('<TABLE BORDER="1" COLOR="#999999" STYLE="rounded" CELLBORDER="0" CELLSPACING="5"'
             ' CELLPADDING="2">' + "".join(rows) + "</TABLE>")
    graph.node(LEGEND_NODE_ID, label=_html(table), shape="plaintext", style="", fontsize="11")


def _legend_sample(sample: LegendSample) -> str:
    """A table cell drawn like the element it explains (same colours, dashes and widths)."""
    if sample in (LegendSample.CURRENT_STATE, LegendSample.FADED_STATE):
        current = sample is LegendSample.CURRENT_STATE
        node = _node_style(Node("", "", None,
                                emphasis=Emphasis.CURRENT if current else Emphasis.FADED))
        width = "3" if current else "1"
        return (f'<TD STYLE="rounded" BORDER="{width}" COLOR="{node["color"]}"'
                f' BGCOLOR="{node["fillcolor"]}" WIDTH="56" HEIGHT="22"> </TD>')
    emphasis = {LegendSample.TAKEN_EDGE: Emphasis.HIGHLIGHT,
                LegendSample.FADED_EDGE: Emphasis.FADED}.get(sample, Emphasis.NORMAL)
    edge = _edge_style(Edge("", "", "", "", "", timed=sample is LegendSample.TIMER_EDGE,
                            emphasis=emphasis))
    width = "3" if emphasis is Emphasis.HIGHLIGHT else "1"
    dashed = ' STYLE="dashed"' if edge["style"] == "dashed" else ""
    colour = edge.get("color", INK)
    return f'<TD BORDER="{width}" SIDES="B"{dashed} COLOR="{colour}" WIDTH="56"> </TD>'


def node_attrs(node: Node) -> dict[str, str]:
    """The graphviz attributes of ``node`` as this module draws it (label, shape and style):
    for other layouts of the same model (``jiekun.diagrams.page_render``)."""
    if node.kind is NodeKind.START:
        faded = node.emphasis is Emphasis.FADED
        return {"label": "", "shape": "point", "width": "0.2",
                "color": FADED_LINE if faded else INK}
    return {"label": _node_label(node), "tooltip": node.id, **_node_style(node)}


def edge_attrs(edge: Edge) -> dict[str, str]:
    """The line style of ``edge`` (dashes, colour, width) as this module draws it."""
    return _edge_style(edge)


def legend_sample_cell(sample: LegendSample) -> str:
    """A legend table cell drawn like the element ``sample`` explains."""
    return _legend_sample(sample)


CLUSTER_COLOURS = _CLUSTER_COLOURS
