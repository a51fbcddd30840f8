"""The store as the engine and the scheduler see it: a port, three protocols. ``Store``
(``persistence/store.py``) implements it on SQLite and PostgreSQL, with one backend strategy
each (``persistence/backends.py``); the store tests in ``tests/store`` run against both as the
port's contract suite. Nothing outside ``persistence`` writes SQL or holds a connection.

Times cross the port as UTC text where they are stored that way (``chain.utc_text``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from jiekun.persistence.policy_rows import PolicyVersionRow
from jiekun.persistence.queries import CaseChunk, CaseFilter, EventRecord, LeafRow
from jiekun.persistence.statements import Attempt, Loaded, TimerRow, Write
from jiekun.persistence.timer_queries import DueTimer


class ReadPort(Protocol):
    """Reads inside one read transaction (``StorePort.reads()``)."""

    def load(self, case_id: str) -> Loaded | None:
        """The case's projection row and its vault text, opened (None: no such case; E-KEY
        when its personal data cannot be opened)."""

    def personal_salt(self, case_id: str) -> bytes | None:
        """The salt of the case's ``sha256s:`` personal digests (``chain.personal_digest``),
        for an export that lets its reader recompute them; None: no key at hand (none
        configured, or destroyed by the purge)."""

    def case_events(self, case_id: str, until: str | None = None) -> list[EventRecord]:
        """A case's events in sequence order, up to ``until`` (UTC text) inclusive."""

    def events_since(self, position: int, limit: int | None = None) -> list[EventRecord]:
        """Committed events after ``position``, in commit order."""

    def all_events(self) -> Iterator[EventRecord]:
        """Every event in commit order, read a page at a time."""

    def event_at(self, case_id: str, seq: int) -> EventRecord | None:
        """One event."""

    def case_rows(self, where: CaseFilter, limit: int | None = None,
                  after: str | None = None) -> list[dict[str, object]]:
        """Case summaries matching ``where``, by case id, after the case id ``after``."""

    def all_case_ids(self) -> list[str]:
        """Every case id with events or a projection, sorted."""

    def purged_cases(self) -> set[str]:
        """Cases whose personal data was destroyed."""

    def derivations_of(self, trigger: str, case_id: str | None = None
                       ) -> list[tuple[str, str, str]]:
        """(case, time, derived JSON) of every event of ``trigger``, in commit order."""

    def case_chunk(self, chunk: list[str]) -> CaseChunk:
        """Events, projection, timer and vault rows of the cases in ``chunk`` (audits)."""

    def timer_of(self, case_id: str) -> dict[str, object] | None:
        """The case's timer row."""

    def due_timers(self, until: datetime, limit: int, after: tuple[str, str] | None = None,
                   status: str = "pending") -> list[DueTimer]:
        """Timers in ``status`` due by ``until``, in (due, case) order after ``after``."""

    def next_due(self) -> datetime | None:
        """The earliest due time of a pending timer."""

    def timer_counts(self) -> dict[str, int]:
        """Timer rows by status."""

    def undated_timers(self, limit: int) -> list[tuple[str, str, int]]:
        """(case, kind, armed seq) of pending timers armed without a due time."""

    def event_count(self) -> int:
        """How many events the store holds (the size of its Merkle tree)."""

    def event_hashes(self, after: int | None, limit: int) -> list[LeafRow]:
        """At most ``limit`` events after position ``after`` (None: from the first) as
        (position, case, seq, hash), in commit order: a page of the tree's leaves."""

    def store_origin(self) -> str:
        """The store's identity in a checkpoint (its URL without user, password or driver)."""

    def key_references(self) -> set[str]:
        """The key-store references of the cases' batch keys (``case_keys``): which keys of
        the provider seal a case."""

    def attempts(self, case_id: str | None = None, actor_org: str | None = None,
                 since: str | None = None, limit: int = 1000, *,
                 actor_role: str | None = None, after: int | None = None
                 ) -> list[dict[str, object]]:
        """Refused commands of the attempts log (issue 16) in position order, at most
        ``limit``: of a case, of an actor's organisation (a worker: its digest) and role,
        dated at or after ``since`` (UTC text), after the position ``after``."""

    def policy_versions(self) -> list[PolicyVersionRow]:
        """Every policy version published to the store, by number."""

    def policy_version(self, number: int) -> PolicyVersionRow | None:
        """One policy version by its number."""

    def policy_by_hash(self, hash_: str) -> PolicyVersionRow | None:
        """The policy version with this hash, or whose pre-0005 hash it is (an alias)."""

    def current_policy_number(self) -> int | None:
        """The current policy version: the highest-numbered one with its text."""


class WritePort(Protocol):
    """The reads and writes of one write transaction (``StorePort.unit_of_work()``)."""

    def lock_for_write(self) -> int | None:
        """Serialise this transaction with other writers (commit order = position order);
        returns the store's current policy version, read once the lock is held."""

    def policy_version(self, number: int) -> PolicyVersionRow | None:
        """One policy version by its number, inside this transaction."""

    def last_policy_number(self) -> int:
        """The highest policy version number, with or without text (0: none)."""

    def prefetch_keys(self, case_ids: list[str]) -> None:
        """Fetch the data keys of cases this transaction is about to load, at once (a page
        of firings), rather than one key-store read per case."""

    def insert_policy_version(self, row: PolicyVersionRow) -> None:
        """Publish a policy version."""

    def undated_timers(self, limit: int) -> list[tuple[str, str, int]]:
        """(case, kind, armed seq) of pending timers armed without a due time."""

    def load(self, case_id: str) -> Loaded | None:
        """The case as its rows hold it, inside this transaction."""

    def timer_row(self, case_id: str) -> TimerRow | None:
        """The case's timer row (its armed sequence and status), inside this transaction."""

    def personal_salt(self, case_id: str) -> bytes | None:
        """The salt of the case's new personal digests (``chain.personal_digest``), kept with
        its data key and destroyed with it; None when the store does not encrypt."""

    def cases_of_applicant(self, applicant_id: str) -> list[tuple[str, str]]:
        """(case, state) of every case of an applicant."""

    def event_by_key(self, key: str) -> tuple[str, int, str | None] | None:
        """(case, seq, request digest) of the event recorded under an idempotency key."""

    def claim_timer(self, case_id: str, armed_seq: int) -> bool:
        """Take a pending timer for this transaction (False: gone, or taken elsewhere)."""

    def block_timer(self, case_id: str, armed_seq: int) -> bool:
        """Leave a due timer waiting (its trigger was refused)."""

    def set_timer_due(self, case_id: str, armed_seq: int, due: str) -> bool:
        """Date a pending timer armed without a due time."""

    def write(self, w: Write) -> None:
        """Every write of one transition (VersionConflict when the case moved on)."""

    def record_attempt(self, attempt: Attempt) -> None:
        """Add a refused command to the attempts log, in this transaction."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A part of the transaction undone alone when it raises."""

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the commit (never on a rollback)."""


class StorePort(Protocol):
    """A case store shared by any number of threads: at most ``pool_size`` write connections
    (``connections`` of them open now); a call waits ``timeout`` seconds for one."""

    pool_size: int
    timeout: float

    @property
    def connections(self) -> int:
        """Write connections open now."""

    def unit_of_work(self) -> AbstractContextManager[WritePort]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    def reads(self) -> AbstractContextManager[ReadPort]:
        """A read transaction (it never blocks a writer)."""

    def flush_destroyed(self) -> None:
        """After personal data was destroyed: the backend's clean-up."""

    def close(self) -> None:
        """Release every connection; later calls raise StoreClosed."""
