"""The store's unit of work: every read and write of one command in one transaction.

Statements are built once per store (building ``insert(...).values(...)`` per call costs ~3× on
SQLite, FIELD-NOTES.md). On PostgreSQL a write transaction first takes one transaction-scoped
advisory lock: writers then commit in the order they insert, so ``events.position`` is the
commit order and a reader following ``events_since`` never skips an event that commits late
(the eventsourcing library serialises its notification log the same way). SQLite's
``BEGIN IMMEDIATE`` gives the same order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from jiekun.persistence.chain import StoredEvent
from jiekun.persistence.database import begin_write
from jiekun.persistence.schema import case_personal, cases, events, personal_data, timers

_WRITE_LOCK = 7_246_524  # arbitrary: the advisory lock id of jiekun's event log


class VersionConflict(Exception):
    """The case moved on since it was read, or another writer created it first."""


@dataclass(frozen=True)
class ProjectionRow:
    case_id: str
    state: str
    version: int
    category: str | None
    reviewing_body: str | None
    grassroots_union: str | None
    snapshot: str
    head_hash: str
    updated_at: str


@dataclass(frozen=True)
class Loaded:
    """A case as its rows hold it: the projection, and the vault's application text and
    applicant id (None once destroyed)."""

    row: ProjectionRow
    application: str | None
    applicant_id: str | None


@dataclass(frozen=True)
class TimerRow:
    case_id: str
    kind: str
    due: str | None
    status: str
    armed_seq: int


@dataclass(frozen=True)
class Write:
    """One transition's writes: all of them commit together or none does."""

    event: StoredEvent
    hash: str
    projection: ProjectionRow
    expected_version: int  # 0: the case is new
    idempotency_key: str | None = None
    timer: TimerRow | None = None  # None: the timer row is unchanged
    applicant: tuple[str, str] | None = None  # (applicant id, application text) when changed
    destroy_personal: bool = False
    # indexed case columns (CASES_INDEXED) the transition leaves as they were: not rewritten
    kept: frozenset[str] = frozenset()


def _event_values(row: StoredEvent, hash_: str, key: str | None) -> dict[str, Any]:
    return {"case_id": row.case_id, "seq": row.seq, "at": row.at, "trigger": row.trigger,
            "actor": row.actor, "data": row.data, "personal_digest": row.personal_digest,
            "policy_id": row.policy_id, "policy_hash": row.policy_hash, "derived": row.derived,
            "idempotency_key": key, "prev_hash": row.prev_hash, "hash": hash_}


def _upsert(dialect: str, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Any:
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = maker(table).values({c: bindparam(c) for c in columns})
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: statement.excluded[c] for c in columns if c not in keys})


class Raw:
    """A statement compiled once for the store's dialect and run on the driver's own cursor.

    The hot path of a transition (load, insert event, update case, upsert timer) runs this
    way: SQLAlchemy's per-execution work costs more than the SQLite statement itself (~5
    statements per transition), and the SQL is the same it would send."""

    def __init__(self, statement: Any, dialect: Dialect, columns: Sequence[str] | None = None
                 ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup) if compiled.positional else None
        # values the statement itself fixes (``.values(status="firing")``)
        self.fixed = {k: v for k, v in compiled.params.items() if v is not None}
        # positional parameters picked in C: this runs for every statement of a transition
        pick = itemgetter(*self.order) if self.order else None
        self._pick: Callable[[dict[str, Any]], Any] | None = (
            None if pick is None else pick if len(self.order or ()) > 1
            else lambda values: (pick(values),))

    def params(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.fixed, **values} if self.fixed else values
        return merged if self._pick is None else tuple(self._pick(merged))


class Statements:
    def __init__(self, compiler: Dialect) -> None:
        dialect = self.dialect = compiler.name
        self.insert_event = insert(events)
        self.insert_case = insert(cases)
        self._compiler = compiler
        self._case_updates: dict[frozenset[str], Raw] = {}
        self.load_case = (
            select(cases, case_personal.c.application, case_personal.c.applicant_id)
            .outerjoin(case_personal, case_personal.c.case_id == cases.c.case_id)
            .where(cases.c.case_id == bindparam("case_id")))
        self.upsert_timer = _upsert(dialect, timers, ["case_id"],
                                    ["case_id", "kind", "due", "status", "armed_seq"])
        self.upsert_applicant = _upsert(dialect, case_personal, ["case_id"],
                                        ["case_id", "applicant_id", "application"])
        self.insert_personal = insert(personal_data)
        self.event_by_key = select(events.c.case_id, events.c.seq).where(
            events.c.idempotency_key == bindparam("key"))
        self.claim_timer_pg = (
            select(timers.c.case_id).where(
                timers.c.case_id == bindparam("case_id"),
                timers.c.armed_seq == bindparam("armed_seq"),
                timers.c.status == "pending")
            .with_for_update(skip_locked=True))
        self.claim_timer = (
            update(timers).where(timers.c.case_id == bindparam("b_case_id"),
                                 timers.c.armed_seq == bindparam("b_armed_seq"),
                                 timers.c.status == "pending")
            .values(status="firing"))
        self.block_timer = (
            update(timers).where(timers.c.case_id == bindparam("b_case_id"),
                                 timers.c.armed_seq == bindparam("b_armed_seq"),
                                 timers.c.status == "pending")
            .values(status="blocked"))
        event_columns = [c.name for c in events.c if c.name != "position"]
        self.raw_insert_event = Raw(self.insert_event, compiler, event_columns)
        self.raw_insert_case = Raw(self.insert_case, compiler, [c.name for c in cases.c])
        self.raw_upsert_timer = Raw(self.upsert_timer, compiler)
        self.raw_load_case = Raw(self.load_case, compiler)
        self.raw_event_by_key = Raw(self.event_by_key, compiler)
        self.raw_claim_timer = Raw(self.claim_timer_pg if dialect == "postgresql"
                                   else self.claim_timer, compiler)
        self.open_cases_of = (
            select(cases.c.case_id, cases.c.state)
            .join(case_personal, case_personal.c.case_id == cases.c.case_id)
            .where(case_personal.c.applicant_id == bindparam("applicant_id")))
        self.raw_open_cases_of = Raw(self.open_cases_of, compiler)
        self.raw_insert_personal = Raw(self.insert_personal, compiler,
                                       ["case_id", "seq", "payload"])
        self.raw_upsert_applicant = Raw(self.upsert_applicant, compiler)
        self.raw_write_lock = Raw(select(func.pg_advisory_xact_lock(bindparam("id"))), compiler)

    def update_case(self, kept: frozenset[str]) -> Raw:
        """The conditional update of a case row that leaves out the indexed columns in
        ``kept`` (their values stay as they are; at most 2³ statements, each built once)."""
        raw = self._case_updates.get(kept)
        if raw is None:
            statement = (
                update(cases)
                .where(cases.c.case_id == bindparam("b_case_id"),
                       cases.c.version == bindparam("b_expected"),
                       cases.c.head_hash == bindparam("b_head"))
                .values({c.name: bindparam(c.name) for c in cases.c
                         if c.name != "case_id" and c.name not in kept}))
            raw = self._case_updates[kept] = Raw(statement, self._compiler)
        return raw


class UnitOfWork:
    def __init__(self, connection: Connection, statements: Statements) -> None:
        self.connection = connection
        self._s = statements
        self._cursor: Any = None
        self.committed: list[Callable[[], None]] = []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of this transaction that is undone alone when it raises (straight on the
        driver: SQLAlchemy's nested transactions cost more than the firing they wrap)."""
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        self._cursor.execute("SAVEPOINT jiekun_step")
        try:
            yield
        except BaseException:
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

    def lock_for_write(self) -> None:
        if self._s.dialect == "postgresql":
            self._run(self._s.raw_write_lock, {"id": _WRITE_LOCK})

    def claim_timer(self, case_id: str, armed_seq: int) -> bool:
        """Take a pending timer for this transaction: False when it is gone, changed, or (on
        PostgreSQL) being fired by another process right now (``FOR UPDATE SKIP LOCKED``)."""
        if self._s.dialect == "postgresql":
            params = {"case_id": case_id, "armed_seq": armed_seq}
            return self._run(self._s.raw_claim_timer, params).fetchone() is not None
        done = self._run(self._s.raw_claim_timer, {"b_case_id": case_id,
                                                   "b_armed_seq": armed_seq})
        return bool(done.rowcount == 1)

    def block_timer(self, case_id: str, armed_seq: int) -> bool:
        """A due timer whose trigger was refused waits (e.g. for an objection to be settled)."""
        done = self.connection.execute(self._s.block_timer,
                                       {"b_case_id": case_id, "b_armed_seq": armed_seq})
        return done.rowcount == 1

    def load(self, case_id: str) -> Loaded | None:
        row = self._run(self._s.raw_load_case, {"case_id": case_id}).fetchone()
        if row is None:
            return None
        return Loaded(ProjectionRow(*row[:-2]), row[-2], row[-1])

    def cases_of_applicant(self, applicant_id: str) -> list[tuple[str, str]]:
        rows = self._run(self._s.raw_open_cases_of, {"applicant_id": applicant_id}).fetchall()
        return [(str(case_id), str(state)) for case_id, state in rows]

    def event_by_key(self, key: str) -> tuple[str, int] | None:
        row = self._run(self._s.raw_event_by_key, {"key": key}).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def write(self, w: Write) -> None:
        """All the writes of one transition; VersionConflict when the case moved on."""
        c = self.connection
        s = self._s
        values = vars(w.projection)  # a plain dataclass: its fields are the case columns
        integrity = c.dialect.dbapi.IntegrityError if c.dialect.dbapi else IntegrityError
        try:
            self._run(s.raw_insert_event, _event_values(w.event, w.hash, w.idempotency_key))
            if w.expected_version == 0:
                self._run(s.raw_insert_case, values)
            else:
                # the case as this event found it: its version and head (the event's link)
                done = self._run(s.update_case(w.kept), {
                    **values, "b_case_id": w.projection.case_id, "b_expected": w.expected_version,
                    "b_head": w.event.prev_hash})
                if done.rowcount != 1:
                    raise VersionConflict(w.projection.case_id)
        except integrity as error:
            raise VersionConflict(w.projection.case_id) from error
        if w.event.personal is not None:
            self._run(s.raw_insert_personal, {"case_id": w.event.case_id, "seq": w.event.seq,
                                              "payload": w.event.personal})
        if w.applicant is not None:
            self._run(s.raw_upsert_applicant, {"case_id": w.event.case_id,
                                               "applicant_id": w.applicant[0],
                                               "application": w.applicant[1]})
        if w.timer is not None:
            self._run(s.raw_upsert_timer, vars(w.timer))
        if w.destroy_personal:
            self.destroy_personal(w.event.case_id)

    def destroy_personal(self, case_id: str) -> None:
        self.connection.execute(delete(personal_data).where(personal_data.c.case_id == case_id))
        self.connection.execute(delete(case_personal).where(case_personal.c.case_id == case_id))


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements = Statements(engine.dialect)
        self._local = threading.local()

    def _writer(self) -> Connection:
        """This thread's write connection, kept open: checking one out of the pool and
        resetting it on return for every transition costs more than the transition's SQL."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self._local.connection = self.engine.connect()
        return connection

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back when it raises.

        Begun, committed and rolled back on the driver's connection: SQLAlchemy's begin and
        commit (its transaction object, its events) cost ~10 µs more a transaction than the
        driver's, measured on SQLite here, about 3% of a transition. A statement run
        through ``uow.connection`` still works: SQLAlchemy then begins its own transaction on
        the same driver transaction (``make_engine``'s begin hook sees one is open), and the
        end of the block goes through SQLAlchemy."""
        connection = self._writer()
        try:
            if self.statements.dialect == "sqlite":  # PostgreSQL's driver begins by itself
                begin_write(connection.connection.driver_connection)
            uow = UnitOfWork(connection, self.statements)
            yield uow
            self._end(connection, commit=True)
        except BaseException:
            self._roll_back(connection)
            raise
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
        """Close this thread's write connection (the pool's connections stay the engine's)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def flush_destroyed(self) -> None:
        """After personal data was destroyed: on SQLite, copy the WAL into the file and truncate
        it, so no old copy of the destroyed rows stays in the write-ahead log."""
        if self.engine.dialect.name != "sqlite":
            return
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only (on SQLite: no write lock, so readers never wait)."""
        with self.engine.connect() as connection:
            yield connection.execution_options(jiekun_read_only=True)
