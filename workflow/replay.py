"""Replay (workflow/CONTRACT.md §3): a history in, each case's final state and first violation out.

The same decide-and-fold as the durable engine, with no store: every guard, actor and timer is
checked at the event's own time under the policy in force then. A case stops at its first
violation; the other cases go on. Events are judged in file order, R-ONE-OPEN-CASE too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from jiekun.policies.errors import UNAVAILABLE, FieldProblem, InvalidInput, JiekunError
from jiekun.policies.field_texts import pydantic_zh
from jiekun.workflow.decider import Decider
from jiekun.workflow.history import HistoryLine, parse_history
from jiekun.workflow.history_versions import named_hash, versions_in
from jiekun.workflow.records import CaseState, Command, Derived, Event


@dataclass(frozen=True)
class Violation:
    line: int
    event: str
    rule: str
    message: str
    message_zh: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "event": self.event, "rule": self.rule,
                "message": self.message, "message_zh": self.message_zh}


@dataclass
class CaseReplay:
    case: CaseState
    events: list[Event] = field(default_factory=list)
    violation: Violation | None = None
    # lines of a case whose personal data was destroyed: (line, trigger, what it could not
    # re-check: "actor", "payload" or a guard's rule id)
    unverifiable_lines: list[tuple[int, str, list[str]]] = field(default_factory=list)

    @property
    def unverifiable(self) -> int:
        return sum(len(why) for _, _, why in self.unverifiable_lines)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.case.state,
            "category": self.case.category,
            "reviewing_body": self.case.reviewing_body,
            "events_applied": len(self.events),
            "violation": None if self.violation is None else self.violation.as_json(),
        }
        if self.unverifiable:
            out["unverifiable"] = self.unverifiable
            out["unverifiable_lines"] = [
                {"line": number, "event": trigger, "not_rechecked": why,
                 "because": "its personal data was destroyed (redacted in the export)"}
                for number, trigger, why in self.unverifiable_lines]
        return out


class OpenCaseIndex:
    """Applicant id → the case open for them, kept as events are applied."""

    def __init__(self, lifecycle_closed: frozenset[str]) -> None:
        self._closed = lifecycle_closed
        self._open: dict[str, str] = {}

    def open_case_of(self, applicant_id: str) -> str | None:
        return self._open.get(applicant_id)

    def update(self, case: CaseState) -> None:
        if case.applicant_id is None:
            return
        if case.state in self._closed:
            if self._open.get(case.applicant_id) == case.case_id:
                del self._open[case.applicant_id]
        else:
            self._open[case.applicant_id] = case.case_id


@dataclass
class ReplayReport:
    cases: dict[str, CaseReplay]

    @property
    def violations(self) -> int:
        return sum(1 for c in self.cases.values() if c.violation is not None)

    def as_json(self) -> dict[str, Any]:
        return {"cases": {k: v.as_json() for k, v in self.cases.items()},
                "violations": self.violations}


Fire = Callable[[CaseState, Command, HistoryLine], tuple[Event, CaseState, list[str]]]


def _judge(fire: Fire, replay: CaseReplay, line: HistoryLine) -> None:
    case = replay.case
    command = Command(line.case_id, line.trigger, line.actor, line.at, line.data or {})
    try:
        event, after, unverifiable = fire(case, command, line)
    except JiekunError as refusal:
        if refusal.code in UNAVAILABLE:  # ``case import``: the store's state, not the line's
            raise
        replay.violation = Violation(line.line, line.trigger, refusal.rule, refusal.message,
                                     refusal.message_zh)
        return
    replay.events.append(event)
    replay.case = after
    if unverifiable:
        replay.unverifiable_lines.append((line.line, line.trigger, unverifiable))


def judge_history(lines: Iterable[HistoryLine], fire: Fire,
                  start: Callable[[str], CaseState]) -> ReplayReport:
    """Fire every line in file order; a case stops at its first violation."""
    cases: dict[str, CaseReplay] = {}
    for line in lines:
        if line.case_id not in cases:
            cases[line.case_id] = CaseReplay(start(line.case_id))
        replay_ = cases[line.case_id]
        if replay_.violation is None:
            _judge(fire, replay_, line)
    return ReplayReport(cases)


def replay(lines: Iterable[str], decider: Decider | None = None, *,
           file_versions: bool = True) -> ReplayReport:
    """Replay a history; InvalidInput (nothing judged) when a line is malformed or a policy
    version line's text does not give its hash.

    An event that names a policy version the file carries (``"policy": "ID@HASH"`` and a
    ``policy_version`` line, as ``case export`` writes them) is decided under that version;
    any other event under ``decider`` (the shipped policy when None). ``file_versions=False``
    decides every event under ``decider`` (``jiekun replay --policy``: a what-if)."""
    decider = decider or Decider()
    lines = list(lines)
    parsed = list(parse_history(lines))
    policies = versions_in(lines) if file_versions else {}
    deciders = {hash_: Decider(policy, decider.machine) for hash_, policy in policies.items()}
    index = OpenCaseIndex(frozenset(s.name for s in decider.lifecycle.states if s.closed))

    def fire(case: CaseState, command: Command, line: HistoryLine
             ) -> tuple[Event, CaseState, list[str]]:
        chosen = deciders.get(named_hash(line.policy) or "", decider)
        return _decide(chosen, case, command, line)

    def _decide(decider: Decider, case: CaseState, command: Command, line: HistoryLine
                ) -> tuple[Event, CaseState, list[str]]:
        current = case if case.state else None
        unverifiable: list[str] = []
        if line.derived is not None and (line.redacted or (
                current is not None and current.application is None)):
            try:
                derived = Derived.model_validate(line.derived)
            except ValidationError as error:
                raise InvalidInput("history file", [FieldProblem(
                    f"line {line.line}", f"derived: {error.errors()[0]['msg']}",
                    f"derived：{pydantic_zh(error.errors()[0])}")]) from None
            event, unverifiable = decider.decide_recorded(current, command, derived,
                                                          line.redacted)
            after = decider.apply(current, event)
        else:
            event, after = decider.decide_and_fold(current, command, index)
        index.update(after)
        return event, after, unverifiable

    return judge_history(parsed, fire, CaseState)
