"""Issue 5's acceptance case: the path of C-8 (07-exit-refused-verified-announced.jsonl),
taken from the real history through the replay and the ``jiekun diagram`` command."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from jiekun.diagrams import START_NODE_ID, Emphasis, case_path_diagram
from jiekun.workflow.cli.diagram import path_steps
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

HISTORY = Path(__file__).parents[1] / "cases" / "histories" / (
    "07-exit-refused-verified-announced.jsonl")

# The case's 13 lines, as the file has them: (source, trigger, destination, date).
TAKEN = [
    (START_NODE_ID, "submit", "submitted", "2024-03-04"),
    ("submitted", "start_preliminary_review", "preliminary_review", "2024-03-04"),
    ("preliminary_review", "pass_preliminary_review", "unit_publicity", "2024-03-04"),
    ("unit_publicity", "unit_publicity_ended", "upper_review", "2024-03-12"),
    ("upper_review", "approve", "media_publicity", "2024-03-13"),
    ("media_publicity", "media_publicity_ended", "archived", "2024-03-21"),
    ("archived", "recheck_due", "under_recheck", "2024-09-21"),
    ("under_recheck", "start_phase_out", "phase_out", "2024-09-23"),
    ("phase_out", "phase_out_ended", "exit_pending", "2025-03-23"),
    ("exit_pending", "refuse_exit", "exit_verification", "2025-03-23"),
    ("exit_verification", "verify_exit", "exit_verification", "2025-03-26"),
    ("exit_verification", "verify_exit", "exit_publicity", "2025-03-26"),
    ("exit_publicity", "exit_publicity_ended", "exited", "2025-04-03"),
]


def test_c8_path_highlights_exactly_its_transitions_in_order(decider: Decider) -> None:
    report = replay(HISTORY.read_text("utf-8").splitlines(), decider)
    diagram = case_path_diagram(decider.lifecycle, path_steps(report.cases["C-8"].events))
    marked = sorted((m.step, e.key, m.on) for e in diagram.edges for m in e.marks)
    assert marked == [(n, (s, t, d), date.fromisoformat(on))
                      for n, (s, t, d, on) in enumerate(TAKEN, start=1)]
    taken_keys = {(s, t, d) for s, t, d, _ in TAKEN}
    for edge in diagram.edges:
        assert (edge.emphasis is Emphasis.HIGHLIGHT) == (edge.key in taken_keys), edge.key
    current = [n.id for n in diagram.nodes if n.emphasis is Emphasis.CURRENT]
    assert current == ["exited"]
    reached = {d for _, _, d, _ in TAKEN}
    faded = {n.id for n in diagram.nodes if n.emphasis is Emphasis.FADED}
    assert faded == {s.name for s in decider.lifecycle.states} - reached


def test_c8_path_through_the_command(tmp_path: Path) -> None:
    out = tmp_path / "c8.svg"
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "diagram", "--history",
                          str(HISTORY), "--case", "C-8", "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    svg = out.read_text("utf-8")
    # graphviz writes the hyphens of the dates as entities in SVG text
    assert "2025&#45;04&#45;03" in svg and "已退档" in svg
