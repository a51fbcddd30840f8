"""Reads of the store: histories, the notification log, case lists. Plain rows, no engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, and_, func, select

from jiekun.persistence import schema
from jiekun.persistence.chain import StoredEvent
from jiekun.persistence.schema import case_personal, cases, events, personal_data, timers

_EVENT_COLUMNS = (events.c.position, events.c.case_id, events.c.seq, events.c.at,
                  events.c.trigger, events.c.actor, events.c.data, events.c.personal_digest,
                  events.c.policy_id, events.c.policy_hash, events.c.derived,
                  events.c.prev_hash, events.c.hash, personal_data.c.payload)


class EventRecord(NamedTuple):
    """An event's row: its position, its stored text, its hash; ``personal_salt`` the salt of
    its ``sha256s:`` personal digest when its personal part was opened (an export carries it
    so that its reader can recompute the digest; ``Reads`` fills it)."""

    position: int
    stored: StoredEvent
    hash: str
    personal_salt: bytes | None = None


def event_query() -> Select[tuple[object, ...]]:
    return select(*_EVENT_COLUMNS).outerjoin(
        personal_data, and_(personal_data.c.case_id == events.c.case_id,
                            personal_data.c.seq == events.c.seq))


def record_of(row: Sequence[Any]) -> EventRecord:
    # both drivers give str for the text columns and int for the integer ones: no conversion
    # (an audit builds a million of these)
    (position, case_id, seq, at, trigger, actor, data, personal_digest, policy_id, policy_hash,
     derived, prev_hash, hash_, payload) = row
    return EventRecord(position, StoredEvent(case_id, seq, at, trigger, actor, data,
                                             personal_digest, policy_id, policy_hash, derived,
                                             prev_hash, payload), hash_)


def case_events(connection: Connection, case_id: str, until: str | None = None
                ) -> list[EventRecord]:
    """A case's events in sequence order (``until``: UTC text, inclusive)."""
    query = event_query().where(events.c.case_id == case_id)
    if until is not None:
        query = query.where(events.c.at <= until)
    return [record_of(r) for r in connection.execute(query.order_by(events.c.seq))]


def events_since(connection: Connection, position: int, limit: int | None = None
                 ) -> list[EventRecord]:
    """Committed events after ``position``, in commit order (the notification log)."""
    query = event_query().where(events.c.position > position).order_by(events.c.position)
    if limit is not None:
        query = query.limit(limit)
    return [record_of(r) for r in connection.execute(query)]


def all_events(connection: Connection, batch: int = 5000) -> Iterator[EventRecord]:
    position = 0
    while True:
        page = events_since(connection, position, batch)
        if not page:
            return
        yield from page
        position = page[-1].position


def event_at(connection: Connection, case_id: str, seq: int) -> EventRecord | None:
    query = event_query().where(events.c.case_id == case_id, events.c.seq == seq)
    row = connection.execute(query).first()
    return None if row is None else record_of(tuple(row))


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    reviewing_body: str | None = None
    grassroots_union: str | None = None
    applicant_id: str | None = None  # the read port looks it up by its keyed hash
    recheck_due_before: str | None = None  # UTC text
    applicant_key: str | None = None  # the keyed hash itself (``Reads.case_rows`` sets it)


def case_rows(connection: Connection, where: CaseFilter, limit: int | None = None,
              after: str | None = None) -> list[dict[str, object]]:
    query = select(cases.c.case_id, cases.c.state, cases.c.version, cases.c.category,
                   cases.c.reviewing_body, cases.c.grassroots_union, cases.c.updated_at)
    if where.state is not None:
        query = query.where(cases.c.state == where.state)
    if where.reviewing_body is not None:
        query = query.where(cases.c.reviewing_body == where.reviewing_body)
    if where.grassroots_union is not None:
        query = query.where(cases.c.grassroots_union == where.grassroots_union)
    if where.applicant_key is not None:
        query = query.join(case_personal, case_personal.c.case_id == cases.c.case_id).where(
            case_personal.c.applicant_key == where.applicant_key)
    if where.recheck_due_before is not None:
        query = query.join(timers, timers.c.case_id == cases.c.case_id).where(
            timers.c.kind == "recheck", timers.c.status == "pending",
            timers.c.due <= where.recheck_due_before)
    if after is not None:
        query = query.where(cases.c.case_id > after)
    query = query.order_by(cases.c.case_id)
    if limit is not None:
        query = query.limit(limit)
    return [dict(r._mapping) for r in connection.execute(query)]


def case_ids(connection: Connection) -> list[str]:
    return [str(r[0]) for r in connection.execute(select(cases.c.case_id).order_by(
        cases.c.case_id))]


def timer_of(connection: Connection, case_id: str) -> dict[str, object] | None:
    row = connection.execute(select(timers).where(timers.c.case_id == case_id)).first()
    return None if row is None else dict(row._mapping)


def purged_cases(connection: Connection) -> set[str]:
    """Cases with recorded personal data of which the vault holds nothing any more."""
    with_personal = select(events.c.case_id).where(
        events.c.personal_digest.is_not(None)).distinct()
    kept = select(personal_data.c.case_id).distinct()
    return {str(r[0]) for r in connection.execute(with_personal.except_(kept))}


def derivations_of(connection: Connection, trigger: str, case_id: str | None = None
                   ) -> list[tuple[str, str, str]]:
    """(case id, time, derived JSON) of every event of ``trigger``, in commit order."""
    query = select(events.c.case_id, events.c.at, events.c.derived).where(
        events.c.trigger == trigger)
    if case_id is not None:
        query = query.where(events.c.case_id == case_id)
    return [(str(r[0]), str(r[1]), str(r[2]))
            for r in connection.execute(query.order_by(events.c.position))]


def all_case_ids(connection: Connection) -> list[str]:
    """Every case id with events or a projection, sorted as Python sorts strings."""
    with_events = {str(r[0]) for r in connection.execute(
        select(events.c.case_id).group_by(events.c.case_id))}
    return sorted(with_events | {str(r[0]) for r in connection.execute(select(cases.c.case_id))})


@dataclass(frozen=True)
class CaseChunk:
    """What an audit compares for a chunk of cases: their events in sequence order, and the
    projection, timer and vault rows (as column → value mappings) of each."""

    events: dict[str, list[EventRecord]]
    projections: dict[str, dict[str, Any]]
    timers: dict[str, dict[str, Any]]
    vaults: dict[str, tuple[str, str]]  # case → (applicant id, application text)
    # Filled by the read port (``Reads.case_chunk``), which opens the vault: cases whose
    # personal data could not be opened, with the first event (or for the vault and the
    # projection, the last event) whose data did not open and why (their events' ``personal``,
    # their vault entry and their projection's ``personal`` are then left out); each opened
    # case's digest salt; whether a key provider was configured at all.
    sealed: dict[str, tuple[int, str]] = field(default_factory=dict)
    salts: dict[str, bytes] = field(default_factory=dict)
    keys: bool = True


def _grouped(connection: Connection, chunk: list[str]) -> dict[str, list[EventRecord]]:
    query = event_query().where(events.c.case_id.in_(chunk)).order_by(events.c.case_id,
                                                                       events.c.seq)
    grouped: dict[str, list[EventRecord]] = {}
    # a chunk's rows at once, as plain tuples (bounded by the chunk; SQLAlchemy's buffered
    # row objects cost more than the rows' own decoding)
    for row in connection.execute(query).all():
        record = record_of(row)
        grouped.setdefault(record.stored.case_id, []).append(record)
    return grouped


def _of_chunk(connection: Connection, table: Any, chunk: list[str]) -> dict[str, dict[str, Any]]:
    rows = connection.execute(select(table).where(table.c.case_id.in_(chunk)))
    return {str(r.case_id): dict(r._mapping) for r in rows}


def case_chunk(connection: Connection, chunk: list[str]) -> CaseChunk:
    """The rows of the cases in ``chunk`` (and nothing else: memory stays bounded)."""
    vaults = _of_chunk(connection, case_personal, chunk)
    return CaseChunk(_grouped(connection, chunk), _of_chunk(connection, cases, chunk),
                     _of_chunk(connection, timers, chunk),
                     {k: (str(v["applicant_id"]), str(v["application"]))
                      for k, v in vaults.items()})


class LeafRow(NamedTuple):
    """An event as a leaf of the store's Merkle tree (``workflow/checkpoint.py``): its place
    in commit order and its hash text."""

    position: int
    case_id: str
    seq: int
    hash: str


def event_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def event_hashes(connection: Connection, after: int | None, limit: int) -> list[LeafRow]:
    """The leaves of events after position ``after`` (None: from the first), in commit order,
    at most ``limit`` of them: a page of a checkpoint's log, read without the event's text."""
    query = select(events.c.position, events.c.case_id, events.c.seq, events.c.hash)
    if after is not None:
        query = query.where(events.c.position > after)
    rows = connection.execute(query.order_by(events.c.position).limit(limit))
    return [LeafRow(int(p), str(c), int(s), str(h)) for p, c, s, h in rows]


def store_origin(connection: Connection) -> str:
    """The store's identity in a checkpoint: the random name its schema was given
    (``store_meta.origin``, migration 0004), the same whatever URL, role or driver reaches it."""
    value = connection.execute(
        select(schema.store_meta.c.value).where(schema.store_meta.c.key == "origin")).scalar()
    if value is None:
        raise LookupError("store_meta holds no origin: the schema predates migration 0004")
    return str(value)


def attempts(connection: Connection, case_id: str | None = None, actor_org: str | None = None,
             since: str | None = None, limit: int = 1000, *, actor_role: str | None = None,
             after: int | None = None) -> list[dict[str, object]]:
    """Rows of the attempts log in position order (``since``: UTC text, the command's time at
    or after it; ``after``: a position, to page)."""
    log = schema.attempts
    query = select(log)
    if case_id is not None:
        query = query.where(log.c.case_id == case_id)
    if actor_org is not None:
        query = query.where(log.c.actor_org == actor_org)
    if actor_role is not None:
        query = query.where(log.c.actor_role == actor_role)
    if since is not None:
        query = query.where(log.c.at >= since)
    if after is not None:
        query = query.where(log.c.position > after)
    rows = connection.execute(query.order_by(log.c.position).limit(limit))
    return [dict(r._mapping) for r in rows]
