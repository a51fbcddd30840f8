"""The durable engine: the decider over a store, one transaction per command.

Event, projection, timer and vault changes commit in one transaction, or not at all. Listeners
are called after the commit, never before, so a rolled-back transition notifies nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jiekun.persistence.chain import GENESIS, utc_text
from jiekun.persistence.database import make_engine, require_current_schema
from jiekun.persistence.queries import (
    CaseFilter,
    EventRecord,
    case_events,
    case_rows,
    event_at,
    events_since,
)
from jiekun.persistence.store import Loaded, Store, UnitOfWork, VersionConflict, Write
from jiekun.policies.authorization import Actor, may_read
from jiekun.policies.errors import ConcurrencyConflict, JiekunError, NotAuthorized
from jiekun.policies.policy_file import Policy
from jiekun.policies.routing import CITY
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.rows import (
    case_of,
    event_of,
    kept_columns,
    projection,
    stored_event,
    timer_row,
)

Listener = Callable[[Event], None]
_RECENT = 10_000  # cases whose last written state the engine keeps, oldest dropped first
log = logging.getLogger(__name__)


class IdempotencyMismatch(JiekunError):
    rule = "E-PAYLOAD"


class TimerGone(JiekunError):
    """The timer to fire is no longer pending: fired by another process, or void."""

    rule = "E-TIMER-GONE"


@dataclass(frozen=True)
class TimerClaim:
    """Fire only if this timer row is still pending, claiming it in the same transaction."""

    case_id: str
    armed_seq: int


class _StaleCache(Exception):
    """The case changed in the store since this engine last wrote it (its write failed)."""


class TimerBatch:
    """Firings inside one transaction (``Engine.timer_batch``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.uow: UnitOfWork | None = None
        self.committed: list[Event] = []

    def fire(self, command: Command, claim: TimerClaim) -> Event:
        """Fire one timer in a savepoint: a refusal rolls back this firing only."""
        uow = self.uow
        assert uow is not None
        try:
            with uow.savepoint():
                event = self.engine._execute_in(uow, command, None, claim, trust_cache=True)
        except _StaleCache:
            self.engine._forget(command.case_id)
            with uow.savepoint():
                event = self.engine._execute_in(uow, command, None, claim, trust_cache=False)
        self.committed.append(event)
        return event

    def block(self, claim: TimerClaim) -> None:
        assert self.uow is not None
        self.uow.block_timer(claim.case_id, claim.armed_seq)


class _OpenCases:
    def __init__(self, uow: UnitOfWork, closed: frozenset[str]) -> None:
        self._uow, self._closed = uow, closed

    def open_case_of(self, applicant_id: str) -> str | None:
        return next((case_id for case_id, state in self._uow.cases_of_applicant(applicant_id)
                     if state not in self._closed), None)


def _reader_scope(reader: Actor) -> dict[str, str] | None:
    """The filter that keeps a list within what ``reader`` may read (None: nothing)."""
    role, org = reader.role, reader.org
    if role in ("auditor", "system") or (role == "federation" and org == CITY):
        return {}
    if role == "federation" and org:
        return {"reviewing_body": org}
    if role == "grassroots_union" and org:
        return {"grassroots_union": org}
    if role == "worker" and reader.id_number:
        return {"applicant_id": reader.id_number.upper()}
    return None


class Engine:
    """Build once per process (``Engine.open``) and share; each call is its own transaction."""

    def __init__(self, store: Store, decider: Decider) -> None:
        self.store = store
        self.decider = decider
        self._closed = frozenset(s.name for s in decider.lifecycle.states if s.closed)
        self._listeners: list[Listener] = []
        self._recent: dict[str, tuple[str, CaseState]] = {}  # case → (head hash, case)

    @classmethod
    def open(cls, url: str | None = None, *, policy: Policy | None = None,
             decider: Decider | None = None) -> Engine:
        """Open the store at ``url`` (default: ``sqlite:///jiekun.db``); SchemaBehind when it
        needs ``jiekun db upgrade``."""
        engine = make_engine(url)
        require_current_schema(engine)
        return cls(Store(engine), decider or Decider(policy))

    def close(self) -> None:
        """Release the store's connections: this thread's write connection (kept open between
        transitions) and the pool. ``engine.store.engine.dispose()`` alone leaves the write
        connection open: a process opening many engines would run out of server connections."""
        self.store.close()
        self.store.engine.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event committed through this engine; returns an
        unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def execute(self, command: Command, expected_version: int | None = None,
                claim: TimerClaim | None = None) -> Event:
        """Decide and commit one command. Refusals raise a JiekunError and store nothing."""
        try:
            return self._execute_once(command, expected_version, claim, trust_cache=True)
        except _StaleCache:
            # another engine wrote the case since this one did: again, from the stored rows
            self._forget(command.case_id)
            return self._execute_once(command, expected_version, claim, trust_cache=False)

    def _execute_once(self, command: Command, expected_version: int | None,
                      claim: TimerClaim | None, *, trust_cache: bool) -> Event:
        with self.store.unit_of_work() as uow:
            uow.lock_for_write()
            key = command.idempotency_key
            if key is not None and claim is None:
                done = uow.event_by_key(key)
                if done is not None:
                    return self._repeated(uow, command, done)
            event = self._execute_in(uow, command, expected_version, claim,
                                     trust_cache=trust_cache)
        self._after_commit([event])
        return event

    @contextmanager
    def timer_batch(self) -> Iterator[TimerBatch]:
        """Several timer firings in one transaction, each all-or-nothing in its own savepoint
        (what issue 4 allows to spare a commit per firing); listeners after the commit."""
        batch = TimerBatch(self)
        with self.store.unit_of_work() as uow:
            uow.lock_for_write()
            batch.uow = uow
            yield batch
        self._after_commit(batch.committed)

    def _execute_in(self, uow: UnitOfWork, command: Command, expected_version: int | None,
                    claim: TimerClaim | None, *, trust_cache: bool) -> Event:
        # A timer that fired has had its row rewritten by that firing (void, or the next
        # state's timer), so the claim alone says whether it may fire: no lookup of its
        # idempotency key is needed (the key's unique index stays as the backstop).
        if claim is not None and not uow.claim_timer(claim.case_id, claim.armed_seq):
            raise TimerGone(f"the timer of {claim.case_id} armed by event "
                            f"{claim.armed_seq} is no longer pending (fired, or void)")
        return self._decide_and_write(uow, command, expected_version, trust_cache)

    def _after_commit(self, events: list[Event]) -> None:
        destroy = self.decider.policy.retention.destroy_personal_data
        if destroy and any(e.derived.state == "purged" for e in events):
            self.store.flush_destroyed()
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # a listener's failure must not undo or hide an event
                    log.exception("listener failed on %s #%d", event.case_id, event.seq)

    def _repeated(self, uow: UnitOfWork, command: Command, done: tuple[str, int]) -> Event:
        record = event_at(uow.connection, *done)
        assert record is not None
        event = event_of(record.stored)
        if (event.case_id, event.trigger) != (command.case_id, command.trigger):
            raise IdempotencyMismatch(f"idempotency key {command.idempotency_key!r} was used "
                                      f"for {event.trigger} on {event.case_id}")
        return event

    def _decide_and_write(self, uow: UnitOfWork, command: Command,
                          expected_version: int | None, trust_cache: bool) -> Event:
        # The case this engine committed last is decided on without reading its rows: the
        # write is conditional on the stored version and head hash, so a case another engine
        # moved meanwhile fails it (_StaleCache), and the command runs again from the rows.
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
            event, after = self.decider.fire(case, command, _OpenCases(uow, self._closed))
        except JiekunError:
            if cached is not None and not self._still_stored(uow, command.case_id, head):
                raise _StaleCache(command.case_id) from None  # refused on an old copy
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
                raise _StaleCache(command.case_id) from None
            raise ConcurrencyConflict(command.case_id, version, version + 1) from None
        # a case decided without its application (never parsed) is not kept as this case
        partial = (before.application is None and loaded is not None
                   and loaded.application is not None)
        if not partial:
            uow.on_commit(lambda: self._remember(after, hash_))
        return event

    def fire(self, case_id: str, trigger: str, actor: Actor, at: datetime,
             data: dict[str, Any] | None = None, *, expected_version: int | None = None,
             idempotency_key: str | None = None) -> Event:
        return self.execute(Command(case_id, trigger, actor, at, data or {}, idempotency_key),
                            expected_version)

    def submit(self, case_id: str, application: dict[str, Any], actor: Actor, at: datetime,
               *, idempotency_key: str | None = None) -> Event:
        return self.fire(case_id, "submit", actor, at, application,
                         idempotency_key=idempotency_key)

    # Reads -------------------------------------------------------------------------------

    def _case_of(self, loaded: Loaded, whole: bool = True) -> CaseState:
        """The case a projection row holds; the one this engine wrote last when the row's head
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
    def _still_stored(uow: UnitOfWork, case_id: str, head: str) -> bool:
        loaded = uow.load(case_id)
        return loaded is not None and loaded.row.head_hash == head

    def _forget(self, case_id: str) -> None:
        self._recent.pop(case_id, None)

    def _remember(self, case: CaseState, head_hash: str) -> None:
        self._recent[case.case_id] = (head_hash, case)
        if len(self._recent) > _RECENT:
            self._recent.pop(next(iter(self._recent)))

    def stored_case(self, case_id: str) -> CaseState | None:
        """The case as stored, without a reader's check (for the engine's own tools)."""
        with self.store.reading() as connection:
            found = UnitOfWork(connection, self.store.statements).load(case_id)
        return None if found is None else case_of(found.row.snapshot, found.application)

    def _readable(self, case_id: str, reader: Actor) -> CaseState:
        case = self.stored_case(case_id)
        if case is None:
            raise KeyError(case_id)
        if not may_read(reader, case.parties):
            raise NotAuthorized(f"case {case_id}", reader.label, "outside its remit",
                                verb="read")
        return case

    def case(self, case_id: str, reader: Actor) -> CaseState:
        """The case now (KeyError when there is none; NotAuthorized outside the reader's remit)."""
        return self._readable(case_id, reader)

    def history(self, case_id: str, reader: Actor, until: datetime | None = None) -> list[Event]:
        self._readable(case_id, reader)
        with self.store.reading() as connection:
            records = case_events(connection, case_id, None if until is None
                                  else utc_text(until))
        return [event_of(r.stored) for r in records]

    def state_as_of(self, case_id: str, when: datetime, reader: Actor) -> CaseState | None:
        """The case as it stood at ``when``: the fold of its events up to then."""
        case: CaseState | None = None
        for event in self.history(case_id, reader, until=when):
            case = self.decider.apply(case, event)
        return case

    def cases(self, reader: Actor, *, state: str | None = None,
              reviewing_body: str | None = None, recheck_due_before: datetime | None = None,
              limit: int | None = None) -> list[dict[str, object]]:
        """Case summaries within the reader's remit (a federation its own, wuxi-city all, a
        union its own, a worker their own, an auditor all)."""
        scope = _reader_scope(reader)
        if scope is None:
            return []
        if reviewing_body is not None and scope.get("reviewing_body") not in (None,
                                                                           reviewing_body):
            return []
        where = CaseFilter(**{"state": state, "reviewing_body": reviewing_body,
                              "recheck_due_before": None if recheck_due_before is None
                              else utc_text(recheck_due_before), **scope})
        with self.store.reading() as connection:
            return case_rows(connection, where, limit)

    def events_since(self, position: int, limit: int | None = None
                     ) -> list[tuple[int, Event]]:
        """Committed events after ``position`` in commit order, with their positions: a
        durable cursor for the embedding system (keep the last position you processed)."""
        with self.store.reading() as connection:
            records: list[EventRecord] = events_since(connection, position, limit)
        return [(r.position, event_of(r.stored)) for r in records]
