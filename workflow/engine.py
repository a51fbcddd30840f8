"""The durable engine: commands decided over a store, one transaction each.

Every command is decided under the store's current policy version (``workflow/
policy_versions.py``), learnt in the statement that takes the write lock: every engine and
scheduler process on a store decides under the same version, and one published while a
process runs is used by its next command.

Event, projection, timer and vault changes commit in one transaction, or not at all. Listeners
are called after the commit, never before, so a rolled-back transition notifies nobody. The
engine holds commands and transactions; its reads are ``CaseReader``'s (``workflow/reader.py``),
its decisions and writes ``CaseWriter``'s (``workflow/transactions.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from jiekun.persistence import database
from jiekun.persistence.keys import FROM_ENVIRONMENT, FromEnvironment, KeyProvider
from jiekun.persistence.ports import StorePort, WritePort
from jiekun.persistence.store import Store
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import (
    IdempotencyMismatch,
    JiekunError,
    SchemaBehind,
)
from jiekun.policies.policy_file import Policy
from jiekun.policies.policy_toml import dumps
from jiekun.workflow import arguments, attempts, policy_versions
from jiekun.workflow.clock import RealClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.idempotency import request_digest, scoped_key
from jiekun.workflow.reader import CaseReader
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.transactions import CaseWriter, StaleCase, TimerClaim

Listener = Callable[[Event], None]
log = logging.getLogger(__name__)


class TimerBatch:
    """Firings inside one transaction (``Engine.timer_batch``), each all-or-nothing."""

    def __init__(self, writer: CaseWriter, uow: WritePort, decider: Decider) -> None:
        self.writer = writer
        self.uow = uow
        self.decider = decider  # of the policy version current in this transaction
        self.committed: list[Event] = []
        self._refused: dict[TimerClaim, tuple[Command, JiekunError]] = {}

    def prefetch(self, case_ids: list[str]) -> None:
        """The data keys of the cases about to be fired, fetched at once."""
        self.uow.prefetch_keys(case_ids)

    def fire(self, command: Command, claim: TimerClaim) -> Event:
        """Fire one timer in a savepoint: a refusal rolls back this firing only."""
        try:
            try:
                with self.uow.savepoint():
                    event = self.writer.decide(self.uow, command, None, claim,
                                               trust_cache=True, decider=self.decider)
            except StaleCase:
                self.writer.forget(command.case_id)
                with self.uow.savepoint():
                    event = self.writer.decide(self.uow, command, None, claim,
                                               trust_cache=False, decider=self.decider)
        except JiekunError as refusal:  # logged if ``block`` blocks the timer for it
            self._refused[claim] = (command, refusal)
            raise
        self.committed.append(event)
        return event

    def block(self, claim: TimerClaim) -> None:
        """Leave a due timer waiting: its trigger was refused (an objection is open). The
        refusal is logged when this blocks the timer, once: not at every scheduler pass."""
        blocked = self.uow.block_timer(claim.case_id, claim.armed_seq)
        refused = self._refused.pop(claim, None)
        if blocked and refused is not None and attempts.logged(refused[1]):
            attempts.record_in(self.uow, *refused)

    def date_timer(self, case_id: str, armed_seq: int, due: str) -> bool:
        """Give a timer armed without a due time its due time (UTC text)."""
        return self.uow.set_timer_due(case_id, armed_seq, due)


class Engine:
    """The case-lifecycle engine over a durable store. Build once per process
    (``Engine.open``) and share it between threads: each call is its own transaction on a
    connection it borrows from a bounded set and gives back.

    Commands (``submit``, ``fire``, ``execute``) raise a ``JiekunError`` subclass when refused
    and then change nothing; reads (``case``, ``cases``, ``history``, ``state_as_of``,
    ``events_since``, ``pending_timers``) return only what the reader may read.

    Commands are decided under the store's current policy version, whatever ``decider`` says:
    ``decider`` is used for the version whose hash is its policy's (its calendar, its
    machine). Building an engine reads the store's current version."""

    def __init__(self, store: StorePort, decider: Decider | None = None) -> None:
        self.store = store
        self.book = policy_versions.PolicyBook(decider)
        with store.reads() as reads:
            first = self.book.decider(reads.current_policy_number(), reads)
        self.writer = CaseWriter(first)
        self.reader = CaseReader(store, first, self.book)
        self._listeners: list[Listener] = []

    @property
    def decider(self) -> Decider:
        """The decider of the newest policy version this engine has met (the store's current
        one as of its last command or read of the version; ``current_decider`` asks)."""
        latest = self.book.latest
        assert latest is not None
        return latest

    def current_decider(self) -> Decider:
        """The decider of the store's current policy version, read now."""
        with self.store.reads() as reads:
            return self.book.decider(reads.current_policy_number(), reads)

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = False,
             policy: Policy | None = None, decider: Decider | None = None,
             pool_size: int = 8, timeout: float = 30.0,
             keys: KeyProvider | FromEnvironment | None = FROM_ENVIRONMENT) -> Engine:
        """Open the store at ``url`` (any SQLAlchemy URL of SQLite or PostgreSQL; default
        ``sqlite:///jiekun.db``). ``upgrade=True`` creates or migrates its schema first (as
        ``jiekun db upgrade`` does); otherwise a missing or older schema raises SchemaBehind
        and a missing SQLite file is not created. ``pool_size`` bounds the connections the
        engine's threads share; a call that waits ``timeout`` seconds for one raises
        StoreBusy (E-BUSY).

        The engine decides under the store's current policy version (a new store's is the
        shipped policy, published by the upgrade). ``policy`` (or ``decider``'s policy), when
        given and never published to the store, is published as its new current version first
        (by "Engine.open"): every engine and scheduler on the store then decides under it, as
        after ``jiekun policy publish``. One the store has had already is not published again
        (opening an engine never takes a store back to an older version: ``jiekun policy
        publish`` does, on purpose); ``decider`` is then used for that version when it is the
        current one. A policy built in code is published as the TOML text of what it says
        (``policies/policy_toml.py``).

        ``keys``: the key provider of the store's vault (issue 19; ``jiekun.persistence.keys``:
        ``FileKeyProvider(path)``, or a host's own KMS/HSM provider with the same methods). By
        default the environment's: ``JIEKUN_MASTER_KEY_FILE``, else ``<db>.master-key`` beside
        a SQLite store; ``upgrade=True`` makes that file when it is missing (on PostgreSQL with
        none named: E-KEY). With no key at all the engine still opens: chains, projections and
        every read without personal data work, and personal reads and writes raise
        KeyUnavailable (E-KEY)."""
        url = url or "sqlite:///jiekun.db"
        missing = None if upgrade else database.missing_sqlite_file(url)
        if missing is not None:
            raise SchemaBehind(f"there is no store at {missing}: run `jiekun db upgrade --db "
                               f"{url}`, or open it with upgrade=True",
                               message_zh=f"没有找到数据库文件 {missing}：请先运行 jiekun db "
                                          f"upgrade --db {url}（或以 upgrade=True 打开）")
        engine = database.make_engine(url, pool_size=pool_size, timeout=timeout)
        try:
            if upgrade and isinstance(keys, FromEnvironment):
                keys = database.keys_for_upgrade(engine)
                database.upgrade(engine, keys)
            elif upgrade:
                database.upgrade(engine, keys)
            database.require_current_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        store = Store(engine, pool_size=pool_size, timeout=timeout, keys=keys)
        given = decider.policy if decider is not None else policy
        try:
            if given is not None and policy_versions.version_by_hash(
                    store, given.content_hash) is None:
                text = given.text if given.text is not None else dumps(given.document())
                policy_versions.publish(store, text, by="Engine.open", at=RealClock().now(),
                                        note="published by Engine.open(policy=…)",
                                        source=given.file or given.id)
            return cls(store, decider or (None if policy is None else Decider(policy)))
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Release every connection of every thread; later calls raise StoreClosed."""
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event committed through this engine, after its
        commit (a listener's exception is logged, never raised); returns an unsubscribe
        function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # Commands ----------------------------------------------------------------------------

    def submit(self, case_id: str, application: dict[str, Any], actor: Actor, at: datetime,
               *, idempotency_key: str | None = None) -> Event:
        """Open case ``case_id`` with an application (the JSON object as a dict) at ``at``
        (timezone-aware). Raises InvalidInput for a bad application, NotAuthorized,
        GuardFailed and the other JiekunError refusals; stores nothing then."""
        return self.fire(case_id, "submit", actor, at, application,
                         idempotency_key=idempotency_key)

    def fire(self, case_id: str, trigger: str, actor: Actor, at: datetime,
             data: dict[str, Any] | None = None, *, expected_version: int | None = None,
             idempotency_key: str | None = None) -> Event:
        """Fire ``trigger`` on a case with its payload ``data``; returns the stored event.
        ``expected_version`` refuses with ConcurrencyConflict when the case moved on;
        ``idempotency_key`` makes a retried command record one event."""
        return self.execute(Command(case_id, trigger, actor, at, data or {}, idempotency_key),
                            expected_version)

    def execute(self, command: Command, expected_version: int | None = None,
                claim: TimerClaim | None = None) -> Event:
        """Decide and commit one command. Refusals raise a JiekunError and store nothing."""
        arguments.command(command, expected_version)
        try:
            return self._execute_once(command, expected_version, claim, trust_cache=True)
        except StaleCase:
            # another engine wrote the case since this one did: again, from the stored rows
            self.writer.forget(command.case_id)
            return self._execute_once(command, expected_version, claim, trust_cache=False)

    def _execute_once(self, command: Command, expected_version: int | None,
                      claim: TimerClaim | None, *, trust_cache: bool) -> Event:
        """One transaction. A refusal is logged (``attempts``, issue 16) on the refusal's path
        only, never the accepted one's: with the firings it leaves standing, in their
        transaction (after the savepoint that undid the command's part); else, after the
        rollback, in a short transaction of its own."""
        refusal: JiekunError | None = None
        fired: list[Event] = []
        try:
            with self.store.unit_of_work() as uow:
                decider = self.book.decider(uow.lock_for_write(), uow)
                key = scoped_key(command)
                if key is not None and claim is None:
                    done = uow.event_by_key(key)
                    if done is not None:
                        return self._repeated(command, done)
                if claim is not None:  # a timer's own firing: nothing is due before it
                    event = self.writer.decide(uow, command, expected_version, claim,
                                               trust_cache=trust_cache, decider=decider)
                else:
                    fired, found, refusal = self.writer.fire_due_timers(
                        uow, command, trust_cache=trust_cache, decider=decider)
                    if refusal is not None:
                        pass  # the firings stand; the command is refused with what stopped them
                    elif not fired:
                        event = self.writer.decide(uow, command, expected_version,
                                                   found=found if expected_version is None
                                                   else None, trust_cache=trust_cache,
                                                   decider=decider)
                    else:
                        try:  # the firings stand whatever becomes of the command
                            with uow.savepoint():
                                event = self.writer.decide(uow, command, expected_version,
                                                           trust_cache=False, decider=decider)
                        except JiekunError as refused:
                            refusal = refused
                if refusal is not None and attempts.logged(refusal):
                    attempts.record_in(uow, command, refusal)  # commits with the firings
        except JiekunError as refused:  # rolled back: nothing of the command was stored
            if attempts.logged(refused):
                self._record_alone(command, refused)
            raise
        self._after_commit(fired if refusal is not None else [*fired, event], decider)
        if refusal is not None:
            raise refusal
        return event

    def _record_alone(self, command: Command, refusal: JiekunError) -> None:
        """Log a refusal whose transaction rolled back, in a short transaction of its own; a
        failure to log is itself logged, and the caller still gets the refusal."""
        try:
            with self.store.unit_of_work() as uow:
                uow.record_attempt(attempts.attempt(command, refusal))
        except Exception:  # the store failing now must not hide or change the refusal
            log.exception("could not log the refused %s on %s", command.trigger,
                          command.case_id)

    @contextmanager
    def timer_batch(self) -> Iterator[TimerBatch]:
        """Several timer firings in one transaction, each all-or-nothing in its own savepoint
        (to spare a commit per firing); listeners after the commit."""
        with self.store.unit_of_work() as uow:
            decider = self.book.decider(uow.lock_for_write(), uow)
            batch = TimerBatch(self.writer, uow, decider)
            yield batch
        self._after_commit(batch.committed, decider)

    def _after_commit(self, events: list[Event], decider: Decider) -> None:
        destroy = decider.policy.retention.destroy_personal_data
        if destroy and any(e.derived.state == "purged" for e in events):
            self.store.flush_destroyed()
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:  # a listener's failure must not undo or hide an event
                    log.exception("listener failed on %s #%d", event.case_id, event.seq)

    def _repeated(self, command: Command, done: tuple[str, int, str | None]) -> Event:
        """The event a key recorded, to the caller that recorded it, for the same request;
        the caller must still be allowed to read the case."""
        case_id, seq, digest = done
        if digest != request_digest(command):
            raise IdempotencyMismatch(
                f"idempotency key {command.idempotency_key!r} was used by this caller on case "
                f"{command.case_id} for another request (trigger or payload differ)")
        event = self.reader.event_for(case_id, seq, command.actor)
        if event is None:  # the key's event is gone: a store restored without it
            raise IdempotencyMismatch(f"idempotency key {command.idempotency_key!r} names no "
                                      "stored event")
        return event

    # Reads (CaseReader's) ---------------------------------------------------------------

    def stored_case(self, case_id: str) -> CaseState | None:
        """The case as stored, without a reader's check (for the engine's own tools)."""
        return self.reader.stored_case(case_id)

    def case(self, case_id: str, reader: Actor) -> CaseState:
        """The case now. CaseNotFound when there is none; NotAuthorized outside the reader's
        remit."""
        return self.reader.readable(arguments.case_id(case_id), reader)

    def history(self, case_id: str, reader: Actor, until: datetime | None = None) -> list[Event]:
        """The case's events in order, up to ``until`` inclusive (CaseNotFound,
        NotAuthorized as ``case``)."""
        return self.reader.history(arguments.case_id(case_id), reader,
                                   arguments.optional_aware(until, "until"))

    def state_as_of(self, case_id: str, when: datetime, reader: Actor) -> CaseState | None:
        """The case as it stood at ``when``: the fold of its events up to then (None: it did
        not exist yet)."""
        return self.reader.state_as_of(arguments.case_id(case_id),
                                       arguments.aware(when, "when"), reader)

    def cases(self, reader: Actor, *, state: str | None = None,
              reviewing_body: str | None = None, recheck_due_before: datetime | None = None,
              limit: int | None = None, after: str | None = None) -> list[dict[str, object]]:
        """Case summaries within the reader's remit (a federation its own, wuxi-city all, a
        union its own, a worker their own, an auditor all), by case id; ``limit`` and
        ``after`` (the last case id seen) page through them."""
        return self.reader.cases(
            reader, state=state, reviewing_body=reviewing_body,
            recheck_due_before=arguments.optional_aware(recheck_due_before,
                                                        "recheck_due_before"),
            limit=None if limit is None else arguments.count(limit, "limit"), after=after)

    def events_since(self, position: int, limit: int | None = None
                     ) -> list[tuple[int, Event]]:
        """Committed events after ``position`` in commit order, with their positions: a
        durable cursor for the embedding system (keep the last position you processed)."""
        return self.reader.events_since(
            arguments.count(position, "position"),
            None if limit is None else arguments.count(limit, "limit"))

    def pending_timers(self, reader: Actor, until: datetime, *, limit: int = 1000,
                       after: tuple[datetime, str] | None = None,
                       blocked: bool = False, waiting: bool = False) -> list[dict[str, Any]]:
        """Pending timers due by ``until`` in due order, within the reader's remit; ``after``
        = (due, case) of the last one seen; ``blocked``: then those waiting for an objection
        to be settled; ``waiting``: then those waiting for a calendar year the store's
        current policy version does not know (``due`` None, ``status`` "waiting",
        ``waiting`` "calendar year 2027 unknown", ``earliest`` possible due time)."""
        if after is not None:
            after = (arguments.aware(after[0], "after"), arguments.case_id(after[1], "after"))
        return self.reader.pending_timers(reader, arguments.aware(until, "until"),
                                          limit=arguments.count(limit, "limit", minimum=1),
                                          after=after, blocked=blocked, waiting=waiting)

    def attempts(self, reader: Actor, *, case_id: str | None = None,
                 actor: Actor | None = None, since: datetime | None = None,
                 limit: int = 1000) -> list[dict[str, Any]]:
        """The refused commands (the attempts log), oldest first, that ``reader`` may read:
        its own organisation's and those on cases it may read (an auditor all); filtered by
        case, acting actor and time."""
        return self.reader.attempts(
            reader, case_id=None if case_id is None else arguments.case_id(case_id),
            actor=actor, since=arguments.optional_aware(since, "since"),
            limit=arguments.count(limit, "limit", minimum=1))

