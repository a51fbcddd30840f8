"""Deciding a command and writing what it decided, inside a store transaction: the engine's
write side, used by ``Engine.execute`` and by timer batches alike.

The case this writer committed last is decided on without reading its rows: the write is
conditional on the stored version and head hash, so a case another engine moved meanwhile
fails it (``StaleCase``), and the caller runs the command again from the rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from jiekun.persistence.chain import GENESIS
from jiekun.persistence.ports import WritePort
from jiekun.persistence.statements import Loaded, Write
from jiekun.policies.authorization import SYSTEM
from jiekun.policies.errors import (
    ConcurrencyConflict,
    JiekunError,
    TimerGone,
    VersionConflict,
)
from jiekun.workflow.decider import Decider
from jiekun.workflow.idempotency import request_digest, scoped_key
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.row_mapping import case_of, kept_columns, projection, stored_event, timer_row
from jiekun.workflow.timing import due_by

RECENT = 10_000  # cases whose last written state the writer keeps, oldest dropped first


class StaleCase(Exception):
    """The case changed in the store since this writer last wrote it (its write failed):
    decide again with ``trust_cache=False``. Never leaves the engine."""


@dataclass(frozen=True)
class Found:
    """The case a command is decided on, and where it came from: ``head`` its head hash,
    ``loaded`` its rows (None when it came from the writer's memory, or does not exist)."""

    case: CaseState | None
    head: str
    loaded: Loaded | None
    from_cache: bool


def timer_key(case_id: str, armed_seq: int, kind: str) -> str:
    """The idempotency key of a timer's firing: however many processes fire it, it fires
    once."""
    return f"timer:{case_id}:{armed_seq}:{kind}"


@dataclass(frozen=True)
class TimerClaim:
    """Fire only if this timer row is still pending, claiming it in the same transaction."""

    case_id: str
    armed_seq: int


class OpenCases:
    """R-ONE-OPEN-CASE's view of the store: an applicant's open case, if any."""

    def __init__(self, uow: WritePort, closed: frozenset[str]) -> None:
        self._uow, self._closed = uow, closed

    def open_case_of(self, applicant_id: str) -> str | None:
        return next((case_id for case_id, state in self._uow.cases_of_applicant(applicant_id)
                     if state not in self._closed), None)



class CaseWriter:
    """Decides commands with a decider and writes them through a write port. ``decider`` is
    the one its lifecycle is read from; each call may pass the decider of the policy version
    its transaction decides under (``workflow/policy_versions.py``)."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider
        self._closed = frozenset(s.name for s in decider.lifecycle.states if s.closed)
        self._recent: dict[str, tuple[str, CaseState]] = {}  # case → (head hash, case)
        self._recent_lock = threading.Lock()  # threads share one engine, and this memory

    def decide(self, uow: WritePort, command: Command, expected_version: int | None = None,
               claim: TimerClaim | None = None, *, trust_cache: bool = True,
               found: Found | None = None, decider: Decider | None = None) -> Event:
        """Decide ``command`` and write it in ``uow`` (``found``: the case as ``find`` read it
        in this transaction). A timer's firing first claims its row (TimerGone when it is no
        longer pending): a timer that fired has had its row rewritten by that firing, so the
        claim alone says whether it may fire (the idempotency key's unique index stays as the
        backstop); it is dated no earlier than the case's last event (workflow/timing.py)."""
        if claim is not None and not uow.claim_timer(claim.case_id, claim.armed_seq):
            raise TimerGone(f"the timer of {claim.case_id} armed by event "
                            f"{claim.armed_seq} is no longer pending (fired, or void)")
        if found is None:
            found = self.find(uow, command.case_id, command.trigger, expected_version,
                              trust_cache)
        last = found.case.last_at if found.case is not None else None
        if claim is not None and last is not None and command.at < last:
            command = replace(command, at=last)
        return self._decide_and_write(uow, command, expected_version, found,
                                      decider or self.decider)

    def find(self, uow: WritePort, case_id: str, trigger: str,
             expected_version: int | None = None, trust_cache: bool = True) -> Found:
        """The case a command on it is decided on: the one this writer committed last (no
        read), else its rows."""
        cached = self._recent.get(case_id) if trust_cache else None
        if cached is not None and expected_version in (None, cached[1].version):
            return Found(cached[1], cached[0], None, from_cache=True)
        loaded = uow.load(case_id)
        whole = self.decider.reads_application(trigger)
        case = None if loaded is None else self._case_of(loaded, whole)
        return Found(case, GENESIS if loaded is None else loaded.row.head_hash, loaded,
                     from_cache=False)

    def fire_due_timers(self, uow: WritePort, command: Command, *, trust_cache: bool = True,
                        decider: Decider | None = None
                        ) -> tuple[list[Event], Found, JiekunError | None]:
        """Before ``command``: fire, in this transaction and in due order, every timer of its
        case due at or before the command's time (blocked publicities excepted), each dated at
        its due time or at the case's last event if that is later (workflow/timing.py), so a
        history never depends on when a scheduler last ran. Returns the firings and the case
        the command is then decided on, and the refusal that stopped them, if any: a firing
        refused, or a timer waiting for a calendar year (PolicyNotInForce) — the command is
        refused with it, and the firings before it stand (raised at once when there are
        none)."""
        fired: list[Event] = []
        found = self.find(uow, command.case_id, command.trigger, None, trust_cache)
        decider = decider or self.decider
        while found.case is not None:
            try:
                due = due_by(found.case, command.at, decider.lifecycle, decider.policy,
                             decider.calendar)
                if due is None or due.trigger == command.trigger:
                    break
                row = uow.timer_row(command.case_id)
                if row is None or row.status != "pending" or row.kind != due.timer.kind.value:
                    break  # being fired elsewhere, or void: the decision will say E-ORDER
                key = timer_key(command.case_id, row.armed_seq, row.kind)
                timer_command = Command(command.case_id, due.trigger, SYSTEM, due.due, {}, key)
                with uow.savepoint():
                    fired.append(self.decide(uow, timer_command, None,
                                             TimerClaim(command.case_id, row.armed_seq),
                                             found=found, decider=decider))
            except TimerGone:
                break  # taken by another transaction after all: the decision will tell
            except JiekunError as refusal:
                if not fired:
                    raise
                return fired, found, refusal
            found = self.find(uow, command.case_id, command.trigger, None, trust_cache=False)
        return fired, found, None

    def _decide_and_write(self, uow: WritePort, command: Command,
                          expected_version: int | None, found: Found,
                          decider: Decider) -> Event:
        case, head, loaded = found.case, found.head, found.loaded
        cached = found.from_cache
        version = 0 if case is None else case.version
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(command.case_id, expected_version, version)
        try:
            event, after = decider.decide_and_fold(case, command, OpenCases(uow, self._closed))
        except JiekunError:
            if cached and not self._still_stored(uow, command.case_id, head):
                raise StaleCase(command.case_id) from None  # refused on an old copy
            raise
        before = case or CaseState(command.case_id)
        row = stored_event(decider.lifecycle, event, head,
                           lambda: uow.personal_salt(command.case_id))
        hash_ = row.chain_hash()
        application = after.application
        changed = application is not None and application is not before.application
        try:
            uow.write(Write(
                event=row, hash=hash_, projection=projection(after, hash_, row.at),
                expected_version=version, idempotency_key=scoped_key(command),
                request_digest=request_digest(command),
                timer=timer_row(before, after),
                applicant=(application.applicant.id_number, application.model_dump_json())
                if changed and application is not None else None,
                destroy_personal=after.state == "purged"
                and decider.policy.retention.destroy_personal_data,
                kept=kept_columns(before, after),
            ))
        except VersionConflict:
            if cached:
                raise StaleCase(command.case_id) from None
            raise ConcurrencyConflict(command.case_id, version, version + 1) from None
        # a case decided without its application (never parsed) is not kept as this case
        partial = (before.application is None and loaded is not None
                   and loaded.has_application)
        if not partial:
            uow.on_commit(lambda: self._remember(after, hash_))
        return event

    def _case_of(self, loaded: Loaded, whole: bool = True) -> CaseState:
        """The case a projection row holds; the one this writer wrote last when the row's head
        hash is still that one's (parsing the snapshot costs more than the statement).
        ``whole=False``: the command does not read the application (``reads_application``),
        so the vault's text is not parsed — the case carries only the applicant id."""
        row = loaded.row
        cached = self._recent.get(row.case_id)
        if cached is not None and cached[0] == row.head_hash:
            return cached[1]
        if whole or not loaded.has_application:
            return case_of(row.snapshot, loaded.application, row.personal)
        return case_of(row.snapshot, None, row.personal).evolve(
            applicant_id=loaded.applicant_id)

    @staticmethod
    def _still_stored(uow: WritePort, case_id: str, head: str) -> bool:
        loaded = uow.load(case_id)
        return loaded is not None and loaded.row.head_hash == head

    def forget(self, case_id: str) -> None:
        """Decide ``case_id`` from its rows next time (another engine moved it)."""
        with self._recent_lock:
            self._recent.pop(case_id, None)

    def _remember(self, case: CaseState, head_hash: str) -> None:
        with self._recent_lock:
            self._recent[case.case_id] = (head_hash, case)
            if len(self._recent) > RECENT:
                self._recent.pop(next(iter(self._recent)))

