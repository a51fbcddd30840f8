"""Re-keying the applicant index (``jiekun keys rotate --index``, issue 19).

A database backup keeps the keyed hashes (``case_personal.applicant_key``) of cases purged
since: whoever holds the live index key can test a guessed id number against them. Re-keying
hashes every row again under a new index key and destroys the old one; the hashes a backup
holds then match nothing anyone can compute.

Lookups (R-ONE-OPEN-CASE, a worker's own cases) compare one hash, computed under the key the
key store names at that moment (``FileKeyProvider.index_key``), with the rows. The rows are in
the store and the keys in the key store, two databases that cannot commit together, so the
order of the steps is what keeps every lookup right:

1. ``prepare``: a new key is kept as "index-next" (committed in the key store). Lookups still
   use the old key, and every row is still under it.
2. ``rewrite``: in one store transaction holding the store's write lock (SQLite's ``BEGIN
   IMMEDIATE``, PostgreSQL's advisory lock: every writer takes it before its lookups and
   writes), every row is hashed again under the new key from its sealed id; then, still
   inside that transaction, the key store marks the new key "index-switch"; then the store
   commits. From the mark on, the rows may be under either key, and lookups wait (it takes a
   commit) — a writer cannot even be inside its transaction then, it waits for the lock.
3. ``finish``: the new key becomes the index key and the old one is deleted (the key store's
   log checkpointed and truncated, as ``destroy`` does); lookups go on under the new key.

A crash (or kill) before the mark leaves the store transaction rolled back and the old key
current: every lookup works, and running again reuses the pending key. A crash between the
mark and step 3 leaves the outcome of the store's commit unknown to the key store: lookups
refuse with E-KEY (after ``FileKeyProvider.index_wait`` seconds) rather than answer "no open
case" under a key that may be the wrong one, until the command runs again, which hashes every
row under the pending key once more (the same value where the commit went through) and
finishes. Writers wait for the lock during step 2, for as long as the rows take (one read of
the rows and their data keys is done before the lock is taken, so only rows changed meanwhile
are worked out under it).

A row whose case has no data key any more (destroyed) cannot be hashed again: it is left as it
was (a purge deletes the row itself; once the old key is destroyed its hash matches nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from jiekun.persistence.backends import backend_for, write_lock_statement
from jiekun.persistence.database import make_engine, require_current_schema
from jiekun.persistence.keys import FileKeyProvider
from jiekun.persistence.queries import store_origin
from jiekun.persistence.schema import case_personal
from jiekun.persistence.vault import INDEX_PREFIX, Vault
from jiekun.persistence.vault_crypto import keyed_hash
from jiekun.policies.errors import KeyUnavailable

_CHUNK = 500  # data keys fetched from the key store at a time
Row = tuple[str, str, str | None]  # case, sealed applicant id, applicant_key


@dataclass
class Rehashed:
    """What a rewrite found: rows in all, rows given a new hash, rows left as they were
    because their data key is gone."""

    rows: int = 0
    rekeyed: int = 0
    keyless: int = 0


def store_scope(engine: Engine) -> str:
    """The store's name in the key provider (its origin)."""
    with engine.connect() as connection:
        return store_origin(connection.execution_options(jiekun_read_only=True))


def rotate_index(engine: Engine, keys: FileKeyProvider) -> dict[str, Any]:
    """Re-key the store's applicant index (steps 1–3 of the module's docstring); running it
    again after an interruption finishes it."""
    scope = store_scope(engine)
    new = prepare(engine, keys, scope)
    done = rewrite(engine, keys, scope, new)
    destroyed = keys.finish_index_switch(scope, new)
    return {"store": scope, "rows": done.rows, "rekeyed": done.rekeyed,
            "keyless": done.keyless, "old_key_destroyed": destroyed, "done": True}


def rotate_index_at(url: str, keys: FileKeyProvider) -> dict[str, Any]:
    """``rotate_index`` on the store at ``url`` (its schema current)."""
    engine = make_engine(url)
    try:
        require_current_schema(engine)
        return rotate_index(engine, keys)
    finally:
        engine.dispose()


def prepare(engine: Engine, keys: FileKeyProvider, scope: str) -> bytes:
    """Step 1: the new index key (the pending one an interrupted run left, or a new one).
    E-KEY when the store's rows are hashed but the key store has no index key for it: the
    wrong key store, whose keys would hash nothing right."""
    if not keys.has_index_key(scope):
        with engine.connect() as connection:
            hashed = connection.execution_options(jiekun_read_only=True).execute(
                select(case_personal.c.case_id).where(
                    case_personal.c.applicant_key.is_not(None)).limit(1)).first()
        if hashed is not None:
            raise KeyUnavailable(f"the key store {keys.keystore} holds no index key for this "
                                 "store, whose index is hashed: not the key store that made it?",
                                 detail_zh="密钥库中没有本库的索引密钥（密钥库不对？）")
    return keys.next_index_key(scope)


def rewrite(engine: Engine, keys: FileKeyProvider, scope: str, new: bytes) -> Rehashed:
    """Step 2: every row hashed under ``new`` and the key store's switch begun, in one store
    transaction under the write lock; returns what it did."""
    vault = Vault(keys, lambda: scope)
    with engine.connect() as connection:
        reading = connection.execution_options(jiekun_read_only=True)
        # worked out before the lock (a case's key found through its store: ``Vault.on``),
        # so that writers wait only for the rows written since
        early = _hashes(vault.on(reading), new, _rows(reading))
    connection = engine.connect()
    try:
        transaction = connection.begin()  # SQLite: BEGIN IMMEDIATE (backends)
        backend_for(engine.dialect.name).lock_for_write(
            lambda statement, values: connection.execute(statement, values),
            write_lock_statement())
        done = _write(connection, vault.on(connection), new, early)
        keys.begin_index_switch(scope, new)
        try:
            transaction.commit()
        except Exception as error:
            raise KeyUnavailable(
                f"the store may not have committed the re-keyed index ({error}): run `jiekun "
                "keys rotate --index` again; lookups by worker id are refused until then",
                detail_zh="索引重算可能未提交：请再次运行 jiekun keys rotate --index") from None
    finally:
        connection.close()
    return done


def _rows(connection: Connection) -> list[Row]:
    return [(str(c), str(i), k) for c, i, k in connection.execute(
        select(case_personal.c.case_id, case_personal.c.applicant_id,
               case_personal.c.applicant_key).order_by(case_personal.c.case_id))]


def _hashes(vault: Vault, key: bytes, rows: list[Row]) -> dict[tuple[str, str], str | None]:
    """(case, sealed id) → the id's hash under ``key`` (None: the case has no data key)."""
    found: dict[tuple[str, str], str | None] = {}
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        vault.preload([case_id for case_id, _, _ in chunk])
        for case_id, sealed, _ in chunk:
            found[(case_id, sealed)] = _hash(vault, key, case_id, sealed)
    return found


def _hash(vault: Vault, key: bytes, case_id: str, sealed: str) -> str | None:
    if vault.data_key(case_id, create=False) is None:
        return None
    applicant_id = vault.open(case_id, "application", "case_personal.applicant_id", sealed)
    return INDEX_PREFIX + keyed_hash(key, applicant_id)


def _write(connection: Connection, vault: Vault, key: bytes,
           early: dict[tuple[str, str], str | None]) -> Rehashed:
    """Hash every row under ``key`` (as worked out early, or now for a row written since)."""
    done = Rehashed()
    changes: list[dict[str, str]] = []
    for case_id, sealed, current in _rows(connection):
        done.rows += 1
        hashed = (early[(case_id, sealed)] if (case_id, sealed) in early
                  else _hash(vault, key, case_id, sealed))
        if hashed is None:
            done.keyless += 1
        elif hashed != current:
            changes.append({"b_case_id": case_id, "b_key": hashed})
    _update(connection, changes)
    done.rekeyed = len(changes)
    return done


def _update(connection: Connection, changes: Iterable[dict[str, str]]) -> None:
    rows = list(changes)
    if rows:
        connection.execute(
            update(case_personal).where(case_personal.c.case_id == bindparam("b_case_id"))
            .values(applicant_key=bindparam("b_key")), rows)
