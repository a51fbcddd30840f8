"""Fixtures of the store's tests: a real PostgreSQL 15 server started once per session, and a
fresh store per test on each backend (SQLite file, PostgreSQL database), schema upgraded.

When PostgreSQL cannot be started the PostgreSQL tests FAIL (never skip) with the reason: CI
must run both backends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg import PostgresServer, PostgresUnavailable

from jiekun.persistence.database import make_engine, upgrade
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    problem = None
    try:
        server.start()
    except (PostgresUnavailable, OSError, ValueError, subprocess.SubprocessError) as error:
        problem = f"cannot start the test PostgreSQL 15 server: {error}"
    if problem is not None:
        server.stop()
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


NewStore = Callable[..., str]


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[NewStore]:
    """``pg_database(upgraded=True)``: the URL of a new database on the test server, dropped
    after the test."""
    made: list[str] = []

    def make(upgraded: bool = True) -> str:
        name = pg_server.create_database()
        made.append(name)
        url = pg_server.url(name)
        if upgraded:
            _upgrade(url)
        return url

    yield make
    for name in made:
        pg_server.drop_database(name)


def _upgrade(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_store(backend_name: str, request: pytest.FixtureRequest,
              tmp_path: Path) -> NewStore:
    """``new_store(upgraded=True)``: the URL of a new, empty store on this test's backend."""
    if backend_name == "postgresql":
        make: NewStore = request.getfixturevalue("pg_database")
        return make
    count = 0

    def make_sqlite(upgraded: bool = True) -> str:
        nonlocal count
        count += 1
        url = f"sqlite:///{tmp_path / f'store-{count}.db'}"
        if upgraded:
            _upgrade(url)
        return url

    return make_sqlite


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store URL (schema upgraded) shared by the tests of one module, on each backend: for
    tests that change it only inside a transaction they roll back."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'shared.db'}"
        _upgrade(url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    url = server.url(name)
    _upgrade(url)
    yield url
    server.drop_database(name)


@pytest.fixture
def pg(backend_name: str, request: pytest.FixtureRequest) -> PostgresServer | None:
    """The test PostgreSQL server when the test runs on PostgreSQL (pg_dump, psql), else
    None."""
    if backend_name != "postgresql":
        return None
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server


@pytest.fixture
def backend(new_store: NewStore) -> str:
    """A fresh store URL with the schema upgraded, on SQLite and on PostgreSQL."""
    return new_store()


@pytest.fixture
def open_engine(decider: Decider) -> Iterator[Callable[[str], Engine]]:
    """``open_engine(url)``: Engine.open with the session's decider; disposed after the test."""
    opened: list[Engine] = []

    def open_(url: str) -> Engine:
        engine = Engine.open(url, decider=decider)
        opened.append(engine)
        return engine

    yield open_
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(backend: str, open_engine: Callable[[str], Engine]) -> Engine:
    return open_engine(backend)
