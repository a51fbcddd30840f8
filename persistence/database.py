"""Opening a store: the SQLAlchemy engine with the right durability settings, and its schema
kept by Alembic migrations only.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (the setting FIELD-NOTES.md measured) and
opens write transactions with ``BEGIN IMMEDIATE``, so two writers never both read a case and
then race to write it: the second waits for the lock instead of failing at commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

from jiekun.policies.errors import JiekunError

DEFAULT_URL = "sqlite:///jiekun.db"
_MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaBehind(JiekunError):
    rule = "E-SCHEMA"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below decide when a transaction starts (pysqlite's own
        # implicit BEGIN is deferred, which lets two writers read before either locks).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Destroyed personal data must not linger in freed pages of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (``reading()``) take no write lock: in WAL mode they never block a writer.
        read_only = connection.get_execution_options().get("jiekun_read_only", False)
        driver = connection.connection.driver_connection
        if driver.in_transaction:
            return  # begun on the driver already (Store.unit_of_work): SQLAlchemy joins it
        if read_only:
            driver.execute("BEGIN")
        else:
            begin_write(driver)


def begin_write(driver: Any) -> None:
    """Begin a SQLite write transaction on the driver's connection: the write lock is taken at
    once, so two writers never both read a case and then race to write it."""
    driver.execute("BEGIN IMMEDIATE")


def make_engine(url: str | None = None) -> Engine:
    engine = create_engine(url or DEFAULT_URL, future=True)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


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
                           f"needs {head}: run `jiekun db upgrade --db {where}`")
