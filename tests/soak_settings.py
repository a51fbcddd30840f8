"""How hard the randomized tests try: CI runs them short; ``make soak`` sets
``JIEKUN_SOAK_SCALE`` (a positive integer multiplier) to run them long."""

from __future__ import annotations

import os


def scale() -> int:
    text = os.environ.get("JIEKUN_SOAK_SCALE", "1")
    value = int(text)
    if value < 1:
        raise ValueError(f"JIEKUN_SOAK_SCALE must be a positive integer, got {text!r}")
    return value


def examples(default: int) -> int:
    """The number of hypothesis examples for a test whose CI budget is ``default``."""
    return default * scale()
