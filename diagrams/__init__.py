"""Diagrams of the case lifecycle for trainers and auditors: the whole lifecycle from states/,
and one case's path over it. Definition → neutral model (``model``) → graphviz (``render``),
so the model can be tested without graphviz."""

from jiekun.diagrams.extract import lifecycle_diagram
from jiekun.diagrams.fonts import CJK_FONT, FontCheckError, cjk_font_check
from jiekun.diagrams.labels import DEFAULT_LENGTHS
from jiekun.diagrams.model import (
    LANGS,
    START_NODE_ID,
    Cluster,
    Diagram,
    Edge,
    Emphasis,
    Lang,
    Legend,
    LegendEntry,
    LegendSample,
    LineStyle,
    Node,
    NodeKind,
    PathMark,
    PathStep,
)
from jiekun.diagrams.path import case_path_diagram
from jiekun.diagrams.render import FORMATS, render, to_dot

__all__ = [
    "CJK_FONT", "DEFAULT_LENGTHS", "FORMATS", "LANGS", "START_NODE_ID", "Cluster", "Diagram",
    "Edge", "Emphasis", "FontCheckError", "Lang", "Legend", "LegendEntry", "LegendSample",
    "LineStyle", "Node", "NodeKind", "PathMark", "PathStep", "case_path_diagram",
    "cjk_font_check", "lifecycle_diagram", "render", "to_dot",
]
