"""What differs between SQLite and PostgreSQL, one strategy object per backend: how a write
transaction begins and serialises, how a timer is claimed, how an upsert is spelled, what a
connection needs when it opens, and what follows the destruction of personal data. The rest of
the store is the same SQL on both; no other module asks which database it runs on.

Write order: on PostgreSQL a write transaction first takes one transaction-scoped advisory
lock, so writers commit in the order they insert and ``events.position`` is the commit order
(a reader following ``events_since`` never skips an event that commits late; the eventsourcing
library serialises its notification log the same way). SQLite's ``BEGIN IMMEDIATE`` gives the
same order and makes two writers never both read a case and then race to write it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jiekun.persistence.schema import timers
from jiekun.policies.errors import InvalidArgument

_WRITE_LOCK = 7_246_524  # arbitrary: the advisory lock id of jiekun's event log

# runs a prebuilt statement on the transaction's driver cursor, returning the cursor
Run = Callable[[Any, dict[str, Any]], Any]


class Backend(Protocol):
    name: str
    alters_in_batches: bool  # migrations rebuild a table to change it (Alembic's batch mode)

    def configure(self, engine: Engine) -> None:
        """Hooks every new connection of ``engine`` needs."""

    def begin_write(self, driver: Any) -> None:
        """Begin a write transaction on the driver's connection (if it does not by itself)."""

    def upsert(self, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Any:
        """An insert of ``columns`` that updates the row whose ``keys`` already exist."""

    def claim_statement(self) -> Any:
        """The statement that takes a pending timer (parameters b_case_id, b_armed_seq)."""

    def lock_for_write(self, run: Run, lock: Any) -> None:
        """Serialise writers so that commit order is position order."""

    def lock_and_read(self, cursor: Any, read_sql: str) -> Any:
        """Serialise writers as ``lock_for_write`` does, then run ``read_sql`` (a statement
        without parameters) after the lock is held; returns the cursor holding its rows."""

    def claimed(self, cursor: Any) -> bool:
        """Whether the claim statement just run took the timer."""

    def run_all(self, cursor: Callable[[], Any], statements: list[tuple[str, Any]]) -> list[int]:
        """Run ``statements`` (SQL, parameters) in order in the open transaction; the rows
        each changed. The first that fails raises its driver error (the rest may not run)."""

    def after_destroy(self, engine: Engine) -> None:
        """After personal data was deleted: leave no old copy of it in the database files."""


def _upsert(maker: Any, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Any:
    statement = maker(table).values({c: bindparam(c) for c in columns})
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: statement.excluded[c] for c in columns if c not in keys})


def _pending_timer() -> tuple[Any, ...]:
    return (timers.c.case_id == bindparam("b_case_id"),
            timers.c.armed_seq == bindparam("b_armed_seq"), timers.c.status == "pending")


class SqliteBackend:
    name = "sqlite"
    alters_in_batches = True  # SQLite's ALTER TABLE cannot change or drop most things

    def configure(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let the "begin" hook below decide when a transaction starts (pysqlite's own
            # implicit BEGIN is deferred, which lets two writers read before either locks).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # measured: workflow/DESIGN.md
            cursor.execute("PRAGMA busy_timeout=30000")
            # Destroyed personal data must not linger in freed pages of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Readers (``Store.reads()``) take no write lock: in WAL mode they never block a
            # writer.
            read_only = connection.get_execution_options().get("jiekun_read_only", False)
            driver = connection.connection.driver_connection
            if driver.in_transaction:
                return  # begun on the driver already (Store.unit_of_work): SQLAlchemy joins it
            if read_only:
                driver.execute("BEGIN")
            else:
                self.begin_write(driver)

    def begin_write(self, driver: Any) -> None:
        # the write lock is taken at once: two writers never both read a case, then race
        driver.execute("BEGIN IMMEDIATE")

    def upsert(self, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Any:
        return _upsert(sqlite_insert, table, keys, columns)

    def claim_statement(self) -> Any:
        return update(timers).where(*_pending_timer()).values(status="firing")

    def lock_for_write(self, run: Run, lock: Any) -> None:
        return None  # BEGIN IMMEDIATE took the database's one write lock

    def lock_and_read(self, cursor: Any, read_sql: str) -> Any:
        cursor.execute(read_sql)  # BEGIN IMMEDIATE took the lock already
        return cursor

    def claimed(self, cursor: Any) -> bool:
        return bool(cursor.rowcount == 1)

    def run_all(self, cursor: Callable[[], Any], statements: list[tuple[str, Any]]) -> list[int]:
        return _one_by_one(cursor, statements)

    def after_destroy(self, engine: Engine) -> None:
        # copy the WAL into the file and truncate it: no old copy of the rows stays in the log
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


class PostgresBackend:
    name = "postgresql"
    alters_in_batches = False

    def configure(self, engine: Engine) -> None:
        return None

    def begin_write(self, driver: Any) -> None:
        return None  # psycopg begins a transaction with the first statement

    def upsert(self, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Any:
        return _upsert(pg_insert, table, keys, columns)

    def claim_statement(self) -> Any:
        # a timer another process is firing right now is skipped, not waited for
        return select(timers.c.case_id).where(*_pending_timer()).with_for_update(
            skip_locked=True)

    def lock_for_write(self, run: Run, lock: Any) -> None:
        run(lock, {"id": _WRITE_LOCK})

    def lock_and_read(self, cursor: Any, read_sql: str) -> Any:
        # One message, two statements (the simple query protocol: no parameters): one round
        # trip, and the read is a statement of its own, whose snapshot is taken once the lock
        # is held, so it sees what committed while this transaction waited for it.
        cursor.execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK}); {read_sql}")
        cursor.nextset()
        return cursor

    def claimed(self, cursor: Any) -> bool:
        return cursor.fetchone() is not None

    def run_all(self, cursor: Callable[[], Any], statements: list[tuple[str, Any]]) -> list[int]:
        # psycopg's pipeline mode: every statement sent before any answer is awaited, so a
        # transition's writes (event, case, timer, vault rows) cost the server one round trip
        # instead of one each; errors are raised when the pipeline syncs, at the block's end.
        # https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html
        if len(statements) < 2:
            return _one_by_one(cursor, statements)
        cursors = [cursor() for _ in statements]
        with cursors[0].connection.pipeline():
            for each, (sql, parameters) in zip(cursors, statements, strict=True):
                each.execute(sql, parameters)
        return [int(each.rowcount) for each in cursors]

    def after_destroy(self, engine: Engine) -> None:
        return None  # dead tuples are PostgreSQL's vacuum's to reclaim


def _one_by_one(cursor: Callable[[], Any], statements: list[tuple[str, Any]]) -> list[int]:
    one = cursor()
    counts = []
    for sql, parameters in statements:
        one.execute(sql, parameters)
        counts.append(int(one.rowcount))
    return counts


def write_lock_statement() -> Any:
    return select(func.pg_advisory_xact_lock(bindparam("id")))


def backend_for(dialect: str) -> Backend:
    """The strategy of a SQLAlchemy dialect name; the store supports these two."""
    if dialect == "postgresql":
        return PostgresBackend()
    if dialect == "sqlite":
        return SqliteBackend()
    raise InvalidArgument("url", f"jiekun stores cases in SQLite or PostgreSQL, not {dialect}",
                          f"jiekun 只支持 SQLite 或 PostgreSQL 数据库，不支持 {dialect}")
