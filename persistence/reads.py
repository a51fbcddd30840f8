"""The store's reads, as the engine, the scheduler and the tools ask for them: one object per
read transaction (``Store.reads()``), so no caller outside ``persistence`` holds a connection
or writes a query. Times go in and come out as UTC text (``chain.utc_text``), the stored form.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection

from jiekun.persistence import policy_rows, queries, timer_queries
from jiekun.persistence.policy_rows import PolicyVersionRow
from jiekun.persistence.queries import CaseChunk, CaseFilter, EventRecord, LeafRow
from jiekun.persistence.statements import Loaded, Statements, load_case
from jiekun.persistence.timer_queries import DueTimer


class Reads:
    """The read port's implementation on one read-only connection (see ``ports.ReadPort``)."""

    def __init__(self, connection: Connection, statements: Statements) -> None:
        self._connection = connection
        self._statements = statements

    def load(self, case_id: str) -> Loaded | None:
        return load_case(self._connection, self._statements, case_id)

    def case_events(self, case_id: str, until: str | None = None) -> list[EventRecord]:
        return queries.case_events(self._connection, case_id, until)

    def events_since(self, position: int, limit: int | None = None) -> list[EventRecord]:
        return queries.events_since(self._connection, position, limit)

    def all_events(self) -> Iterator[EventRecord]:
        return queries.all_events(self._connection)

    def event_at(self, case_id: str, seq: int) -> EventRecord | None:
        return queries.event_at(self._connection, case_id, seq)

    def case_rows(self, where: CaseFilter, limit: int | None = None,
                  after: str | None = None) -> list[dict[str, object]]:
        return queries.case_rows(self._connection, where, limit, after)

    def all_case_ids(self) -> list[str]:
        return queries.all_case_ids(self._connection)

    def purged_cases(self) -> set[str]:
        return queries.purged_cases(self._connection)

    def derivations_of(self, trigger: str, case_id: str | None = None
                       ) -> list[tuple[str, str, str]]:
        return queries.derivations_of(self._connection, trigger, case_id)

    def case_chunk(self, chunk: list[str]) -> CaseChunk:
        return queries.case_chunk(self._connection, chunk)

    def timer_of(self, case_id: str) -> dict[str, object] | None:
        return queries.timer_of(self._connection, case_id)

    def due_timers(self, until: datetime, limit: int, after: tuple[str, str] | None = None,
                   status: str = "pending") -> list[DueTimer]:
        return timer_queries.due_page(self._connection, until, limit, after, status)

    def next_due(self) -> datetime | None:
        return timer_queries.next_due(self._connection)

    def timer_counts(self) -> dict[str, int]:
        return timer_queries.count_by_status(self._connection)

    def undated_timers(self, limit: int) -> list[tuple[str, str, int]]:
        return timer_queries.undated(self._connection, limit)

    def event_count(self) -> int:
        return queries.event_count(self._connection)

    def event_hashes(self, after: int | None, limit: int) -> list[LeafRow]:
        return queries.event_hashes(self._connection, after, limit)

    def store_origin(self) -> str:
        return queries.store_origin(self._connection)

    def attempts(self, case_id: str | None = None, actor_org: str | None = None,
                 since: str | None = None, limit: int = 1000, *,
                 actor_role: str | None = None, after: int | None = None
                 ) -> list[dict[str, object]]:
        return queries.attempts(self._connection, case_id, actor_org, since, limit,
                                actor_role=actor_role, after=after)

    def policy_versions(self) -> list[PolicyVersionRow]:
        return policy_rows.all_rows(self._connection)

    def policy_version(self, number: int) -> PolicyVersionRow | None:
        return policy_rows.by_number(self._connection, number)

    def policy_by_hash(self, hash_: str) -> PolicyVersionRow | None:
        return policy_rows.by_hash(self._connection, hash_)

    def current_policy_number(self) -> int | None:
        return policy_rows.current_number(self._connection)
