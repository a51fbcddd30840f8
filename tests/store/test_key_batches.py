"""New cases' data keys come from batches made ahead (``persistence/key_pool.py``): one durable
key-store commit for many new cases, each case's key named in the case store (``case_keys``)
in the transaction of its first sealed value. Held on both backends: every case opens from a
fresh engine (nothing cached); a refused submission leaves nothing recorded and its key
unused; two engines never hand out the same key; keys named by their case (made before
batches) still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from store_cases import at, deep_application, drive, resident_id, union

from jiekun.persistence import key_pool
from jiekun.persistence.keys import FileKeyProvider
from jiekun.persistence.schema import case_keys
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import GuardFailed, JiekunError
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

AUDITOR = Actor("auditor")


def _references(engine: Engine) -> dict[str, str]:
    with engine.store.reading() as connection:
        return {str(c): str(r) for c, r in connection.execute(
            select(case_keys.c.case_id, case_keys.c.key_ref))}


def _kinds(master_key: Path, scope: str) -> dict[str, int]:
    keystore = FileKeyProvider(master_key).keystore
    with sqlite3.connect(keystore) as db:
        return {str(k): int(n) for k, n in db.execute(
            "SELECT kind, count(*) FROM data_keys WHERE scope = ? GROUP BY kind", (scope,))}


def test_new_cases_take_batch_keys_named_in_the_store(backend: str, decider: Decider,
                                                      master_key: Path) -> None:
    engine = Engine.open(backend, decider=decider)
    try:
        for n in range(key_pool.BATCH + 3):  # more than one batch
            drive(engine, f"B-{n}", relative=False, n=700 + n, steps=1)
        with engine.store.reads() as reads:
            scope = reads.store_origin()
        references = _references(engine)
    finally:
        engine.close()
    assert sorted(references) == sorted(f"B-{n}" for n in range(key_pool.BATCH + 3))
    assert len(set(references.values())) == len(references)  # one key a case
    kinds = _kinds(master_key, scope)
    assert "case" not in kinds  # no key made alone, one commit each
    # two batches made (the second twice the first), the rest left unused
    assert kinds["pool"] == key_pool.BATCH + 2 * key_pool.BATCH
    fresh = Engine.open(backend, decider=decider)  # nothing cached: found by reference
    try:
        for n in (0, key_pool.BATCH + 2):
            case = fresh.stored_case(f"B-{n}")
            assert case is not None and case.applicant_id == resident_id(700 + n)
    finally:
        fresh.close()


def test_a_refused_submission_records_no_key_and_the_next_case_opens(
        backend: str, decider: Decider) -> None:
    engine = Engine.open(backend, decider=decider)
    try:
        drive(engine, "R-1", relative=False, n=801, steps=0)
        with pytest.raises(GuardFailed):  # R-ONE-OPEN-CASE: the same worker again
            engine.submit("R-2", deep_application(resident_id(801), "gu-test-001"),
                          union("gu-test-001"), at("2024-09-03T09:00:00+08:00"))
        drive(engine, "R-3", relative=False, n=803, steps=0)
        assert sorted(_references(engine)) == ["R-1", "R-3"]
    finally:
        engine.close()
    fresh = Engine.open(backend, decider=decider)
    try:
        case = fresh.stored_case("R-3")
        assert case is not None and case.applicant_id == resident_id(803)
        assert fresh.stored_case("R-2") is None
    finally:
        fresh.close()


def test_two_engines_never_share_a_key_and_each_opens_the_others_cases(
        backend: str, decider: Decider) -> None:
    first = Engine.open(backend, decider=decider)
    second = Engine.open(backend, decider=decider)
    try:
        for n in range(4):
            drive(first if n % 2 else second, f"T-{n}", relative=False, n=900 + n, steps=1)
        references = _references(first)
        assert len(set(references.values())) == 4
        for n in range(4):
            reader = second if n % 2 else first
            history = reader.history(f"T-{n}", AUDITOR)
            assert history[0].data["applicant"]["id_number"] == resident_id(900 + n)
    finally:
        first.close()
        second.close()


class OneAtATime:
    """A key provider without batches (as a KMS behind the protocol may be): every key made
    alone and named by its case, as every key was before batches."""

    def __init__(self, inner: FileKeyProvider) -> None:
        self._inner = inner
        self.algorithm = inner.algorithm

    def __getattr__(self, name: str) -> object:
        if name in ("new_key", "keys_by_reference", "destroy_reference"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_keys_named_by_their_case_still_open(backend: str, decider: Decider,
                                             master_key: Path) -> None:
    engine = Engine.open(backend, decider=decider, keys=OneAtATime(  # type: ignore[arg-type]
        FileKeyProvider(master_key)))
    try:
        drive(engine, "L-1", relative=False, n=950, steps=1)
        assert _references(engine) == {}
        with engine.store.reads() as reads:
            scope = reads.store_origin()
    finally:
        engine.close()
    assert FileKeyProvider(master_key).data_key(scope, "L-1", create=False) is not None
    fresh = Engine.open(backend, decider=decider)  # the provider with batches
    try:
        case = fresh.stored_case("L-1")
        assert case is not None and case.applicant_id == resident_id(950)
        drive(fresh, "L-2", relative=False, n=951, steps=1)  # a new case: a batch key
        assert list(_references(fresh)) == ["L-2"]
    finally:
        fresh.close()


def test_a_destroyed_batch_key_is_refused_with_e_key(backend: str, decider: Decider,
                                                    master_key: Path) -> None:
    engine = Engine.open(backend, decider=decider)
    try:
        drive(engine, "D-1", relative=False, n=960, steps=1)
        with engine.store.reads() as reads:
            scope = reads.store_origin()
        FileKeyProvider(master_key).destroy_reference(scope, _references(engine)["D-1"])
    finally:
        engine.close()
    fresh = Engine.open(backend, decider=decider)
    try:
        with pytest.raises(JiekunError) as refused:
            fresh.history("D-1", AUDITOR)
        assert refused.value.code == "E-KEY"
    finally:
        fresh.close()


def test_batches_grow_to_the_largest_and_stay_there() -> None:
    sizes = [key_pool.batch_size(made) for made in range(12)]
    assert sizes[:3] == [key_pool.BATCH, 2 * key_pool.BATCH, 4 * key_pool.BATCH]
    assert sizes == sorted(sizes) and sizes[-1] == key_pool.LARGEST_BATCH
    assert sizes.count(key_pool.LARGEST_BATCH) > 1


def test_a_key_made_inside_a_savepoint_that_rolls_back_is_not_recorded(
        backend: str, decider: Decider) -> None:
    """A unit of work that makes a new case's key inside a savepoint that is undone drops it
    from the keys its write records (``made``); a key made after, in the same transaction,
    is the one recorded."""
    engine = Engine.open(backend, decider=decider)
    try:
        with engine.store.unit_of_work() as uow:
            uow.lock_for_write()
            assert uow.load("S-1") is None  # (a case with no row: its key is a new one)
            with pytest.raises(RuntimeError), uow.savepoint():
                assert uow.personal_salt("S-1") is not None
                assert set(uow.vault.made()) == {"S-1"}
                raise RuntimeError("undone")
            assert uow.vault.made() == {}
            assert uow.load("S-2") is None
            assert uow.personal_salt("S-2") is not None
            assert set(uow.vault.made()) == {"S-2"}
    finally:
        engine.close()
