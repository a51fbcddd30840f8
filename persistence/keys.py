"""Where the vault's keys come from (issue 19): envelope encryption.

Each case has a random data key (``vault_crypto``'s cipher); data keys are kept wrapped by a
master key, in the key provider's own store, never in the case store: a database backup taken
before a purge then holds only ciphertext whose key the purge destroyed. ``KeyProvider`` is
what the store needs of a provider; ``FileKeyProvider`` is the one built in:

- the master key file (``JIEKUN_MASTER_KEY_FILE``, or ``<db>.master-key`` beside a SQLite
  store) holds one or, while a rotation runs, two master keys as JSON; it must be readable by
  its owner only (mode 0600), else it is refused;
- its key store, ``<master key file>.keystore`` (SQLite, 0600), holds every data key wrapped
  (AES-256-GCM under the master key, bound to the store, the case and the cipher), and each
  store's index key (the HMAC key of the applicant index) wrapped the same way.

Keys are scoped by the store's origin (``store_meta``): one key file may serve several stores
whose case ids coincide. A KMS or HSM provider implements the same protocol.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jiekun.persistence import key_pool
from jiekun.persistence.vault_crypto import AES, KEY_BYTES, check_algorithm
from jiekun.policies.errors import KeyUnavailable

MASTER_KEY_ENV = "JIEKUN_MASTER_KEY_FILE"
CIPHER_ENV = "JIEKUN_VAULT_CIPHER"
_FORMAT = "jiekun-master-key/1"
_INDEX = "index"  # the data_keys "kind" of a store's index key; a case's is "case"
# An index re-keying (persistence/index_rotation.py) keeps its new key as "index-next" while it
# rewrites the store's rows, and as "index-switch" once they may be committed under it (until
# the key becomes the "index" key): lookups wait while an "index-switch" key exists.
_INDEX_NEXT = "index-next"
_INDEX_SWITCH = "index-switch"
INDEX_WAIT = 10.0  # seconds a lookup waits for a re-keying to switch keys, then E-KEY


@dataclass(frozen=True)
class DataKey:
    """A case's data key in the clear, and the cipher it is for."""

    algorithm: str
    key: bytes


class KeyProvider(Protocol):
    """What the store needs of a key provider. ``scope`` names the store (its origin)."""

    algorithm: str  # the cipher of data keys made from now on

    def describe(self) -> str:
        """The provider and where it keeps its keys, for messages and ``keys status``."""

    def data_key(self, scope: str, case_id: str, *, create: bool) -> DataKey | None:
        """The case's data key (made and kept when ``create`` and there is none; else None
        when there is none). E-KEY when it is kept but cannot be unwrapped."""

    def destroy(self, scope: str, case_id: str) -> None:
        """Forget the case's data key for good (crypto-shredding: what it sealed is noise)."""

    def index_key(self, scope: str) -> bytes:
        """The store's key of the applicant index (HMAC-SHA256), made on first use. Asked at
        every lookup (the index may have been re-keyed since): a provider caches it itself."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _private_file(path: Path) -> None:
    """Create ``path`` empty, readable and writable by its owner only (no window in which
    it exists with the umask's mode)."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def create_master_key_file(path: Path) -> str:
    """Write a new master key file at ``path`` (mode 0600; never over an existing one);
    returns the key's id."""
    if path.exists():
        raise KeyUnavailable(f"{path} exists: a master key is never overwritten",
                             detail_zh=f"{path} 已存在，不覆盖已有主密钥")
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = "mk-" + secrets.token_hex(4)
    _private_file(path)
    path.write_text(json.dumps({"format": _FORMAT, "keys": [_new_master(key_id)]}, indent=1)
                    + "\n", "utf-8")
    return key_id


def _new_master(key_id: str) -> dict[str, str]:
    return {"id": key_id, "key": base64.b64encode(os.urandom(32)).decode(),
            "created": _now()}


def read_master_keys(path: Path) -> list[tuple[str, bytes]]:
    """(id, key) of every master key in the file, oldest first (the last is current).
    E-KEY when the file is missing, readable by others than its owner, or not a key file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyUnavailable(f"the master key file {path} does not exist (create one with "
                             f"`jiekun keys init`, or set {MASTER_KEY_ENV})",
                             detail_zh=f"主密钥文件 {path} 不存在") from None
    if mode & 0o077:
        raise KeyUnavailable(f"the master key file {path} is readable by others (mode "
                             f"{mode & 0o777:o}): `chmod 600 {path}`",
                             detail_zh=f"主密钥文件 {path} 的权限过宽，请执行 chmod 600")
    try:
        body = json.loads(path.read_text("utf-8"))
        if body.get("format") != _FORMAT:
            raise ValueError("not a jiekun master key file")
        keys = [(str(k["id"]), base64.b64decode(k["key"], validate=True))
                for k in body["keys"]]
        if not keys or any(len(k) != 32 for _, k in keys):
            raise ValueError("a master key is 32 bytes")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeyUnavailable(f"{path} is not a jiekun master key file: {error}",
                             detail_zh=f"{path} 不是有效的主密钥文件") from None
    return keys


def _write_master_keys(path: Path, keys: list[dict[str, str]]) -> None:
    """Replace the key file at once (a new 0600 file renamed over it): a crash leaves the
    old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    _private_file(temporary)
    temporary.write_text(json.dumps({"format": _FORMAT, "keys": keys}, indent=1) + "\n",
                         "utf-8")
    os.replace(temporary, path)


_SHARED: dict[tuple[str, int], tuple[sqlite3.Connection, threading.Lock]] = {}
# The index rows last read through a shared connection, by scope, with the mark they were
# read at (``_mark``): a lookup (every submission's R-ONE-OPEN-CASE) reads them again only
# when the key store changed since.
_INDEX_ROWS: dict[tuple[str, int], dict[str, tuple[tuple[int, int],
                                                   dict[str, tuple[Any, ...]]]]] = {}
_SHARED_LOCK = threading.Lock()


def _open_keystore(path: Path) -> sqlite3.Connection:
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            _private_file(path)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA secure_delete=ON")  # a destroyed key leaves no copy
    connection.execute(
        "CREATE TABLE IF NOT EXISTS data_keys (scope TEXT NOT NULL, kind TEXT NOT NULL, "
        "case_id TEXT NOT NULL, master_id TEXT NOT NULL, algorithm TEXT NOT NULL, wrapped BLOB "
        "NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (scope, kind, case_id))")
    return connection


def _mark(db: sqlite3.Connection) -> tuple[int, int]:
    """What changes whenever the key store's content may have: ``PRAGMA data_version``
    (another connection, e.g. another process re-keying the index, committed since) and the
    rows this connection changed itself (``total_changes``). Reading it costs a fraction of
    reading the rows: https://sqlite.org/pragma.html#pragma_data_version"""
    return int(db.execute("PRAGMA data_version").fetchone()[0]), db.total_changes


def _wrap_ad(scope: str, kind: str, case_id: str, algorithm: str) -> bytes:
    return "\x00".join(("jiekun-data-key/1", scope, kind, case_id, algorithm)).encode()


class FileKeyProvider:
    """Master keys in a file, wrapped data keys in a SQLite key store beside it."""

    def __init__(self, path: str | os.PathLike[str], algorithm: str | None = None) -> None:
        self.path = Path(path)
        self.keystore = self.path.with_name(self.path.name + ".keystore")
        self.algorithm = check_algorithm(algorithm or os.environ.get(CIPHER_ENV) or AES)
        self._masters = dict(read_master_keys(self.path))  # checked now: refused early
        self._lock = threading.Lock()
        self._resolved: str | None = None
        self.index_wait = INDEX_WAIT
        self._index_keys: dict[tuple[str, bytes], bytes] = {}  # (scope, wrapped) → key
        self._db()  # (and takes the shared connection's lock)

    def describe(self) -> str:
        return f"file {self.path} (key store {self.keystore})"

    @property
    def current_master(self) -> str:
        """The id of the master key new data keys are wrapped under (the file's last)."""
        return list(self._masters)[-1]

    def _db(self) -> sqlite3.Connection:
        """The process's one connection to this key store (shared by every provider of it:
        a store opened per request must not open a file each time), made on first use."""
        if self._resolved is None:  # resolving a path is a system call: once per provider
            self._resolved = str(self.keystore.resolve())
        key = (self._resolved, os.getpid())  # a forked child opens its own
        with _SHARED_LOCK:
            shared = _SHARED.get(key)
            if shared is None:
                shared = _SHARED[key] = (_open_keystore(self.keystore), threading.Lock())
        self._lock = shared[1]
        return shared[0]

    def _master(self, key_id: str) -> bytes:
        key = self._masters.get(key_id)
        if key is None:  # the file may have moved on (a rotation in another process)
            self._masters = dict(read_master_keys(self.path))
            key = self._masters.get(key_id)
        if key is None:
            raise KeyUnavailable(f"a data key is wrapped by master key {key_id}, which "
                                 f"{self.path} does not hold (the wrong key file?)",
                                 detail_zh=f"数据密钥由主密钥 {key_id} 加密，但主密钥文件中没有它")
        return key

    def _unwrap(self, row: tuple[Any, ...], scope: str, kind: str, case_id: str) -> DataKey:
        master_id, algorithm, wrapped = str(row[0]), str(row[1]), bytes(row[2])
        try:
            key = AESGCM(self._master(master_id)).decrypt(
                wrapped[:12], wrapped[12:], _wrap_ad(scope, kind, case_id, algorithm))
        except (InvalidTag, ValueError):
            raise KeyUnavailable(f"the data key of {case_id or 'the index'} does not unwrap "
                                 f"under master key {master_id} (a wrong or changed key)",
                                 detail_zh="数据密钥无法用主密钥解开（主密钥不对或被改动）",
                                 ) from None
        return DataKey(algorithm, key)

    def _wrap(self, master_id: str, scope: str, kind: str, case_id: str,
              key: DataKey) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._master(master_id)).encrypt(
            nonce, key.key, _wrap_ad(scope, kind, case_id, key.algorithm))

    def _get(self, scope: str, kind: str, case_id: str, create: bool,
             algorithm: str) -> DataKey | None:
        select = ("SELECT master_id, algorithm, wrapped FROM data_keys WHERE scope = ? AND "
                  "kind = ? AND case_id = ?")
        with self._lock:
            db = self._db()
            row = db.execute(select, (scope, kind, case_id)).fetchone()
            if row is None and create:
                fresh = DataKey(algorithm, os.urandom(KEY_BYTES[algorithm]))
                master = self.current_master
                # OR IGNORE: another process may have made this key meanwhile; theirs stands
                db.execute("INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (scope, kind, case_id, master, algorithm,
                            self._wrap(master, scope, kind, case_id, fresh), _now()))
                row = db.execute(select, (scope, kind, case_id)).fetchone()
        return None if row is None else self._unwrap(row, scope, kind, case_id)

    def data_key(self, scope: str, case_id: str, *, create: bool) -> DataKey | None:
        return self._get(scope, "case", case_id, create, self.algorithm)

    def data_keys(self, scope: str, case_ids: list[str]) -> dict[str, DataKey]:
        """The data keys of those of ``case_ids`` that have one named by their case, in one
        key-store query (a chunk of cases read together, e.g. by ``audit verify``, would
        otherwise ask once per case). E-KEY when one is kept but does not unwrap."""
        return self._named(scope, "case", case_ids)

    def keys_by_reference(self, scope: str, references: list[str]) -> dict[str, DataKey]:
        """The batch keys (``key_pool``) of these references that still exist."""
        return self._named(scope, key_pool.POOL, references)

    def _named(self, scope: str, kind: str, names: list[str]) -> dict[str, DataKey]:
        found: dict[str, DataKey] = {}
        with self._lock:
            db = self._db()
            for start in range(0, len(names), 500):  # SQLite's bound-parameter limit
                part = names[start:start + 500]
                rows = db.execute(
                    "SELECT case_id, master_id, algorithm, wrapped FROM data_keys WHERE scope "
                    f"= ? AND kind = ? AND case_id IN ({', '.join('?' * len(part))})",
                    (scope, kind, *part)).fetchall()
                for name, *row in rows:
                    found[str(name)] = self._unwrap(tuple(row), scope, kind, str(name))
        return found

    def new_key(self, scope: str) -> tuple[str, DataKey]:
        """A new case's data key, from this process's batch (``key_pool``): its reference,
        which the case store records, and the key."""
        algorithm = self.algorithm

        def make_batch(batch: list[tuple[str, bytes]]) -> None:
            master = self.current_master
            rows = key_pool.rows_of(
                batch, scope, master, algorithm,
                lambda ref, key: self._wrap(master, scope, key_pool.POOL, ref,
                                            DataKey(algorithm, key)), _now())
            with self._lock:
                db = self._db()
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany("INSERT INTO data_keys VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise

        with self._lock:
            self._db()  # resolves the key store's path, the batch's owner with the process
        assert self._resolved is not None
        reference, key = key_pool.take(self._resolved, scope, algorithm, make_batch)
        return reference, DataKey(algorithm, key)

    def destroy_reference(self, scope: str, reference: str) -> None:
        """Forget a batch key for good (its case purged)."""
        with self._lock:
            db = self._db()
            db.execute("DELETE FROM data_keys WHERE scope = ? AND kind = ? AND case_id = ?",
                       (scope, key_pool.POOL, reference))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def prepare(self, scope: str, case_ids: list[str]) -> int:
        """Create the data keys of ``case_ids`` that do not exist yet, in one key-store
        transaction (one durable commit for many cases: sealing a whole store, e.g. on
        upgrade, would otherwise commit once per case); returns how many were made."""
        master = self.current_master
        with self._lock:
            db = self._db()
            rows = []
            for case_id in case_ids:
                fresh = DataKey(self.algorithm, os.urandom(KEY_BYTES[self.algorithm]))
                rows.append((scope, "case", case_id, master, self.algorithm,
                             self._wrap(master, scope, "case", case_id, fresh), _now()))
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany("INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                               rows)
                made = db.total_changes - before
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return made

    def _index_rows_locked(self, scope: str) -> dict[str, tuple[Any, ...]]:
        """``_index_rows`` for a caller holding the lock (the caller does not change what
        it is given)."""
        db = self._db()
        mark = _mark(db)
        assert self._resolved is not None  # (set by ``_db``)
        read = _INDEX_ROWS.setdefault((self._resolved, os.getpid()), {})
        cached = read.get(scope)
        if cached is not None and cached[0] == mark:
            return cached[1]
        rows = {str(kind): tuple(row) for kind, *row in db.execute(
            "SELECT kind, master_id, algorithm, wrapped FROM data_keys WHERE scope = ? AND "
            "case_id = '' AND kind IN (?, ?, ?)",
            (scope, _INDEX, _INDEX_NEXT, _INDEX_SWITCH)).fetchall()}
        read[scope] = (mark, rows)  # marked before the read: a change meanwhile shows
        return rows

    def _index_rows(self, scope: str) -> dict[str, tuple[Any, ...]]:
        """The store's index keys by kind (index, index-next, index-switch), still wrapped."""
        with self._lock:
            return self._index_rows_locked(scope)

    def _index_of(self, scope: str, kind: str, row: tuple[Any, ...]) -> bytes:
        """An index key unwrapped (kept: a lookup asks for it every time, and a key store
        read costs less than an unwrap)."""
        cached = self._index_keys.get((scope, bytes(row[2])))
        if cached is None:
            cached = self._unwrap(row, scope, kind, "").key
            self._index_keys[(scope, bytes(row[2]))] = cached
        return cached

    def index_key(self, scope: str) -> bytes:
        """The store's index key. While a re-keying switches keys (an "index-switch" key
        exists) the rows may be hashed under either key: wait for it to finish (it takes a
        commit), then E-KEY, never a key that would find nothing."""
        deadline = time.monotonic() + self.index_wait
        rows = self._index_rows(scope)
        while _INDEX_SWITCH in rows:
            if time.monotonic() >= deadline:
                raise KeyUnavailable(
                    "an index re-keying of this store stopped while switching keys: run "
                    "`jiekun keys rotate --index` to finish it (until then lookups by worker id "
                    "are refused)", detail_zh="申请人索引密钥更换中断：请运行 jiekun keys rotate "
                                              "--index 完成更换")
            time.sleep(0.02)
            rows = self._index_rows(scope)
        row = rows.get(_INDEX)
        if row is None:
            key = self._get(scope, _INDEX, "", True, AES)
            assert key is not None
            return key.key
        return self._index_of(scope, _INDEX, row)

    def has_index_key(self, scope: str) -> bool:
        """Whether the store has an index key here (none: a new store, or another key
        store)."""
        return _INDEX in self._index_rows(scope)

    def next_index_key(self, scope: str) -> bytes:
        """The key a re-keying hashes the index under: the one an interrupted re-keying left,
        else a new one (kept as "index-next": no lookup uses it yet)."""
        rows = self._index_rows(scope)
        for kind in (_INDEX_SWITCH, _INDEX_NEXT):
            if kind in rows:
                return self._index_of(scope, kind, rows[kind])
        key = self._get(scope, _INDEX_NEXT, "", True, AES)
        assert key is not None
        return key.key

    def _replace_index(self, scope: str, drop: tuple[str, ...], kind: str, key: bytes) -> None:
        """Delete the store's index keys of the kinds ``drop`` and keep ``key`` as ``kind``,
        in one key-store transaction (the caller holds the lock, inside BEGIN IMMEDIATE)."""
        db = self._db()
        db.execute(f"DELETE FROM data_keys WHERE scope = ? AND case_id = '' AND kind IN "
                   f"({', '.join('?' * len(drop))})", (scope, *drop))
        master = self.current_master
        db.execute("INSERT INTO data_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (scope, kind, "", master, AES,
                    self._wrap(master, scope, kind, "", DataKey(AES, key)), _now()))

    def _index_transaction(self, scope: str,
                           step: Callable[[dict[str, tuple[Any, ...]]], bool]) -> bool:
        """Run ``step(rows)`` on the store's index keys read inside one key-store write
        transaction; commits what it changed, returns what it returns."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                done = bool(step(self._index_rows_locked(scope)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return done

    def _holds(self, scope: str, rows: dict[str, tuple[Any, ...]], kind: str,
               key: bytes) -> bool:
        return kind in rows and hmac.compare_digest(self._index_of(scope, kind, rows[kind]),
                                                    key)

    def begin_index_switch(self, scope: str, key: bytes) -> None:
        """Mark ``key`` (the re-keying's "index-next") as being switched to: from now on the
        store's rows may be committed under it, and lookups wait until
        ``finish_index_switch``. E-KEY when ``key`` is no longer the pending key (another
        re-keying ran meanwhile)."""
        def step(rows: dict[str, tuple[Any, ...]]) -> bool:
            if self._holds(scope, rows, _INDEX_SWITCH, key) or (
                    _INDEX_SWITCH not in rows and _INDEX_NEXT not in rows
                    and self._holds(scope, rows, _INDEX, key)):
                return False  # marked already, or switched by a re-keying run meanwhile
            if not self._holds(scope, rows, _INDEX_NEXT, key):
                raise KeyUnavailable("the index key being introduced changed meanwhile (a "
                                     "re-keying run at the same time?): run `jiekun keys rotate "
                                     "--index` again", detail_zh="索引密钥在更换期间被改动，请重试")
            self._replace_index(scope, (_INDEX_NEXT,), _INDEX_SWITCH, key)
            return True
        self._index_transaction(scope, step)

    def finish_index_switch(self, scope: str, key: bytes) -> bool:
        """Make ``key`` the store's index key and destroy the old one (its row deleted, the
        key store's log folded in and truncated); returns whether an old key was destroyed
        (False: this switch was finished already)."""
        def step(rows: dict[str, tuple[Any, ...]]) -> bool:
            if not self._holds(scope, rows, _INDEX_SWITCH, key):
                if self._holds(scope, rows, _INDEX, key):
                    return False
                raise KeyUnavailable("no index re-keying to this key is switching: run "
                                     "`jiekun keys rotate --index` again",
                                     detail_zh="没有进行中的索引密钥更换，请重试")
            self._replace_index(scope, (_INDEX, _INDEX_SWITCH), _INDEX, key)
            return True
        destroyed = self._index_transaction(scope, step)
        with self._lock:
            self._index_keys = {k: v for k, v in self._index_keys.items() if v == key
                                or k[0] != scope}
            self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return destroyed

    def destroy(self, scope: str, case_id: str) -> None:
        with self._lock:
            db = self._db()
            db.execute("DELETE FROM data_keys WHERE scope = ? AND kind = 'case' AND "
                       "case_id = ?", (scope, case_id))
            # the write-ahead log still holds the page with the key: fold it in, truncate
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def status(self, scope: str | None = None, used: set[str] | None = None
               ) -> dict[str, Any]:
        """Master key ids (current last), and data keys per master key and cipher (of one
        store when ``scope`` is given). ``used``: the batch-key references the store records
        (``case_keys``): those keys are counted as cases' keys, the rest of the batches as
        ``unused`` (made ahead, sealing nothing)."""
        where, args = ("WHERE scope = ? ", (scope,)) if scope is not None else ("", ())
        with self._lock:
            rows = self._db().execute(
                "SELECT master_id, algorithm, kind, count(*) FROM data_keys " + where
                + "GROUP BY master_id, algorithm, kind ORDER BY master_id, algorithm, kind",
                args).fetchall()
            if used is not None:
                counted: dict[tuple[str, str, str], int] = {}
                for master, algorithm, kind, count in rows:
                    if kind != key_pool.POOL:
                        counted[(master, algorithm, kind)] = int(count)
                for master, algorithm, name in self._db().execute(
                        "SELECT master_id, algorithm, case_id FROM data_keys " + where
                        + ("AND " if where else "WHERE ") + "kind = ?", (*args, key_pool.POOL)):
                    kind = "case" if name in used else "unused"
                    counted[(master, algorithm, kind)] = counted.get(
                        (master, algorithm, kind), 0) + 1
                rows = [(*k, n) for k, n in sorted(counted.items())]
        self._masters = dict(read_master_keys(self.path))
        return {"provider": "file", "master_key_file": str(self.path),
                "key_store": str(self.keystore), "master_keys": list(self._masters),
                "current_master_key": self.current_master, "algorithm": self.algorithm,
                "rotation_in_progress": len(self._masters) > 1,
                "keys": [{"master_key": m, "algorithm": a, "kind": k, "count": int(n)}
                         for m, a, k, n in rows]}

    def rotate(self, batch: int = 500, limit: int | None = None) -> dict[str, Any]:
        """Rewrap every data key (and index key) under a new master key, leaving what they
        seal untouched. The new key is added to the file first and the old one removed last:
        both open keys meanwhile, and a rotation interrupted at any point is finished by
        running it again (it then goes on with the newest key in the file). ``limit``: stop
        after rewrapping that many keys, the rotation left in progress (to spread it out)."""
        masters = dict(read_master_keys(self.path))
        if len(masters) == 1:
            body = json.loads(self.path.read_text("utf-8"))
            body["keys"].append(_new_master("mk-" + secrets.token_hex(4)))
            _write_master_keys(self.path, body["keys"])
        self._masters = dict(read_master_keys(self.path))
        target = self.current_master
        rewrapped = 0
        while True:
            with self._lock:
                db = self._db()
                size = batch if limit is None else min(batch, limit - rewrapped)
                rows = db.execute(
                    "SELECT scope, kind, case_id, master_id, algorithm, wrapped FROM "
                    "data_keys WHERE master_id != ? LIMIT ?", (target, size)).fetchall()
                if not rows:
                    break
                db.execute("BEGIN IMMEDIATE")
                try:
                    for scope, kind, case_id, master_id, algorithm, wrapped in rows:
                        key = self._unwrap((master_id, algorithm, wrapped), scope, kind,
                                           case_id)
                        db.execute("UPDATE data_keys SET master_id = ?, wrapped = ? WHERE "
                                   "scope = ? AND kind = ? AND case_id = ? AND master_id = ?",
                                   (target, self._wrap(target, scope, kind, case_id, key),
                                    scope, kind, case_id, master_id))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                rewrapped += len(rows)
            if limit is not None and rewrapped >= limit:
                return {"master_key": target, "retired": [], "rewrapped": rewrapped,
                        "done": False}
        body = json.loads(self.path.read_text("utf-8"))
        retired = [k["id"] for k in body["keys"] if k["id"] != target]
        _write_master_keys(self.path, [k for k in body["keys"] if k["id"] == target])
        self._masters = dict(read_master_keys(self.path))
        with self._lock:
            self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"master_key": target, "retired": retired, "rewrapped": rewrapped,
                "done": True}


class NoEncryption:
    """No encryption at all: the vault's rows in plain text, digests unsalted, the applicant
    index by the plain id — how stores were before issue 19. Only for measuring what
    encryption costs, or a host that encrypts the whole database itself: never a default."""

    algorithm = "none"

    def describe(self) -> str:
        return "none (personal data stored in plain text)"

    def data_key(self, scope: str, case_id: str, *, create: bool) -> DataKey | None:
        return None

    def destroy(self, scope: str, case_id: str) -> None:
        return None

    def index_key(self, scope: str) -> bytes:
        return b""


NO_ENCRYPTION = NoEncryption()


class FromEnvironment:
    """Use the key provider the environment configures (``configured``): the default."""


FROM_ENVIRONMENT = FromEnvironment()


def beside_store(database: str | None) -> Path | None:
    """The master key file kept beside a SQLite store file (None: not a SQLite file)."""
    if database in (None, "", ":memory:"):
        return None
    return Path(f"{database}.master-key")


def configured(sqlite_file: str | None, *, create: bool) -> tuple[KeyProvider | None, str | None]:
    """The key provider the environment configures for a store, and a sentence when a new
    master key file was made (to tell the operator where it is).

    ``JIEKUN_MASTER_KEY_FILE`` names the file (made there when missing and ``create``);
    without it a SQLite store (``sqlite_file``) uses ``<file>.master-key`` beside it (made
    when missing and ``create``). Nothing configured: None (personal data stays sealed), or
    with ``create`` on a server database, E-KEY saying how to configure one."""
    named = os.environ.get(MASTER_KEY_ENV)
    if named:
        path = Path(named)
        if not path.exists() and create:
            key_id = create_master_key_file(path)
            return FileKeyProvider(path), f"created master key {key_id} in {path} (mode 0600)"
        return FileKeyProvider(path), None
    path_beside = beside_store(sqlite_file)
    if path_beside is None:
        if create:
            raise KeyUnavailable(
                f"no master key is configured for this PostgreSQL store: set {MASTER_KEY_ENV} "
                "to a file path (it is created there, mode 0600; keep it and its .keystore "
                "off the database server and back them up apart), or pass keys= to "
                "Engine.open", detail_zh=f"未配置主密钥：请设置环境变量 {MASTER_KEY_ENV}")
        return None, None
    if path_beside.exists():
        return FileKeyProvider(path_beside), None
    if not create:
        return None, None
    key_id = create_master_key_file(path_beside)
    return FileKeyProvider(path_beside), (
        f"created master key {key_id} beside the store in {path_beside} (mode 0600): back "
        f"it up apart from the store, or set {MASTER_KEY_ENV}")
