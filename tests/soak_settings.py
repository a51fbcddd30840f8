"""How hard the randomized tests try: CI runs them short; ``make soak`` sets
``JIEKUN_SOAK_SCALE`` (a positive integer multiplier) to run them long."""

from __future__ import annotations

import json
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


def scale() -> int:
    text = os.environ.get("JIEKUN_SOAK_SCALE", "1")
    value = int(text)
    if value < 1:
        raise ValueError(f"JIEKUN_SOAK_SCALE must be a positive integer, got {text!r}")
    return value


def examples(default: int) -> int:
    """The number of hypothesis examples for a test whose CI budget is ``default``."""
    return default * scale()


def tally(test_file: str, test: str, **counts: int) -> None:
    """Add ``counts`` for ``test`` of ``test_file`` (its ``__file__``) to ``make soak``'s
    report (``JIEKUN_SOAK_TALLY``, one JSON line each; nothing outside the soak). Kinds:
    ``inputs`` (fuzz inputs tried), ``examples`` and ``commands`` (a state machine's runs and
    the commands it compared)."""
    path = os.environ.get("JIEKUN_SOAK_TALLY")
    if path:
        module = Path(test_file).resolve().relative_to(_ROOT).as_posix()
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"module": module, "test": test, **counts}) + "\n")
