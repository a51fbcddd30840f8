"""Purge by crypto-shredding (issue 19): the retention purge destroys the case's data key with
its rows, so a backup taken before the purge — a copy of the SQLite file, a ``pg_dump`` —
restored beside the live store gives none of that case's personal data back with the live
key store, while the other cases of the same backup still open. The backup holds none of the
13 known values in plain text either."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pg import BIN, PostgresServer
from sqlalchemy import select
from store_cases import at, drive
from test_retention import CASE, PERSONAL, WORKER, drive_to_phase_out
from test_vault_encryption import database_bytes, found_in

from jiekun.persistence.keys import FileKeyProvider
from jiekun.persistence.schema import case_keys
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import KeyUnavailable
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

AUDITOR = Actor("auditor")


def drive_to_exit(engine: Engine) -> None:
    drive_to_phase_out(engine)
    gu = Actor("grassroots_union", org="gu-retention-01")
    TimerFirer(engine).catch_up(SimulatedClock(at("2025-03-03T10:00:00+08:00")),
                                at("2025-06-05T08:00:00+08:00"))
    engine.fire(CASE, "confirm_exit", WORKER, at("2025-06-05T10:00:00+08:00"))
    engine.fire(CASE, "confirm_exit", gu, at("2025-06-05T11:00:00+08:00"))
    case = engine.stored_case(CASE)
    assert case is not None and case.state == "exited"


def key_reference(engine: Engine, case_id: str) -> str | None:
    """The reference of the case's data key the store records (``case_keys``)."""
    with engine.store.reading() as connection:
        found = connection.execute(select(case_keys.c.key_ref).where(
            case_keys.c.case_id == case_id)).scalar()
    return None if found is None else str(found)


def backup(url: str, pg: PostgresServer | None, engine: Engine, where: Path) -> Path:
    """A file copy of the SQLite store (its WAL folded in first), or a ``pg_dump``."""
    if pg is None:
        engine.store.flush_destroyed()  # (a checkpoint: the copy is the whole store)
        copy = where / "backup.db"
        shutil.copy(url.removeprefix("sqlite:///"), copy)
        return copy
    out = where / "backup.sql"
    database_bytes(url, pg, out)
    return out


def restore(copy: Path, pg: PostgresServer | None) -> str:
    """The backup as a store of its own, beside the live one."""
    if pg is None:
        return f"sqlite:///{copy}"
    name = pg.create_database("restored")
    subprocess.run([str(BIN / "psql"), "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                    "postgres", "-d", name, "-f", str(copy), "-v", "ON_ERROR_STOP=1"],
                   check=True, timeout=120, capture_output=True)
    return pg.url(name)


def test_a_backup_from_before_the_purge_gives_nothing_back(
        backend: str, engine: Engine, decider: Decider, pg: PostgresServer | None,
        master_key: Path, tmp_path: Path) -> None:
    drive(engine, "KEEP-1", relative=False, n=901, steps=5)  # stays, with its data
    drive_to_exit(engine)
    copy = backup(backend, pg, engine, tmp_path)
    assert found_in(copy.read_bytes()) == []  # sealed in the backup as well
    with engine.store.reads() as reads:
        scope = reads.store_origin()
    keys = FileKeyProvider(master_key)
    reference = key_reference(engine, CASE)  # new cases' keys come from a batch, by reference
    assert reference is not None and keys.keys_by_reference(scope, [reference])

    fired = TimerFirer(engine).catch_up(SimulatedClock(at("2025-06-05T12:00:00+08:00")),
                                        at("2036-01-01T00:00:00+08:00"))
    assert ("retention_expired", CASE) in [(f.trigger, f.timer.case_id) for f in fired]
    purged = engine.stored_case(CASE)
    assert purged is not None and purged.state == "purged" and purged.application is None
    assert keys.keys_by_reference(scope, [reference]) == {}  # shredded
    assert keys.data_key(scope, CASE, create=False) is None
    assert key_reference(engine, CASE) is None  # the store's reference went with the rows
    kept_reference = key_reference(engine, "KEEP-1")
    assert kept_reference is not None and keys.keys_by_reference(scope, [kept_reference])

    restored = Engine.open(restore(copy, pg), decider=decider)  # with the live key store
    try:
        with restored.store.reads() as reads:
            assert reads.store_origin() == scope  # the same store, as it was
        with restored.store.reads() as reads:
            # the backup still holds the exited case's vault rows ...
            chunk = reads.case_chunk([CASE])
            assert CASE in chunk.sealed and "no data key" in chunk.sealed[CASE][1]
            with pytest.raises(KeyUnavailable) as refused:
                reads.load(CASE)  # ... which no key opens any more
        assert refused.value.code == "E-KEY" and "no data key" in refused.value.message_en
        with pytest.raises(KeyUnavailable):
            restored.history(CASE, AUDITOR)
        # the other case of the same backup opens: the key store is the right one
        kept = restored.stored_case("KEEP-1")
        assert kept is not None and kept.application is not None
        # not even the sealed values name the case's data (each cell is only ciphertext)
        leftovers = found_in(copy.read_bytes())
        assert leftovers == [], leftovers
        assert PERSONAL["id number"] not in copy.read_bytes().decode("utf-8", "replace")
    finally:
        restored.close()
