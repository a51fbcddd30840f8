"""The store's unit of work (every read and write of one command in one transaction) and the
store itself: its write connections, its read transactions, and their bounds.

One store serves any number of threads. Write transactions run on connections the store keeps
open (checking one out of SQLAlchemy's pool and resetting it for every transition costs more
than the transition's SQL on SQLite) in a bounded set: a thread takes one for a unit of work and
gives it back at its end, waiting up to ``timeout`` seconds when all are in use (E-BUSY after
that). Reads take a connection from SQLAlchemy's pool, bounded the same way. ``close()`` closes
every connection of every thread; the store refuses work afterwards.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from jiekun.persistence import policy_rows, timer_queries
from jiekun.persistence.backends import backend_for
from jiekun.persistence.chain import StoredEvent
from jiekun.persistence.database import configured_keys
from jiekun.persistence.keys import FROM_ENVIRONMENT, FromEnvironment, KeyProvider
from jiekun.persistence.policy_rows import PolicyVersionRow
from jiekun.persistence.queries import store_origin
from jiekun.persistence.reads import Reads
from jiekun.persistence.schema import case_keys, case_personal, cases, personal_data
from jiekun.persistence.statements import (
    Attempt,
    Loaded,
    Raw,
    Statements,
    TimerRow,
    Write,
    key_reference,
    load_case,
)
from jiekun.persistence.vault import Vault
from jiekun.policies.errors import StoreBusy, StoreClosed, VersionConflict

__all__ = ["Store", "UnitOfWork"]


def _event_values(row: StoredEvent, hash_: str, key: str | None, digest: str | None
                  ) -> dict[str, Any]:
    return {"case_id": row.case_id, "seq": row.seq, "at": row.at, "trigger": row.trigger,
            "actor": row.actor, "data": row.data, "personal_digest": row.personal_digest,
            "policy_id": row.policy_id, "policy_hash": row.policy_hash, "derived": row.derived,
            "idempotency_key": key, "prev_hash": row.prev_hash, "hash": hash_,
            "request_digest": digest}


class UnitOfWork:
    """One transaction's reads and writes (``Store.unit_of_work``; see ``ports.WritePort``)."""

    def __init__(self, connection: Connection, statements: Statements, vault: Vault) -> None:
        self.connection = connection
        self._s = statements
        self.vault = vault.on(connection, partial(key_reference, connection, statements))
        self._cursor: Any = None
        # the keys made for new cases become everyone's once their references commit
        self.committed: list[Callable[[], None]] = [self.vault.promote]
        self._recorded: set[str] = set()  # cases whose key reference this transaction wrote

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of this transaction that is undone alone when it raises (straight on the
        driver: SQLAlchemy's nested transactions cost more than the firing they wrap)."""
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        self._cursor.execute("SAVEPOINT jiekun_step")
        actions = len(self.committed)
        made, recorded = set(self.vault.made()), set(self._recorded)
        try:
            yield
        except BaseException:
            # what the undone part asked to run after the commit is dropped with it (a purge
            # undone must not destroy the key of rows that stay), and so are the keys it made
            del self.committed[actions:]
            self.vault.forget_made(made)
            self._recorded = recorded
            self._cursor.execute("ROLLBACK TO SAVEPOINT jiekun_step")
            self._cursor.execute("RELEASE SAVEPOINT jiekun_step")
            raise
        self._cursor.execute("RELEASE SAVEPOINT jiekun_step")

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this unit of work has committed (never if it rolls back)."""
        self.committed.append(action)

    def _run(self, raw: Raw, values: dict[str, Any]) -> Any:
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        self._cursor.execute(raw.sql, raw.params(values))
        return self._cursor

    def lock_for_write(self) -> int | None:
        """Serialise with other writers; returns the store's current policy version, read in
        the same round trip once the lock is held (None: the store has none)."""
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        row = self._s.backend.lock_and_read(self._cursor, self._s.current_policy_sql).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def prefetch_keys(self, case_ids: list[str]) -> None:
        self.vault.preload(case_ids)

    def policy_version(self, number: int) -> PolicyVersionRow | None:
        """One published policy version, inside this transaction."""
        return policy_rows.by_number(self.connection, number)

    def last_policy_number(self) -> int:
        """The highest policy version number (0: none)."""
        return policy_rows.last_number(self.connection)

    def insert_policy_version(self, row: PolicyVersionRow) -> None:
        """Publish a policy version (its number one more than ``last_policy_number``)."""
        policy_rows.insert_row(self.connection, row)

    def undated_timers(self, limit: int) -> list[tuple[str, str, int]]:
        """(case, kind, armed seq) of pending timers armed without a due time."""
        return timer_queries.undated(self.connection, limit)

    def claim_timer(self, case_id: str, armed_seq: int) -> bool:
        """Take a pending timer for this transaction: False when it is gone, changed, or (on
        PostgreSQL) being fired by another process right now (``FOR UPDATE SKIP LOCKED``)."""
        done = self._run(self._s.raw_claim_timer, {"b_case_id": case_id,
                                                   "b_armed_seq": armed_seq})
        return self._s.backend.claimed(done)

    def block_timer(self, case_id: str, armed_seq: int) -> bool:
        """A due timer whose trigger was refused waits (e.g. for an objection to be settled)."""
        done = self.connection.execute(self._s.block_timer,
                                       {"b_case_id": case_id, "b_armed_seq": armed_seq})
        return done.rowcount == 1

    def timer_row(self, case_id: str) -> TimerRow | None:
        """The case's timer row, inside this transaction."""
        row = self._run(self._s.raw_timer_of, {"case_id": case_id}).fetchone()
        return None if row is None else TimerRow(*row)

    def load(self, case_id: str) -> Loaded | None:
        loaded = load_case(self.connection, self._s, case_id, self.vault)
        if loaded is None:
            self.vault.fresh(case_id)
        return loaded

    def personal_salt(self, case_id: str) -> bytes | None:
        """The salt of the case's new personal digests (None: the store does not encrypt)."""
        return self.vault.salt(case_id)

    def set_timer_due(self, case_id: str, armed_seq: int, due: str) -> bool:
        """Date a pending timer that was armed without a due time (UTC text)."""
        done = self.connection.execute(self._s.set_timer_due, {
            "b_case_id": case_id, "b_armed_seq": armed_seq, "due": due})
        return bool(done.rowcount == 1)

    def cases_of_applicant(self, applicant_id: str) -> list[tuple[str, str]]:
        rows = self._run(self._s.raw_open_cases_of,
                         {"applicant_key": self.vault.index(applicant_id)}).fetchall()
        return [(str(case_id), str(state)) for case_id, state in rows]

    def event_by_key(self, key: str) -> tuple[str, int, str | None] | None:
        """(case, seq, request digest) of the event recorded under a (scoped) key."""
        row = self._run(self._s.raw_event_by_key, {"key": key}).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2])

    def write(self, w: Write) -> None:
        """All the writes of one transition; VersionConflict when the case moved on. Every
        value is sealed first, then the statements run together (``Backend.run_all``: on
        PostgreSQL one round trip)."""
        s = self._s
        values = vars(w.projection)  # a plain dataclass: its fields are the case columns
        vault = self.vault
        case_id = w.event.case_id
        if w.projection.personal is not None:
            values = {**values, "personal": vault.seal(
                case_id, str(w.projection.version), "cases.personal", w.projection.personal)}
        plan: list[tuple[Raw, dict[str, Any]]] = [
            (s.raw_insert_event, _event_values(w.event, w.hash, w.idempotency_key,
                                               w.request_digest))]
        if w.expected_version == 0:
            plan.append((s.raw_insert_case, values))
        else:
            # the case as this event found it: its version and head (the event's link)
            plan.append((s.update_case(w.kept), {
                **values, "b_case_id": w.projection.case_id, "b_expected": w.expected_version,
                "b_head": w.event.prev_hash}))
        if w.event.personal is not None:
            plan.append((s.raw_insert_personal, {
                "case_id": case_id, "seq": w.event.seq,
                "payload": vault.seal(case_id, str(w.event.seq), "personal_data.payload",
                                      w.event.personal)}))
        if w.applicant is not None:
            plan.append((s.raw_upsert_applicant, {
                "case_id": case_id,
                "applicant_id": vault.seal(case_id, "application", "case_personal.applicant_id",
                                           w.applicant[0]),
                "application": vault.seal(case_id, "application", "case_personal.application",
                                          w.applicant[1]),
                "applicant_key": vault.index(w.applicant[0])}))
        recorded = []
        for made, reference in vault.made().items():  # the case's key, named in its store
            if made not in self._recorded:
                plan.append((s.raw_insert_case_key, {"case_id": made, "key_ref": reference}))
                recorded.append(made)
        if w.timer is not None:
            plan.append((s.raw_upsert_timer, vars(w.timer)))
        c = self.connection
        integrity = c.dialect.dbapi.IntegrityError if c.dialect.dbapi else IntegrityError
        try:
            counts = s.backend.run_all(c.connection.cursor,
                                       [(raw.sql, raw.params(v)) for raw, v in plan])
        except integrity as error:
            raise VersionConflict(w.projection.case_id) from error
        if counts[1] != 1:  # the case's row was not the one this event found
            raise VersionConflict(w.projection.case_id)
        self._recorded.update(recorded)
        if w.destroy_personal:
            self.destroy_personal(w.event.case_id)

    def record_attempt(self, attempt: Attempt) -> None:
        """Add a refused command to the attempts log (issue 16), in this transaction."""
        self._run(self._s.raw_insert_attempt, attempt.values())

    def destroy_personal(self, case_id: str) -> None:
        """Delete the case's vault rows and, once that commits, its data key: what a backup
        of the rows still holds is then ciphertext no key opens (crypto-shredding)."""
        reference = self.connection.execute(select(case_keys.c.key_ref).where(
            case_keys.c.case_id == case_id)).scalar()
        self.connection.execute(delete(personal_data).where(personal_data.c.case_id == case_id))
        self.connection.execute(delete(case_personal).where(case_personal.c.case_id == case_id))
        self.connection.execute(delete(case_keys).where(case_keys.c.case_id == case_id))
        self.connection.execute(update(cases).where(cases.c.case_id == case_id)
                                .values(personal=None))
        self.on_commit(lambda: self.vault.destroy(case_id, reference))


class Store:
    """A case store: SQLite or PostgreSQL behind one SQLAlchemy engine (see ``ports.StorePort``).

    ``pool_size`` bounds the write connections and the read pool alike; ``timeout`` is how long
    a call waits for a free one before StoreBusy. ``keys``: the key provider of the vault
    (``persistence/keys.py``); by default the one the environment configures, or none (the
    vault's contents then stay sealed: E-KEY on personal reads and writes)."""

    def __init__(self, engine: Engine, *, pool_size: int = 8, timeout: float = 30.0,
                 keys: KeyProvider | FromEnvironment | None = FROM_ENVIRONMENT) -> None:
        self.engine = engine
        provider = (configured_keys(engine, create=False)[0]
                    if isinstance(keys, FromEnvironment) else keys)
        self.vault = Vault(provider, self._origin)
        self.backend = backend_for(engine.dialect.name)
        self.statements = Statements(engine.dialect, self.backend)
        self.pool_size = pool_size
        self.timeout = timeout
        # idle write connections, last given back first out: a deque's append and pop are
        # atomic, and cost a fraction of a LifoQueue's locks on every transaction
        self._idle: deque[Connection] = deque()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._open: set[Connection] = set()
        self._lock = threading.Lock()
        self._closed = False

    def _origin(self) -> str:
        with self.reading() as connection:
            return store_origin(connection)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("this engine was closed; open a new one")

    def _take_writer(self) -> Connection:
        self._check_open()
        if not self._slots.acquire(timeout=self.timeout):
            raise StoreBusy(self.pool_size, self.timeout)
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = None
        try:
            if connection is None or connection.closed or connection.invalidated:
                connection = self.engine.connect()
                with self._lock:
                    self._open.add(connection)
        except PoolTimeout:  # reads held every connection of the pool for ``timeout``
            self._slots.release()
            raise StoreBusy(self.pool_size, self.timeout) from None
        except BaseException:
            self._slots.release()
            raise
        return connection

    def _give_back(self, connection: Connection) -> None:
        if connection.closed or self._closed:
            with self._lock:
                self._open.discard(connection)
            if not connection.closed:
                connection.close()
        else:
            self._idle.append(connection)
        self._slots.release()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back when it raises.

        Begun, committed and rolled back on the driver's connection: SQLAlchemy's begin and
        commit (its transaction object, its events) cost ~10 µs more a transaction than the
        driver's, measured on SQLite here, about 3% of a transition. A statement run
        through ``uow.connection`` still works: SQLAlchemy then begins its own transaction on
        the same driver transaction (the SQLite backend's begin hook sees one is open), and the
        end of the block goes through SQLAlchemy."""
        connection = self._take_writer()
        try:
            try:
                self.backend.begin_write(connection.connection.driver_connection)
                uow = UnitOfWork(connection, self.statements, self.vault)
                yield uow
                self._end(connection, commit=True)
            except BaseException:
                self._roll_back(connection)
                raise
        finally:
            self._give_back(connection)
        for action in uow.committed:
            action()

    @staticmethod
    def _end(connection: Connection, *, commit: bool) -> None:
        """Commit or roll back: through SQLAlchemy when a statement made it join, else on the
        driver (the transaction is the same either way)."""
        owner: Any = (connection if connection.in_transaction()
                      else connection.connection.driver_connection)
        if commit:
            owner.commit()
        else:
            owner.rollback()

    def _roll_back(self, connection: Connection) -> None:
        if connection.invalidated:
            connection.close()
            return
        try:
            self._end(connection, commit=False)
        except Exception:
            # the connection itself broke (server gone, socket closed): not kept
            connection.invalidate()
            connection.close()

    def close(self) -> None:
        """Close every connection of every thread and the pool; later calls raise
        StoreClosed. A unit of work still running closes its connection when it ends."""
        self._closed = True
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                break
            with self._lock:
                self._open.discard(connection)
            try:
                connection.close()
            except Exception:  # a connection the server dropped is gone all the same
                connection.invalidate()
        self.engine.dispose()

    @property
    def connections(self) -> int:
        """Write connections open now (each thread's unit of work borrows one)."""
        with self._lock:
            return sum(1 for c in self._open if not c.closed)

    def flush_destroyed(self) -> None:
        """After personal data was destroyed (the backend's clean-up, e.g. SQLite's WAL)."""
        self.backend.after_destroy(self.engine)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only (on SQLite: no write lock, so readers never wait).
        For ``persistence`` itself and its tests; everyone else reads through ``reads()``."""
        self._check_open()
        try:
            connection = self.engine.connect()
        except PoolTimeout:
            raise StoreBusy(self.pool_size, self.timeout) from None
        with connection:
            yield connection.execution_options(jiekun_read_only=True)

    def reads_on(self, connection: Connection) -> Reads:
        """The read port over a connection the caller holds (``reading()``'s; tests that
        audit a store inside their own transaction)."""
        return Reads(connection, self.statements, self.vault)

    @contextmanager
    def reads(self) -> Iterator[Reads]:
        """One read transaction, as the read port (``ports.ReadPort``)."""
        with self.reading() as connection:
            yield Reads(connection, self.statements, self.vault)
