"""The timers table's own statements: the next due rows in due order, a page at a time,
and the dating of timers armed before their calendar year was known.

The scheduler never loads every pending timer (a million of them must fit in 200 MB): it asks
for the next page of rows due by a moment, ordered by (due, case), after the last one it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select, update

from jiekun.persistence.chain import from_utc_text, utc_text
from jiekun.persistence.schema import timers
from jiekun.policies.deadlines import SHANGHAI


@dataclass(frozen=True)
class DueTimer:
    case_id: str
    kind: str
    due: datetime
    armed_seq: int
    status: str = "pending"


def due_page(connection: Connection, until: datetime, limit: int,
             after: tuple[str, str] | None = None, status: str = "pending") -> list[DueTimer]:
    """Timers in ``status`` due at or before ``until``, after the (due, case_id) ``after``."""
    query = select(timers.c.case_id, timers.c.kind, timers.c.due, timers.c.armed_seq,
                   timers.c.status).where(timers.c.status == status,
                                          timers.c.due <= utc_text(until))
    if after is not None:
        query = query.where(or_(timers.c.due > after[0],
                                and_(timers.c.due == after[0], timers.c.case_id > after[1])))
    rows = connection.execute(query.order_by(timers.c.due, timers.c.case_id).limit(limit))
    return [DueTimer(r.case_id, r.kind, from_utc_text(r.due).astimezone(SHANGHAI), r.armed_seq,
                     r.status)
            for r in rows]


def next_due(connection: Connection) -> datetime | None:
    value = connection.execute(select(func.min(timers.c.due)).where(
        timers.c.status == "pending")).scalar()
    return None if value is None else from_utc_text(str(value)).astimezone(SHANGHAI)


def count_by_status(connection: Connection) -> dict[str, int]:
    rows = connection.execute(select(timers.c.status, func.count()).group_by(timers.c.status))
    return {str(status): int(count) for status, count in rows}


def undated(connection: Connection, limit: int) -> list[tuple[str, str, int]]:
    """Pending timers with no due time yet (their calendar year was unknown when armed)."""
    query = select(timers.c.case_id, timers.c.kind, timers.c.armed_seq).where(
        timers.c.status == "pending", timers.c.due.is_(None)).order_by(timers.c.case_id)
    return [(str(r[0]), str(r[1]), int(r[2])) for r in connection.execute(query.limit(limit))]


def set_due(connection: Connection, case_id: str, armed_seq: int, due: datetime) -> bool:
    done = connection.execute(update(timers).where(
        timers.c.case_id == case_id, timers.c.armed_seq == armed_seq,
        timers.c.status == "pending", timers.c.due.is_(None)).values(due=utc_text(due)))
    return done.rowcount == 1
