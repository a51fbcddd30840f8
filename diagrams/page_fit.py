"""What graphviz laid out, read back from its ``-Tjson`` output: the drawing's size, the smallest
font it used, where its text boxes and edge lines are. ``fit`` turns that into the scale a page
needs and the two promises of a page layout: no text under 8 pt once printed, and no edge line
drawn through a text box.

The crossing check is deliberately simple and honest about it: every line (the Bézier curves of
each edge's ``_draw_``, sampled 24 times a segment) against every text box — a node's box (the
page layout puts an edge's words in a node of their own), and each drawn text line of an edge
or cluster label (its width from graphviz, its height the font size). A sample strictly inside
a box shrunk by 1 pt on each side is a crossing; touching a box's border, where a line ends at
its node, is not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: No text on a printed page or a projected slide smaller than this (points).
MIN_LABEL_PT = 8.0
_SAMPLES = 24
_INSET = 1.0


@dataclass(frozen=True)
class Box:
    """A text box in graphviz points (origin bottom left)."""

    name: str
    x0: float
    y0: float
    x1: float
    y1: float

    def holds(self, x: float, y: float) -> bool:
        return (self.x0 + _INSET < x < self.x1 - _INSET
                and self.y0 + _INSET < y < self.y1 - _INSET)


@dataclass(frozen=True)
class Layout:
    """The facts of one graphviz layout the page checks need."""

    width: float  # points, the whole drawing
    height: float
    smallest_font: float  # points, before any scaling
    boxes: tuple[Box, ...]
    lines: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]  # edge name, sampled points

    def crossings(self) -> list[tuple[str, str]]:
        """(edge, text box) pairs where the edge's line runs through the box."""
        found = []
        for name, points in self.lines:
            for box in self.boxes:
                if any(box.holds(x, y) for x, y in points):
                    found.append((name, box.name))
        return found


@dataclass(frozen=True)
class Fit:
    """A layout on a page: the scale it is printed at and what that gives."""

    scale: float
    smallest_pt: float  # the smallest text, in points, as printed
    crossings: tuple[tuple[str, str], ...]

    @property
    def legible(self) -> bool:
        return self.smallest_pt >= MIN_LABEL_PT


def read_layout(json_text: str) -> Layout:
    """The layout in graphviz's ``-Tjson`` output."""
    data: dict[str, Any] = json.loads(json_text)
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    fonts: list[float] = []
    boxes: list[Box] = []
    lines: list[tuple[str, tuple[tuple[float, float], ...]]] = []
    fonts += list(_fonts(data))
    boxes += list(_text_lines(data, "graph"))
    for obj in data.get("objects", []):
        fonts += list(_fonts(obj))
        name = str(obj.get("name", "?"))
        if "pos" in obj and "width" in obj and obj.get("shape") != "point":
            x, y = (float(v) for v in str(obj["pos"]).split(","))
            w, h = float(obj["width"]) * 72 / 2, float(obj["height"]) * 72 / 2
            boxes.append(Box(name, x - w, y - h, x + w, y + h))
        else:
            boxes += list(_text_lines(obj, name))  # a cluster's label
    objects = data.get("objects", [])
    for edge in data.get("edges", []):
        fonts += list(_fonts(edge))
        ends = f"{objects[edge['tail']]['name']}->{objects[edge['head']]['name']}"
        name = str(edge.get("id") or ends)
        boxes += list(_text_lines(edge, f"label of {name}"))
        points = tuple(p for op in edge.get("_draw_", []) if op.get("op") in ("b", "B")
                       for p in _sample([(float(a), float(b)) for a, b in op["points"]]))
        lines.append((f"{name} ({ends})", points))
    return Layout(x1 - x0, y1 - y0, min(fonts) if fonts else 0.0, tuple(boxes), tuple(lines))


def fit(layout: Layout, width_pt: float, height_pt: float) -> Fit:
    """``layout`` scaled down (never up) to fit a box of ``width_pt`` × ``height_pt``."""
    scale = min(1.0, width_pt / layout.width, height_pt / layout.height)
    return Fit(scale, layout.smallest_font * scale, tuple(layout.crossings()))


def _fonts(obj: dict[str, Any]) -> Iterator[float]:
    for key in ("_ldraw_", "_hldraw_", "_tldraw_", "_hdraw_", "_tdraw_", "_draw_"):
        for op in obj.get(key, []):
            if op.get("op") == "F":
                yield float(op["size"])


def _text_lines(obj: dict[str, Any], name: str) -> Iterator[Box]:
    """One box per text line drawn by ``obj``'s ``_ldraw_`` (its font size from the last F)."""
    size = 14.0
    for op in obj.get("_ldraw_", []):
        if op.get("op") == "F":
            size = float(op["size"])
        elif op.get("op") == "T":
            x, y = (float(v) for v in op["pt"])
            width = float(op["width"])
            left = {"l": x, "r": x - width}.get(str(op.get("align", "c")), x - width / 2)
            # the baseline is at y: the glyphs reach about 0.8 of the size above, 0.2 below
            yield Box(f"{name}: {op.get('text', '')}", left, y - 0.2 * size, left + width,
                      y + 0.8 * size)


def _sample(points: list[tuple[float, float]]) -> Iterator[tuple[float, float]]:
    """Points along a piecewise cubic Bézier curve (graphviz's ``b`` op: 1 + 3n points)."""
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i:i + 4]
        for k in range(_SAMPLES + 1):
            t = k / _SAMPLES
            u = 1 - t
            yield (u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                   u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1])
