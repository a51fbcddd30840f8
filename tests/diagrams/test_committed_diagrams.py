"""The diagrams the README shows are the real lifecycle: their committed DOT sources equal
what the definition draws now (``make diagrams`` regenerates them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiekun.diagrams import lifecycle_diagram, to_dot
from jiekun.workflow.decider import Decider

FOLDER = Path(__file__).parents[2] / "diagrams"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_committed_lifecycle_diagram_is_current(lang: str, decider: Decider) -> None:
    drawn = lifecycle_diagram(decider.lifecycle, lang, False,
                              decider.policy.durations.model_dump())
    committed = (FOLDER / f"lifecycle-{lang}.dot").read_text("utf-8")
    assert committed.strip() == to_dot(drawn).strip(), "run `make diagrams` and commit"
    for ext in ("svg", "png"):
        assert (FOLDER / f"lifecycle-{lang}.{ext}").stat().st_size > 10_000
