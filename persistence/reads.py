"""The store's reads, as the engine, the scheduler and the tools ask for them: one object per
read transaction (``Store.reads()``), so no caller outside ``persistence`` holds a connection
or writes a query. Times go in and come out as UTC text (``chain.utc_text``), the stored form.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, select

from jiekun.persistence import policy_rows, queries, timer_queries
from jiekun.persistence.chain import SALTED
from jiekun.persistence.policy_rows import PolicyVersionRow
from jiekun.persistence.queries import CaseChunk, CaseFilter, EventRecord, LeafRow
from jiekun.persistence.schema import case_keys
from jiekun.persistence.statements import Loaded, Statements, key_reference, load_case
from jiekun.persistence.timer_queries import DueTimer
from jiekun.persistence.vault import Vault
from jiekun.policies.errors import KeyUnavailable


class Reads:
    """The read port's implementation on one read-only connection (see ``ports.ReadPort``)."""

    def __init__(self, connection: Connection, statements: Statements, vault: Vault) -> None:
        self._connection = connection
        self._statements = statements
        # a case's key reference found with the store's precompiled statement, as the
        # writes find it (a history or an export reads case after case)
        self._vault = vault.on(connection, partial(key_reference, connection, statements))

    def _opened(self, record: EventRecord) -> EventRecord:
        """The record with its personal payload opened (E-KEY when it does not open)."""
        stored = record.stored
        if stored.personal is None or not self._vault.encrypts:
            return record
        text = self._vault.open(stored.case_id, str(stored.seq), "personal_data.payload",
                                stored.personal)
        salted = stored.personal_digest is not None and stored.personal_digest.startswith(
            SALTED)
        salt = self._vault.known_salt(stored.case_id) if salted else None
        return record._replace(stored=stored._replace(personal=text), personal_salt=salt)

    def personal_salt(self, case_id: str) -> bytes | None:
        return self._vault.known_salt(case_id)

    def load(self, case_id: str) -> Loaded | None:
        return load_case(self._connection, self._statements, case_id, self._vault)

    def case_events(self, case_id: str, until: str | None = None) -> list[EventRecord]:
        return [self._opened(r) for r in queries.case_events(self._connection, case_id, until)]

    def events_since(self, position: int, limit: int | None = None) -> list[EventRecord]:
        return [self._opened(r) for r in queries.events_since(self._connection, position,
                                                                limit)]

    def all_events(self) -> Iterator[EventRecord]:
        return (self._opened(r) for r in queries.all_events(self._connection))

    def event_at(self, case_id: str, seq: int) -> EventRecord | None:
        record = queries.event_at(self._connection, case_id, seq)
        return None if record is None else self._opened(record)

    def case_rows(self, where: CaseFilter, limit: int | None = None,
                  after: str | None = None) -> list[dict[str, object]]:
        if where.applicant_id is not None:
            where = replace(where, applicant_id=None,
                            applicant_key=self._vault.index(where.applicant_id))
        return queries.case_rows(self._connection, where, limit, after)

    def all_case_ids(self) -> list[str]:
        return queries.all_case_ids(self._connection)

    def purged_cases(self) -> set[str]:
        return queries.purged_cases(self._connection)

    def derivations_of(self, trigger: str, case_id: str | None = None
                       ) -> list[tuple[str, str, str]]:
        return queries.derivations_of(self._connection, trigger, case_id)

    def case_chunk(self, chunk: list[str]) -> CaseChunk:
        """The chunk's rows with the vault opened where it can be: a case whose personal data
        does not open (no key configured, its key gone, a changed ciphertext) is listed in
        ``sealed`` with the reason, its personal parts left out, so chains and projections
        are still checked without any key."""
        raw = queries.case_chunk(self._connection, chunk)
        vault = self._vault
        if not vault.encrypts:
            return raw
        vault.preload(chunk)
        events: dict[str, list[EventRecord]] = {}
        projections = dict(raw.projections)
        vaults: dict[str, tuple[str, str]] = {}
        sealed: dict[str, tuple[int, str]] = {}
        salts: dict[str, bytes] = {}
        for case_id in chunk:
            records = raw.events.get(case_id, [])
            projection = raw.projections.get(case_id)
            kept = raw.vaults.get(case_id)
            where = 0  # the event whose data is being opened (then the last: vault, projection)
            try:
                opened = []
                for record in records:
                    where = record.stored.seq
                    opened.append(self._opened(record))
                events[case_id] = opened
                if projection is not None and projection.get("personal") is not None:
                    projections[case_id] = {**projection, "personal": vault.open(
                        case_id, str(projection["version"]), "cases.personal",
                        projection["personal"])}
                if kept is not None:
                    vaults[case_id] = (
                        vault.open(case_id, "application", "case_personal.applicant_id",
                                   kept[0]),
                        vault.open(case_id, "application", "case_personal.application",
                                   kept[1]))
            except KeyUnavailable as error:
                sealed[case_id] = (where, error.detail)
                events[case_id] = [r._replace(stored=r.stored._replace(personal=None))
                                   for r in records]
                if projection is not None:
                    projections[case_id] = {**projection, "personal": None}
                continue
            salt = vault.known_salt(case_id)
            if salt is not None:
                salts[case_id] = salt
        return CaseChunk({k: v for k, v in events.items() if v}, projections, raw.timers,
                         vaults, sealed, salts, vault.has_keys)

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

    def key_references(self) -> set[str]:
        """The key-store references of the cases' batch keys (``case_keys``)."""
        return {str(r) for r in self._connection.execute(select(case_keys.c.key_ref)).scalars()}

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
