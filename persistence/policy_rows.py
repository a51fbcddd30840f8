"""The store's policy versions (``schema.policy_versions``, migration 0005) as plain rows.

The current version is the highest-numbered one whose text the store holds. A command learns it
in the statement that takes the write lock (``store.UnitOfWork.lock_for_write``), so no command
pays a round trip of its own for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select

from jiekun.persistence.schema import policy_versions


@dataclass(frozen=True)
class PolicyVersionRow:
    """One published version: ``toml`` None only for a version registered from old events
    whose text the store never held; ``published_at`` UTC text."""

    version: int
    policy_id: str
    hash: str
    legacy_hash: str | None
    toml: str | None
    published_by: str
    published_at: str
    note: str


_COLUMNS = (policy_versions.c.version, policy_versions.c.policy_id, policy_versions.c.hash,
            policy_versions.c.legacy_hash, policy_versions.c.toml,
            policy_versions.c.published_by, policy_versions.c.published_at,
            policy_versions.c.note)


def _row(row: Any) -> PolicyVersionRow:
    return PolicyVersionRow(int(row[0]), str(row[1]), str(row[2]),
                            None if row[3] is None else str(row[3]),
                            None if row[4] is None else str(row[4]), str(row[5]), str(row[6]),
                            str(row[7]))


def current_query() -> Any:
    """The current version's number (NULL: none): no parameters, so a backend may send it in
    the same message as its write lock."""
    return select(func.max(policy_versions.c.version)).where(policy_versions.c.toml.is_not(None))


def current_number(connection: Connection) -> int | None:
    value = connection.execute(current_query()).scalar()
    return None if value is None else int(value)


def last_number(connection: Connection) -> int:
    """The highest version number (with or without text): the next one is one more."""
    value = connection.execute(select(func.max(policy_versions.c.version))).scalar()
    return 0 if value is None else int(value)


def all_rows(connection: Connection) -> list[PolicyVersionRow]:
    return [_row(r) for r in connection.execute(select(*_COLUMNS).order_by(
        policy_versions.c.version))]


def by_number(connection: Connection, number: int) -> PolicyVersionRow | None:
    row = connection.execute(select(*_COLUMNS).where(
        policy_versions.c.version == number)).first()
    return None if row is None else _row(row)


def by_hash(connection: Connection, hash_: str) -> PolicyVersionRow | None:
    """The version with this hash, or whose hash before migration 0005 it was (an alias);
    the newest when several share it (a text published again says the same)."""
    row = connection.execute(select(*_COLUMNS).where(
        or_(policy_versions.c.hash == hash_, policy_versions.c.legacy_hash == hash_)).order_by(
        (policy_versions.c.hash == hash_).desc(), policy_versions.c.version.desc())).first()
    return None if row is None else _row(row)


def insert_row(connection: Connection, row: PolicyVersionRow) -> None:
    connection.execute(insert(policy_versions).values(vars(row)))
