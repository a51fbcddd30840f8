"""A decision that explains itself: rule id, citation, the figures compared, zh and en text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RuleResult:
    id: str
    passed: bool
    citation: str
    explanation_zh: str
    explanation_en: str
    figures: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "passed": self.passed,
            "citation": self.citation,
            "figures": dict(self.figures),
            "explanation_zh": self.explanation_zh,
            "explanation_en": self.explanation_en,
        }
