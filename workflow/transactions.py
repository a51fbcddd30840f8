"""Deciding a command and writing what it decided, inside a store transaction: the engine's
write side, used by ``Engine.execute`` and by timer batches alike.

The case this writer committed last is decided on without reading its rows: the write is
conditional on the stored version and head hash, so a case another engine moved meanwhile
fails it (``StaleCase``), and the caller runs the command again from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from jiekun.persistence.chain import GENESIS
from jiekun.persistence.ports import WritePort
from jiekun.persistence.statements import Loaded, Write
from jiekun.policies.errors import (
    ConcurrencyConflict,
    JiekunError,
    TimerGone,
    VersionConflict,
)
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.row_mapping import case_of, kept_columns, projection, stored_event, timer_row

RECENT = 10_000  # cases whose last written state the writer keeps, oldest dropped first


class StaleCase(Exception):
    """The case changed in the store since this writer last wrote it (its write failed):
    decide again with ``trust_cache=False``. Never leaves the engine."""


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
    """Decides commands with a decider and writes them through a write port."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider
        self._closed = frozenset(s.name for s in decider.lifecycle.states if s.closed)
        self._recent: dict[str, tuple[str, CaseState]] = {}  # case → (head hash, case)

    def decide(self, uow: WritePort, command: Command, expected_version: int | None = None,
               claim: TimerClaim | None = None, *, trust_cache: bool = True) -> Event:
        """Decide ``command`` and write it in ``uow``. A timer's firing first claims its row
        (TimerGone when it is no longer pending): a timer that fired has had its row rewritten
        by that firing, so the claim alone says whether it may fire (the idempotency key's
        unique index stays as the backstop)."""
        if claim is not None and not uow.claim_timer(claim.case_id, claim.armed_seq):
            raise TimerGone(f"the timer of {claim.case_id} armed by event "
                            f"{claim.armed_seq} is no longer pending (fired, or void)")
        return self._decide_and_write(uow, command, expected_version, trust_cache)

    def _decide_and_write(self, uow: WritePort, command: Command,
                          expected_version: int | None, trust_cache: bool) -> Event:
        cached = self._recent.get(command.case_id) if trust_cache else None
        loaded: Loaded | None = None
        case: CaseState | None
        if cached is not None and expected_version in (None, cached[1].version):
            head, case = cached
        else:
            cached = None
            loaded = uow.load(command.case_id)
            whole = self.decider.reads_application(command.trigger)
            case = None if loaded is None else self._case_of(loaded, whole)
            head = GENESIS if loaded is None else loaded.row.head_hash
        version = 0 if case is None else case.version
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(command.case_id, expected_version, version)
        try:
            event, after = self.decider.decide_and_fold(case, command, OpenCases(uow, self._closed))
        except JiekunError:
            if cached is not None and not self._still_stored(uow, command.case_id, head):
                raise StaleCase(command.case_id) from None  # refused on an old copy
            raise
        before = case or CaseState(command.case_id)
        row = stored_event(self.decider.lifecycle, event, head)
        hash_ = row.chain_hash()
        application = after.application
        changed = application is not None and application is not before.application
        try:
            uow.write(Write(
                event=row, hash=hash_, projection=projection(after, hash_, row.at),
                expected_version=version, idempotency_key=command.idempotency_key,
                timer=timer_row(before, after),
                applicant=(application.applicant.id_number, application.model_dump_json())
                if changed and application is not None else None,
                destroy_personal=after.state == "purged"
                and self.decider.policy.retention.destroy_personal_data,
                kept=kept_columns(before, after),
            ))
        except VersionConflict:
            if cached is not None:
                raise StaleCase(command.case_id) from None
            raise ConcurrencyConflict(command.case_id, version, version + 1) from None
        # a case decided without its application (never parsed) is not kept as this case
        partial = (before.application is None and loaded is not None
                   and loaded.application is not None)
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
        if whole or loaded.application is None:
            return case_of(row.snapshot, loaded.application)
        return case_of(row.snapshot, None).evolve(applicant_id=loaded.applicant_id)

    @staticmethod
    def _still_stored(uow: WritePort, case_id: str, head: str) -> bool:
        loaded = uow.load(case_id)
        return loaded is not None and loaded.row.head_hash == head

    def forget(self, case_id: str) -> None:
        self._recent.pop(case_id, None)

    def _remember(self, case: CaseState, head_hash: str) -> None:
        self._recent[case.case_id] = (head_hash, case)
        if len(self._recent) > RECENT:
            self._recent.pop(next(iter(self._recent)))

