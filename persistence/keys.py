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
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jiekun.persistence.vault_crypto import AES, KEY_BYTES, check_algorithm
from jiekun.policies.errors import KeyUnavailable

MASTER_KEY_ENV = "JIEKUN_MASTER_KEY_FILE"
CIPHER_ENV = "JIEKUN_VAULT_CIPHER"
_FORMAT = "jiekun-master-key/1"
_INDEX = "index"  # the data_keys "kind" of a store's index key; a case's is "case"


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
        """The store's key of the applicant index (HMAC-SHA256), made on first use."""


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
        """The data keys of those of ``case_ids`` that have one, in one key-store query (a
        chunk of cases read together, e.g. by ``audit verify``, would otherwise ask once per
        case). E-KEY when one is kept but does not unwrap."""
        found: dict[str, DataKey] = {}
        with self._lock:
            db = self._db()
            for start in range(0, len(case_ids), 500):  # SQLite's bound-parameter limit
                part = case_ids[start:start + 500]
                rows = db.execute(
                    "SELECT case_id, master_id, algorithm, wrapped FROM data_keys WHERE scope "
                    f"= ? AND kind = 'case' AND case_id IN ({', '.join('?' * len(part))})",
                    (scope, *part)).fetchall()
                for case_id, *row in rows:
                    found[str(case_id)] = self._unwrap(tuple(row), scope, "case", str(case_id))
        return found

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

    def index_key(self, scope: str) -> bytes:
        key = self._get(scope, _INDEX, "", True, AES)
        assert key is not None
        return key.key

    def destroy(self, scope: str, case_id: str) -> None:
        with self._lock:
            db = self._db()
            db.execute("DELETE FROM data_keys WHERE scope = ? AND kind = 'case' AND "
                       "case_id = ?", (scope, case_id))
            # the write-ahead log still holds the page with the key: fold it in, truncate
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def status(self, scope: str | None = None) -> dict[str, Any]:
        """Master key ids (current last), and data keys per master key and cipher (of one
        store when ``scope`` is given)."""
        where, args = ("WHERE scope = ? ", (scope,)) if scope is not None else ("", ())
        with self._lock:
            rows = self._db().execute(
                "SELECT master_id, algorithm, kind, count(*) FROM data_keys " + where
                + "GROUP BY master_id, algorithm, kind ORDER BY master_id, algorithm, kind",
                args).fetchall()
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
