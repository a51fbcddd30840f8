"""The one exception root of jiekun and its data-carrying subclasses.

Modelled on python-statemachine's ``exceptions.py``: every refusal is a subclass of
``JiekunError`` that carries what a caller needs to act on it (the field paths, the state and
the triggers allowed there, the failing rule results), so nobody has to parse a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jiekun.policies.results import RuleResult


class JiekunError(Exception):
    """Root of every error jiekun raises on purpose: a refusal that changed nothing.

    ``rule`` (also ``code``) is the stable id of the refusal: a rule id for a guard failure,
    else an ``E-…`` code (the one a replay reports for the same refusal)."""

    rule: str = "E-JIEKUN"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    @property
    def code(self) -> str:
        """The stable id of this refusal (the same as ``rule``)."""
        return self.rule


class FieldProblem:
    """One invalid field: its path as in workflow/CONTRACT.md (``household.members[1].x``)."""

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


class InvalidArgument(InvalidInput):
    """A call's argument refused (E-INPUT): ``parameter`` names it (a naive datetime, a case
    id outside ``[A-Za-z0-9._-]{1,64}``, a store URL of another database)."""

    rule = "E-INPUT"

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"argument {parameter}", [FieldProblem(parameter, message)])


class InvalidApplication(InvalidInput):
    """An application refused as a whole; ``problems`` name every field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("application", problems)


class InvalidPayload(InvalidInput):
    """A trigger's payload refused; ``problems`` name every field."""

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
    """A policy file that is not valid TOML or breaks the policy's schema."""

    rule = "E-POLICY-FILE"


class TransitionNotAllowed(JiekunError):
    """The trigger is not allowed in the case's state; ``allowed`` lists those that are."""

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
    """The actor may not fire this trigger on this case (or read it); ``reason`` says why."""

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
    """The command breaks the time rule (E-ORDER): it is dated before the case's last event,
    or at or after the due time of a timer whose event is missing (``missing``: its
    trigger)."""

    rule = "E-ORDER"

    def __init__(self, case_id: str, at: datetime, other: datetime,
                 missing: str | None = None) -> None:
        self.case_id = case_id
        self.at = at
        self.other = other
        self.missing = missing
        if missing is None:
            text = (f"case {case_id}: {at.isoformat()} is before the case's last event at "
                    f"{other.isoformat()}")
        else:
            text = (f"case {case_id}: {at.isoformat()} is not before {other.isoformat()}, "
                    f"when a timer fell due, and its event {missing} is missing")
        super().__init__(text)


class ConcurrencyConflict(JiekunError):
    """``expected_version`` was not the case's version: it moved on; read it and decide
    again."""

    rule = "E-CONFLICT"

    def __init__(self, case_id: str, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"case {case_id} is at version {actual}, not {expected}")


class CaseNotFound(JiekunError):
    """No case with this id is stored (E-NOT-FOUND)."""

    rule = "E-NOT-FOUND"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no case {case_id!r} is stored")


class VersionConflict(JiekunError):
    """The store refused a write: the case moved on since it was read, or another writer
    created it first (the engine turns it into ConcurrencyConflict or decides again)."""

    rule = "E-CONFLICT"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id} changed in the store while it was being decided")


class TimerGone(JiekunError):
    """The timer to fire is no longer pending: fired by another process, or void."""

    rule = "E-TIMER-GONE"


class IdempotencyMismatch(JiekunError):
    """An idempotency key was used before for another command."""

    rule = "E-IDEMPOTENCY"


class SchemaBehind(JiekunError):
    """The store's schema is missing or older than this jiekun (run ``jiekun db upgrade``)."""

    rule = "E-SCHEMA"


class StoreBusy(JiekunError):
    """Every connection of the store was in use for longer than its timeout (E-BUSY)."""

    rule = "E-BUSY"

    def __init__(self, pool_size: int, timeout: float) -> None:
        self.pool_size = pool_size
        self.timeout = timeout
        super().__init__(f"all {pool_size} connections of the store stayed busy for "
                         f"{timeout:g} s; try again, or open the engine with a larger pool_size")


class StoreClosed(JiekunError):
    """The engine (and its store) was closed: open a new one (E-BUSY: the store is
    unavailable to this engine)."""

    rule = "E-BUSY"


class HistoryTampered(JiekunError):
    """A stored or given history that cannot be folded: an event does not follow the one
    before it (a missing, repeated or changed event)."""

    rule = "E-TAMPERED"

    def __init__(self, case_id: str, seq: int, reason: str) -> None:
        self.case_id = case_id
        self.seq = seq
        self.reason = reason
        super().__init__(f"case {case_id}, event {seq}: {reason}")
