"""The one exception root of jiekun and its data-carrying subclasses.

Modelled on python-statemachine's ``exceptions.py``: every refusal is a subclass of
``JiekunError`` that carries what a caller needs to act on it (the field paths, the state and
the triggers allowed there, the failing rule results), so nobody has to parse a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jiekun.policies.results import RuleResult


class JiekunError(Exception):
    """Root of every error jiekun raises on purpose. ``rule`` is the id reported in a replay."""

    rule: str = "E-JIEKUN"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class FieldProblem:
    """One invalid field: its path as written in CONTRACT.md (``household.members[1].x``)."""

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"FieldProblem({self.path!r}, {self.message!r})"


class InvalidInput(JiekunError):
    """Input refused as a whole; ``problems`` lists every field error by path (exit code 2)."""

    rule = "E-PAYLOAD"

    def __init__(self, what: str, problems: Sequence[FieldProblem]) -> None:
        self.what = what
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid {what}:\n{lines}")


class InvalidApplication(InvalidInput):
    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("application", problems)


class InvalidPayload(InvalidInput):
    def __init__(self, trigger: str, problems: Sequence[FieldProblem]) -> None:
        self.trigger = trigger
        super().__init__(f"payload of {trigger}", problems)


class PolicyNotInForce(JiekunError):
    """The policy does not cover a date a decision needs (exit code 3, rule E-POLICY)."""

    rule = "E-POLICY"

    def __init__(self, on: date, reason: str) -> None:
        self.on = on
        self.reason = reason
        super().__init__(f"the policy does not cover {on.isoformat()}: {reason}")


class InvalidPolicyFile(JiekunError):
    rule = "E-POLICY-FILE"


class TransitionNotAllowed(JiekunError):
    rule = "E-TRANSITION"

    def __init__(self, state: str | None, trigger: str, allowed: Sequence[str]) -> None:
        self.state = state
        self.trigger = trigger
        self.allowed = tuple(allowed)
        where = f"state {state}" if state else "a case that does not exist yet"
        super().__init__(
            f"{trigger} is not allowed in {where}; allowed there: {', '.join(allowed) or 'none'}"
        )


class NotAuthorized(JiekunError):
    rule = "E-ACTOR"

    def __init__(self, trigger: str, actor: str, reason: str, verb: str = "fire") -> None:
        self.trigger = trigger
        self.actor = actor
        self.reason = reason
        super().__init__(f"{actor} may not {verb} {trigger}: {reason}")


class GuardFailed(JiekunError):
    """A guard refused the transition; ``results`` are the rule results, the first one failing."""

    def __init__(self, trigger: str, results: Sequence[RuleResult]) -> None:
        self.trigger = trigger
        self.results = tuple(results)
        first = self.results[0]
        self.rule = first.id
        super().__init__(f"{trigger} refused by {first.id} ({first.citation}): "
                         f"{first.explanation_en} / {first.explanation_zh}")


class ObjectionProblem(JiekunError):
    """An objection is not open, or an open one blocks the end of a publicity."""

    rule = "E-OBJECTION"


class HistoryOutOfOrder(JiekunError):
    rule = "E-ORDER"


class ConcurrencyConflict(JiekunError):
    rule = "E-CONFLICT"

    def __init__(self, case_id: str, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"case {case_id} is at version {actual}, not {expected}")


class HistoryTampered(JiekunError):
    rule = "E-TAMPERED"

    def __init__(self, case_id: str, seq: int, reason: str) -> None:
        self.case_id = case_id
        self.seq = seq
        self.reason = reason
        super().__init__(f"case {case_id}, event {seq}: {reason}")
