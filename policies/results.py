"""A decision that explains itself: rule id, citation, the figures compared, zh and en text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, init=False)
class RuleResult:
    """One rule's outcome. ``rules`` holds the results a rule is made of, as data (R-ELIGIBLE:
    every rule of §1.2 with its figures), never flattened into ``figures``."""

    id: str
    passed: bool
    citation: str
    explanation_zh: str
    explanation_en: str
    figures: dict[str, str] = field(default_factory=dict)
    rules: tuple[RuleResult, ...] = ()

    def __init__(self, id: str, passed: bool, citation: str, explanation_zh: str,
                 explanation_en: str, figures: dict[str, str] | None = None,
                 rules: tuple[RuleResult, ...] = ()) -> None:
        # filled at once: the generated frozen __init__ sets each field through
        # object.__setattr__, and one assessment makes a dozen results (~1.9 µs against ~0.6)
        self.__dict__.update(id=id, passed=passed, citation=citation,
                             explanation_zh=explanation_zh, explanation_en=explanation_en,
                             figures={} if figures is None else figures, rules=rules)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "passed": self.passed,
            "citation": self.citation,
            "figures": dict(self.figures),
            "explanation_zh": self.explanation_zh,
            "explanation_en": self.explanation_en,
        }
        if self.rules:  # only where there are some: assess's rules keep their shape
            out["rules"] = [r.as_json() for r in self.rules]
        return out
