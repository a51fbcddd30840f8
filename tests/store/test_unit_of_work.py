"""The unit of work's transaction is the driver's own (``Store.unit_of_work``): what must still
hold around it. A statement run through SQLAlchemy (``uow.connection``) joins it and commits or
rolls back with the rest; a write connection that broke is replaced, not kept.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy import create_engine, delete, text
from store_cases import DEEP_SUBMIT, at, deep_application, resident_id, union

from jiekun.persistence.schema import timers
from jiekun.workflow.engine import Engine


class Stop(RuntimeError):
    pass


def _events(engine: Engine) -> int:
    with engine.store.reading() as connection:
        return int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())


def _idle(engine: Engine) -> bool:
    """Neither SQLAlchemy nor the driver holds a transaction open on the write connection."""
    connection = engine.store._take_writer()  # the one the last unit of work gave back
    engine.store._give_back(connection)
    driver = connection.connection.driver_connection
    if isinstance(driver, psycopg.Connection):
        busy = driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    else:
        busy = bool(getattr(driver, "in_transaction", True))
    return not connection.in_transaction() and not busy


def test_a_sqlalchemy_statement_commits_with_the_driver_writes(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    engine.fire("A", "start_preliminary_review", union(), at("2024-01-08T10:00:00+08:00"))
    engine.fire("A", "pass_preliminary_review", union(), at("2024-01-08T11:00:00+08:00"))
    with engine.store.unit_of_work() as uow:
        uow.lock_for_write()
        uow.connection.execute(delete(timers).where(timers.c.case_id == "A"))
        assert uow.connection.in_transaction()
    assert _idle(engine)
    with engine.store.reading() as connection:
        assert connection.execute(text("SELECT count(*) FROM timers")).scalar_one() == 0
    # and the next unit of work starts clean: a command commits as usual
    engine.fire("A", "raise_objection", union(), at("2024-01-09T09:00:00+08:00"),
                {"objection_id": "OBJ-1", "summary": "x"})
    assert _events(engine) == 4


def test_a_sqlalchemy_statement_rolls_back_with_the_driver_writes(engine: Engine) -> None:
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    store = engine.store
    with pytest.raises(Stop), store.unit_of_work() as uow:
        uow.lock_for_write()
        uow.connection.execute(text("DELETE FROM events"))
        assert uow.load("A") is not None
        raise Stop
    assert _events(engine) == 1
    assert _idle(engine)


def test_a_write_connection_killed_by_the_server_is_replaced(
        pg_database: Callable[..., str], open_engine: Callable[[str], Engine]) -> None:
    """PostgreSQL ends the engine's write connection (an administrator, a failover): the
    command in flight fails with the driver's error and stores nothing; the next one runs on
    a new connection."""
    url = pg_database()
    engine = open_engine(url)
    engine.submit("A", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    writer = engine.store._take_writer()  # the connection the submit ran on (LIFO)
    engine.store._give_back(writer)
    pid = writer.connection.driver_connection.info.backend_pid
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    with pytest.raises(psycopg.OperationalError):
        engine.fire("A", "start_preliminary_review", union(), at("2024-01-08T10:00:00+08:00"))
    assert _events(engine) == 1
    event = engine.fire("A", "start_preliminary_review", union(),
                        at("2024-01-08T10:00:00+08:00"))
    assert event.seq == 2 and _events(engine) == 2
