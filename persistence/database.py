"""Opening a store: the SQLAlchemy engine with its backend's settings (``backends``), and its
schema, kept by Alembic migrations only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError

from jiekun.persistence.backends import backend_for
from jiekun.policies.errors import SchemaBehind, StoreUnavailable

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
    engine = create_engine(address, **bounds)
    backend.configure(engine)
    return engine


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist (None: it exists, or the store is
    not a SQLite file): opening it would create an empty store."""
    address = make_url(url)
    if address.get_backend_name() != "sqlite" or address.database in (None, "", ":memory:"):
        return None
    path = Path(address.database)
    return None if path.exists() else path


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


def upgrade(engine: Engine) -> str | None:
    """Create or migrate the schema to the newest revision; returns it."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head_revision()


def require_current_schema(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaBehind(f"the store at {where} has schema {current or 'none'}, this jiekun "
                           f"needs {head}: run `jiekun db upgrade --db {where}`",
                           message_zh=f"数据库 {where} 的结构版本为 {current or '无'}，本程序需要 "
                                      f"{head}：请先运行 jiekun db upgrade --db {where}")
