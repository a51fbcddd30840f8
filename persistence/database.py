"""Opening a store: the SQLAlchemy engine with its backend's settings (``backends``), and its
schema, kept by Alembic migrations only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from jiekun.persistence import vault_rows
from jiekun.persistence.backends import backend_for
from jiekun.persistence.keys import (
    FROM_ENVIRONMENT,
    FromEnvironment,
    KeyProvider,
    beside_store,
    configured,
)
from jiekun.policies.errors import SchemaBehind, StoreUnavailable

log = logging.getLogger("jiekun.keys")

DEFAULT_URL = "sqlite:///jiekun.db"
_MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str | None = None, *, pool_size: int = 8, timeout: float = 30.0
                ) -> Engine:
    """The SQLAlchemy engine of a store, its connections set up by the store's backend.

    The pool holds at most ``2 × pool_size`` connections: the store keeps up to ``pool_size``
    of them for write transactions and reads borrow the others (``Store``)."""
    address = make_url(url or DEFAULT_URL)
    backend = backend_for(address.get_backend_name())
    bounds: dict[str, Any] = {}
    if address.database not in (None, "", ":memory:"):
        bounds = {"pool_size": 2 * pool_size, "max_overflow": 0, "pool_timeout": timeout}
    file = sqlite_file(address)
    if file is not None and not Path(file).exists():
        # the store holds every household's data: readable by its owner only, from the start
        # (SQLite gives its -wal and -shm files the same mode)
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            os.close(os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    engine = create_engine(address, **bounds)
    backend.configure(engine)
    return engine


def sqlite_file(address: URL) -> str | None:
    """The file of a SQLite store (None: a server database, or SQLite in memory)."""
    if address.get_backend_name() != "sqlite" or address.database in (None, "", ":memory:"):
        return None
    return str(address.database)


def configured_keys(engine: Engine, *, create: bool) -> tuple[KeyProvider | None, str | None]:
    """The key provider the environment configures for this store (``keys.configured``)."""
    return configured(sqlite_file(engine.url), create=create)


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist (None: it exists, or the store is
    not a SQLite file): opening it would create an empty store."""
    address = make_url(url)
    if address.get_backend_name() != "sqlite" or address.database in (None, "", ":memory:"):
        return None
    path = Path(address.database)
    return None if path.exists() else path


def configured_for_url(url: str, *, create: bool = False
                       ) -> tuple[KeyProvider | None, str | None]:
    """The key provider the environment configures for the store at ``url``
    (``keys.configured``), without connecting to it."""
    return configured(sqlite_file(make_url(url)), create=create)


def key_file_beside(url: str) -> Path | None:
    """Where a SQLite store's own master key file goes (None: not a SQLite file)."""
    return beside_store(sqlite_file(make_url(url)))


def keys_for_upgrade(engine: Engine) -> KeyProvider | None:
    """The environment's key provider for a store being created or upgraded, its master key
    file made when missing (and where, logged: the operator must back it up)."""
    keys, made = configured_keys(engine, create=True)
    if made is not None:
        log.warning("jiekun: %s", made)
    return keys


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision; StoreUnavailable when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:  # the server is down, refuses us, or the file is bad
        where = engine.url.render_as_string(hide_password=True)
        first = str(error.orig or error).strip().splitlines()[0]
        raise StoreUnavailable(where, first) from None


def upgrade(engine: Engine, keys: KeyProvider | FromEnvironment | None = FROM_ENVIRONMENT
            ) -> str | None:
    """Create or migrate the schema to the newest revision, then seal any vault row written
    before encryption; returns the revision.

    ``keys``: the key provider; by default the environment's, a master key file being made
    where ``JIEKUN_MASTER_KEY_FILE`` names a missing one or, with none named, beside a SQLite
    store (logged, with where); with none on PostgreSQL, E-KEY before anything is changed."""
    if isinstance(keys, FromEnvironment):
        keys = keys_for_upgrade(engine)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    if keys is not None:
        vault_rows.seal_existing(engine, keys)
    return head_revision()


def require_current_schema(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaBehind(f"the store at {where} has schema {current or 'none'}, this jiekun "
                           f"needs {head}: run `jiekun db upgrade --db {where}`",
                           message_zh=f"数据库 {where} 的结构版本为 {current or '无'}，本程序需要 "
                                      f"{head}：请先运行 jiekun db upgrade --db {where}")
