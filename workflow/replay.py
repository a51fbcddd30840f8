"""Replay (workflow/CONTRACT.md §3): a history in, each case's final state and first violation out.

The same decide-and-fold as the durable engine, with no store: every guard, actor and timer is
checked at the event's own time under the policy in force then. A case stops at its first
violation; the other cases go on. Events are judged in file order, R-ONE-OPEN-CASE too.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from jiekun.policies.errors import UNAVAILABLE, FieldProblem, InvalidInput, JiekunError
from jiekun.policies.field_texts import pydantic_zh
from jiekun.policies.policy_file import Policy
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


@dataclass(slots=True)  # one per case of a replay: no __dict__ each
class CaseReplay:
    """One case as replayed: its state after the events applied, the first violation.
    ``events`` holds the events applied unless the replay was asked to count them only
    (``applied``), as the command line does to keep a large history's memory bounded."""

    case: CaseState
    events: list[Event] = field(default_factory=list)
    violation: Violation | None = None
    # lines of a case whose personal data was destroyed: (line, trigger, what it could not
    # re-check: "actor", "payload" or a guard's rule id)
    unverifiable_lines: list[tuple[int, str, list[str]]] = field(default_factory=list)
    applied: int = 0

    @property
    def unverifiable(self) -> int:
        return sum(len(why) for _, _, why in self.unverifiable_lines)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.case.state,
            "category": self.case.category,
            "reviewing_body": self.case.reviewing_body,
            "events_applied": self.applied,
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


def _judge(fire: Fire, replay: CaseReplay, line: HistoryLine, keep_events: bool = True) -> None:
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
    if keep_events:
        replay.events.append(event)
    replay.applied += 1
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


def application_free_states(decider: Decider) -> frozenset[str]:
    """The states from which no trigger of any state reachable from them reads the case's
    application (rejected, withdrawn, cancelled, purged): a case there may drop it."""
    lifecycle = decider.lifecycle
    onward: dict[str, set[str]] = {s.name: set() for s in lifecycle.states}
    for trigger in lifecycle.triggers:
        for route in trigger.routes:
            if route.source is not None:
                onward[route.source].add(route.dest or route.source)
    free = set()
    for state in onward:
        seen, todo = {state}, [state]
        while todo:
            for dest in onward[todo.pop()] - seen:
                seen.add(dest)
                todo.append(dest)
        if not any(decider.reads_application(t) for s in seen
                   for t in lifecycle.triggers_from(s)):
            free.add(state)
    return frozenset(free)


class Replayer:
    """Judges a history's event lines one at a time, in file order (``judge``), and keeps
    the report. ``policies``: the versions the file carries, by hash (an event naming one is
    decided under it, any other under ``decider``).

    ``compact``: a case that can no longer use its application (it stopped at a violation,
    or every trigger left to it reads no application, as in ``rejected``) drops it, and one
    that stopped at a violation keeps only what the report shows; with ``keep_events``
    False the events are counted, not kept. Together they bound the memory of a long
    replay by the cases still open (``jiekun replay``)."""

    def __init__(self, decider: Decider, policies: Mapping[str, Policy] | None = None, *,
                 keep_events: bool = True, compact: bool = False) -> None:
        self.decider = decider
        self.deciders = {hash_: Decider(policy, decider.machine)
                         for hash_, policy in (policies or {}).items()}
        lifecycle = decider.lifecycle
        self.index = OpenCaseIndex(frozenset(s.name for s in lifecycle.states if s.closed))
        self.cases: dict[str, CaseReplay] = {}
        self.keep_events = keep_events
        self.compact = compact
        self._application_free = application_free_states(decider)

    def judge(self, line: HistoryLine) -> None:
        """Judge one event line (after every earlier line of the file)."""
        replay_ = self.cases.get(line.case_id)
        if replay_ is None:
            replay_ = self.cases[line.case_id] = CaseReplay(CaseState(line.case_id))
        if replay_.violation is not None:
            return
        _judge(self._fire, replay_, line, self.keep_events)
        if self.compact:
            self._compact(replay_)

    def _compact(self, replay_: CaseReplay) -> None:
        case = replay_.case
        if replay_.violation is not None:  # never judged again: what the report shows
            if case.version:
                replay_.case = CaseState(case.case_id, case.state, category=case.category,
                                         reviewing_body=case.reviewing_body)
        elif case.application is not None and case.state in self._application_free:
            replay_.case = case.evolve(application=None)

    def report(self) -> ReplayReport:
        """The report of the lines judged so far."""
        return ReplayReport(self.cases)

    def _fire(self, case: CaseState, command: Command, line: HistoryLine
              ) -> tuple[Event, CaseState, list[str]]:
        chosen = self.deciders.get(named_hash(line.policy) or "", self.decider)
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
            event, unverifiable = chosen.decide_recorded(current, command, derived,
                                                         line.redacted)
            after = chosen.apply(current, event)
        else:
            event, after = chosen.decide_and_fold(current, command, self.index)
        self.index.update(after)
        return event, after, unverifiable


# A replay makes few reference cycles, and each full collection walks every case and line
# held (~20-25% of a replay's time with the default thresholds): collect rarely meanwhile.
FEW_COLLECTIONS = (50_000, 50, 100)
_collections = threading.Lock()
_replaying = 0  # replays running in this process's threads
_thresholds = gc.get_threshold()
_froze = False


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely for the duration (what was built before, such
    as the decider and its machine, is frozen: never garbage); the thresholds are back once
    the last replay of the process's threads is done. A process that froze objects itself
    keeps them frozen (``gc.unfreeze`` would thaw them too), and then nothing more is."""
    global _replaying, _thresholds, _froze
    with _collections:
        if not _replaying:
            _thresholds = gc.get_threshold()
            _froze = not gc.get_freeze_count()
            if _froze:
                gc.freeze()
            gc.set_threshold(*FEW_COLLECTIONS)
        _replaying += 1
    try:
        yield
    finally:
        with _collections:
            _replaying -= 1
            if not _replaying:
                gc.set_threshold(*_thresholds)
                if _froze:
                    gc.unfreeze()


def replay(lines: Iterable[str], decider: Decider | None = None, *,
           file_versions: bool = True) -> ReplayReport:
    """Replay a history; InvalidInput (nothing judged) when a line is malformed or a policy
    version line's text does not give its hash.

    An event that names a policy version the file carries (``"policy": "ID@HASH"`` and a
    ``policy_version`` line, as ``case export`` writes them) is decided under that version;
    any other event under ``decider`` (the shipped policy when None). ``file_versions=False``
    decides every event under ``decider`` (``jiekun replay --policy``: a what-if)."""
    decider = decider or Decider()
    with few_collections():
        lines = list(lines)
        parsed = list(parse_history(lines))
        replayer = Replayer(decider, versions_in(lines) if file_versions else {})
        for line in parsed:
            replayer.judge(line)
    return replayer.report()
