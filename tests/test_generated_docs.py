"""The lifecycle document is generated from the definition; the committed copy is current."""

from __future__ import annotations

from pathlib import Path

from jiekun.states import build_lifecycle
from jiekun.states.document import markdown

ROOT = Path(__file__).parents[1]


def test_lifecycle_document_is_current() -> None:
    committed = (ROOT / "states" / "LIFECYCLE.md").read_text("utf-8")
    assert committed == markdown(build_lifecycle()), "run `make docs` and commit"


def test_lifecycle_document_lists_every_state_and_trigger() -> None:
    text = (ROOT / "states" / "LIFECYCLE.md").read_text("utf-8")
    lifecycle = build_lifecycle()
    assert all(f"| `{s.name}` | {s.label.zh} |" in text for s in lifecycle.states)
    assert all(f"| `{t.name}` | {t.label.zh} |" in text for t in lifecycle.triggers)
