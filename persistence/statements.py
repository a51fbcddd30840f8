"""The store's prebuilt statements and the rows they read: compiled once per store for its
backend and run on the driver's own cursor (building ``insert(...).values(...)`` per call costs
~3× on SQLite: workflow/DESIGN.md, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, insert, select, update

from jiekun.persistence.backends import Backend, write_lock_statement
from jiekun.persistence.chain import StoredEvent
from jiekun.persistence.policy_rows import current_query
from jiekun.persistence.schema import (
    attempts,
    case_keys,
    case_personal,
    cases,
    events,
    personal_data,
    timers,
)
from jiekun.persistence.vault import Vault


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
    # the personal figures of the case (JSON, e.g. medical_declared), None when it has none:
    # plain text here, sealed in the row (persistence/vault.py)
    personal: str | None = None


class Loaded:
    """A case as its rows hold it: the projection, and the vault's application text and
    applicant id (None once destroyed).

    The application is opened when first read: a command that does not read it (a timer's
    firing: ``Decider.reads_application``) then never pays for opening ~6 KB of it (a third
    of a firing's store time, measured). ``opener`` None: ``application`` is plain text."""

    __slots__ = ("_application", "_opener", "applicant_id", "row")

    def __init__(self, row: ProjectionRow, application: str | None, applicant_id: str | None,
                 opener: Callable[[str], str] | None = None) -> None:
        self.row = row
        self.applicant_id = applicant_id
        self._application = application
        self._opener = opener

    @property
    def has_application(self) -> bool:
        """Whether the case still has its application (without opening it)."""
        return self._application is not None

    @property
    def application(self) -> str | None:
        if self._opener is not None and self._application is not None:
            self._application = self._opener(self._application)
            self._opener = None
        return self._application


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
    idempotency_key: str | None = None  # scoped to its caller (workflow/idempotency.py)
    request_digest: str | None = None
    timer: TimerRow | None = None  # None: the timer row is unchanged
    applicant: tuple[str, str] | None = None  # (applicant id, application text) when changed
    destroy_personal: bool = False
    # indexed case columns (CASES_INDEXED) the transition leaves as they were: not rewritten
    kept: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Attempt:
    """A refused command as the attempts log keeps it (issue 16): times as UTC text, the actor
    as role and organisation (a worker: a digest of their id number), the refusal's code. No
    payload, no personal data."""

    at: str
    recorded_at: str
    case_id: str
    actor_role: str
    actor_org: str | None
    trigger: str
    code: str

    def values(self) -> dict[str, Any]:
        """Its columns, each cut to the column's length (a refused trigger or role may be any
        text the caller sent: the log line must still fit)."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            length = getattr(attempts.c[name].type, "length", None)
            out[name] = value[:length] if isinstance(value, str) and length else value
        return out


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
    def __init__(self, compiler: Dialect, backend: Backend) -> None:
        self.backend = backend
        self.insert_event = insert(events)
        self.insert_case = insert(cases)
        self._compiler = compiler
        self._case_updates: dict[frozenset[str], Raw] = {}
        self.load_case = (
            select(cases, case_personal.c.application, case_personal.c.applicant_id)
            .outerjoin(case_personal, case_personal.c.case_id == cases.c.case_id)
            .where(cases.c.case_id == bindparam("case_id")))
        self.upsert_timer = backend.upsert(timers, ["case_id"],
                                           ["case_id", "kind", "due", "status", "armed_seq"])
        self.upsert_applicant = backend.upsert(
            case_personal, ["case_id"], ["case_id", "applicant_id", "application",
                                         "applicant_key"])
        self.insert_personal = insert(personal_data)
        self.event_by_key = select(events.c.case_id, events.c.seq,
                                   events.c.request_digest).where(
            events.c.idempotency_key == bindparam("key"))
        self.set_timer_due = (
            update(timers).where(timers.c.case_id == bindparam("b_case_id"),
                                 timers.c.armed_seq == bindparam("b_armed_seq"),
                                 timers.c.status == "pending", timers.c.due.is_(None))
            .values(due=bindparam("due")))
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
        self.raw_timer_of = Raw(select(timers.c.case_id, timers.c.kind, timers.c.due,
                                       timers.c.status, timers.c.armed_seq).where(
            timers.c.case_id == bindparam("case_id")), compiler)
        self.raw_event_by_key = Raw(self.event_by_key, compiler)
        self.raw_claim_timer = Raw(backend.claim_statement(), compiler)
        self.open_cases_of = (
            select(cases.c.case_id, cases.c.state)
            .join(case_personal, case_personal.c.case_id == cases.c.case_id)
            .where(case_personal.c.applicant_key == bindparam("applicant_key")))
        self.raw_open_cases_of = Raw(self.open_cases_of, compiler)
        self.raw_insert_personal = Raw(self.insert_personal, compiler,
                                       ["case_id", "seq", "payload"])
        self.raw_upsert_applicant = Raw(self.upsert_applicant, compiler)
        self.raw_write_lock = Raw(write_lock_statement(), compiler)
        self.raw_insert_attempt = Raw(insert(attempts), compiler,
                                      [c.name for c in attempts.c if c.name != "position"])
        self.raw_key_ref = Raw(select(case_keys.c.key_ref).where(
            case_keys.c.case_id == bindparam("case_id")), compiler)
        self.raw_insert_case_key = Raw(insert(case_keys), compiler, ["case_id", "key_ref"])
        # the current policy version, read with the write lock (backend.lock_and_read)
        self.current_policy_sql = Raw(current_query(), compiler).sql

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




def _one_row(connection: Connection, raw: Raw, values: dict[str, Any]) -> Any:
    """The first row of a precompiled statement, on the connection's own driver cursor."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(raw.sql, raw.params(values))
        return cursor.fetchone()
    finally:
        cursor.close()


def key_reference(connection: Connection, statements: Statements, case_id: str) -> str | None:
    """The reference of the batch key that seals a case (``case_keys``), if it has one."""
    row = _one_row(connection, statements.raw_key_ref, {"case_id": case_id})
    return None if row is None else str(row[0])


def load_case(connection: Connection, statements: Statements, case_id: str,
              vault: Vault) -> Loaded | None:
    """The case's projection row and vault text (opened), on any connection of the store."""
    row = _one_row(connection, statements.raw_load_case, {"case_id": case_id})
    if row is None:
        return None
    projection = ProjectionRow(*row[:-2])
    if projection.personal is not None:
        projection = replace(projection, personal=vault.open(
            case_id, str(projection.version), "cases.personal", projection.personal))
    return Loaded(projection, row[-2],
                  vault.open_optional(case_id, "application", "case_personal.applicant_id",
                                      row[-1]),
                  partial(vault.open, case_id, "application", "case_personal.application"))
