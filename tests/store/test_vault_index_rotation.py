"""The two leftovers of issue 19, on SQLite and on PostgreSQL.

``jiekun keys rotate --index`` hashes every applicant row again under a new index key and
destroys the old key: every ``applicant_key`` changes, the old key's row leaves the key store,
and R-ONE-OPEN-CASE and a worker's own cases still find every case — with engines opened
before the re-keying, while it runs (writers), after it was killed before its switch, and
after it stopped inside its switch (lookups then refuse with E-KEY, never answer "none", until
it runs again).

``jiekun db upgrade`` takes ``medical_declared`` out of snapshots written before
``cases.personal`` existed and seals it there, as the engine writes it: the snapshot is the
engine's own text for the case, ``audit verify`` passes, and (SQLite) the figure is in no byte
of the file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import TypeAdapter
from sqlalchemy import text
from store_cases import DEEP_SUBMIT, at, deep_application, drive, resident_id, union, worker

from jiekun.persistence.database import make_engine
from jiekun.persistence.index_rotation import prepare, rewrite, rotate_index_at, store_scope
from jiekun.persistence.keys import (
    MASTER_KEY_ENV,
    NO_ENCRYPTION,
    FileKeyProvider,
    create_master_key_file,
)
from jiekun.persistence.vault_crypto import keyed_hash
from jiekun.policies.aid_merge import with_tier_tables
from jiekun.policies.errors import GuardFailed, KeyUnavailable
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.audit import verify
from jiekun.workflow.cli import main
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import CaseState
from jiekun.workflow.replay import replay
from jiekun.workflow.row_mapping import snapshot, snapshot_personal
from jiekun.workflow.transfer import import_history
from tests.workflow.test_aid import ILLUSTRATIVE, aid_history

ROOT = Path(__file__).resolve().parents[2]
CASES = ("K-1", "K-2", "K-3")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A master key of this test's own (its key store holds nothing else)."""
    path = tmp_path / "keys" / "master"
    create_master_key_file(path)
    return path


@pytest.fixture
def keyed(backend: str, decider: Decider, key_file: Path) -> Iterator[Engine]:
    """An engine on the test's store with its key, three cases open (workers 1–3)."""
    engine = Engine.open(backend, decider=decider, keys=provider_of(key_file))
    for n, case_id in enumerate(CASES, start=1):
        drive(engine, case_id, relative=False, n=n, steps=3)
    yield engine
    engine.close()


def provider_of(key_file: Path, wait: float = 0.5) -> FileKeyProvider:
    provider = FileKeyProvider(key_file)
    provider.index_wait = wait  # an interrupted switch is refused after this, not 10 s
    return provider


def keys_cli(*args: str, key_file: Path) -> Result:
    return CliRunner().invoke(main, ["keys", *args], env={MASTER_KEY_ENV: str(key_file)})


def index_rows(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {str(c): str(k) for c, k in connection.execute(text(
                "SELECT case_id, applicant_key FROM case_personal"))}
    finally:
        engine.dispose()


def index_kinds(provider: FileKeyProvider, scope: str) -> dict[str, int]:
    """The store's index keys in the key store, by kind."""
    return {k["kind"]: k["count"] for k in provider.status(scope)["keys"]
            if k["kind"].startswith("index")}


def wrapped_index_keys(key_file: Path, scope: str) -> set[bytes]:
    with sqlite3.connect(f"{key_file}.keystore") as db:
        return {bytes(r[0]) for r in db.execute(
            "SELECT wrapped FROM data_keys WHERE scope = ? AND kind LIKE 'index%'", (scope,))}


def assert_lookups_work(engine: Engine, n: int = 1, case_id: str = "K-1") -> None:
    """R-ONE-OPEN-CASE finds worker ``n``'s open case; the worker reads it in their list."""
    with pytest.raises(GuardFailed) as refused:
        engine.submit(f"DUP-{n}", deep_application(resident_id(n)), union(), at(DEEP_SUBMIT))
    assert refused.value.code == "R-ONE-OPEN-CASE"
    assert [row["case_id"] for row in engine.cases(worker(resident_id(n)))] == [case_id]


def test_rotate_index_rekeys_every_row_and_lookups_still_find_them(
        backend: str, keyed: Engine, decider: Decider, key_file: Path) -> None:
    provider = provider_of(key_file)
    scope = store_scope(keyed.store.engine)
    before = index_rows(backend)
    old_key = provider.index_key(scope)
    old_wrapped = wrapped_index_keys(key_file, scope)
    assert before["K-1"] == "h1:" + keyed_hash(old_key, resident_id(1))
    assert_lookups_work(keyed)  # (and the open engine has asked for the old key)

    done = keys_cli("rotate", "--index", "--db", backend, "--format", "json",
                    key_file=key_file)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"store": scope, "rows": 3, "rekeyed": 3, "keyless": 0,
                                       "old_key_destroyed": True, "done": True}

    after = index_rows(backend)
    assert after.keys() == before.keys()
    assert all(after[c] != before[c] and after[c].startswith("h1:") for c in CASES)
    assert index_kinds(provider, scope) == {"index": 1}
    assert wrapped_index_keys(key_file, scope).isdisjoint(old_wrapped)  # the old row is gone
    new_key = provider.index_key(scope)
    assert new_key != old_key
    assert after["K-2"] == "h1:" + keyed_hash(new_key, resident_id(2))

    assert_lookups_work(keyed)  # the engine opened before the re-keying
    fresh = Engine.open(backend, decider=decider, keys=provider_of(key_file))
    try:
        for n, case_id in enumerate(CASES, start=1):
            assert_lookups_work(fresh, n, case_id)
        drive(fresh, "K-4", relative=False, n=4, steps=1)  # indexed under the new key
        assert_lookups_work(keyed, 4, "K-4")
    finally:
        fresh.close()

    again = keys_cli("rotate", "--index", "--db", backend, key_file=key_file)
    assert again.exit_code == 0, again.output
    assert "4 of 4 row(s) hashed under a new index key; the old key destroyed" in again.output
    assert_lookups_work(keyed, 4, "K-4")


def test_a_rotation_by_another_process_is_seen_by_an_engine_that_looked_up_before(
        backend: str, keyed: Engine, key_file: Path) -> None:
    """The engine keeps what it last read of the index key until the key store changes: a
    re-keying run by another process (not this one's connection to the key store) must
    still be seen at the next lookup, which then hashes under the new key."""
    scope = store_scope(keyed.store.engine)
    assert_lookups_work(keyed)  # the old key read (and kept) by this process
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "jiekun.workflow.cli", "keys", "rotate",
         "--index", "--db", backend, "--format", "json"], cwd=ROOT, capture_output=True,
        text=True, env={**os.environ, MASTER_KEY_ENV: str(key_file)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rekeyed"] == 3
    for n, case_id in enumerate(CASES, start=1):
        assert_lookups_work(keyed, n, case_id)
    drive(keyed, "K-4", relative=False, n=4, steps=1)
    new_key = provider_of(key_file).index_key(scope)
    assert index_rows(backend)["K-4"] == "h1:" + keyed_hash(new_key, resident_id(4))


def test_no_key_configured_exits_4(backend: str, tmp_path: Path) -> None:
    missing = keys_cli("rotate", "--index", "--db", backend, key_file=tmp_path / "nowhere")
    assert missing.exit_code == 4 and "E-KEY" in missing.output, missing.output
    if backend.startswith("sqlite"):  # no key named, none beside the store
        none = CliRunner().invoke(main, ["keys", "rotate", "--index", "--db", backend],
                                  env={MASTER_KEY_ENV: ""})
        assert none.exit_code == 4 and "no master key is configured" in none.output


def test_writers_find_every_case_while_the_index_is_rekeyed(
        backend: str, keyed: Engine, key_file: Path) -> None:
    """R-ONE-OPEN-CASE, asked over and over by two threads while the index is re-keyed three
    times: it finds the open case every time (it reads the key under the write lock)."""
    stop = threading.Event()
    outcomes: list[str] = []

    def submit_again(n: int) -> None:
        while not stop.is_set():
            try:
                keyed.submit(f"DUP-{n}", deep_application(resident_id(n)), union(),
                             at(DEEP_SUBMIT))
                outcomes.append("accepted")
            except GuardFailed as refused:
                outcomes.append(refused.code)
            except Exception as error:  # any other outcome fails the test below
                outcomes.append(repr(error))

    threads = [threading.Thread(target=submit_again, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            assert rotate_index_at(backend, provider_of(key_file))["rekeyed"] == 3
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert outcomes and set(outcomes) == {"R-ONE-OPEN-CASE"}, set(outcomes)
    assert keyed.stored_case("DUP-1") is None and keyed.stored_case("DUP-2") is None


def store_write_lock_held(url: str) -> bool:
    """Whether some transaction holds the store's write lock now."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.05,
                                isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return bool(connection.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))
                .scalar())
    finally:
        engine.dispose()


def test_a_rotation_killed_inside_its_store_transaction_leaves_lookups_working(
        backend: str, keyed: Engine, key_file: Path) -> None:
    """The command killed (SIGKILL) while it holds the store's write lock, its rows rewritten
    but not committed, waiting for the key store (whose write lock is held here; the new key
    pending as an earlier interrupted run left it): no row changed, every lookup works under
    the old key, a case submitted now is indexed under it, and running again finishes."""
    provider = provider_of(key_file)
    scope = store_scope(keyed.store.engine)
    before = index_rows(backend)
    provider.next_index_key(scope)  # step 1 of an earlier run
    command = [str(ROOT / ".venv/bin/python"), "-m", "jiekun.workflow.cli", "keys", "rotate",
               "--index", "--db", backend]
    keystore = sqlite3.connect(f"{key_file}.keystore", isolation_level=None)
    keystore.execute("BEGIN IMMEDIATE")
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, MASTER_KEY_ENV: str(key_file)})
    try:
        deadline = time.monotonic() + 60
        while not store_write_lock_held(backend):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the command never took the write lock"
            time.sleep(0.05)
        time.sleep(0.5)  # (its rows rewritten, on to the key store it waits for)
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
        keystore.execute("ROLLBACK")
        keystore.close()
    assert child.returncode == -signal.SIGKILL
    assert index_kinds(provider, scope) == {"index": 1, "index-next": 1}
    assert index_rows(backend) == before
    for n, case_id in enumerate(CASES, start=1):
        assert_lookups_work(keyed, n, case_id)
    status = keys_cli("status", "--db", backend, key_file=key_file)
    assert "an index re-keying is in progress" in status.output, status.output
    drive(keyed, "K-4", relative=False, n=4, steps=1)  # written while the new key waits

    done = keys_cli("rotate", "--index", "--db", backend, "--format", "json",
                    key_file=key_file)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rekeyed"] == 4
    assert index_kinds(provider, scope) == {"index": 1}
    after = index_rows(backend)
    assert all(after[c] != before[c] for c in CASES)
    for n, case_id in enumerate((*CASES, "K-4"), start=1):
        assert_lookups_work(keyed, n, case_id)


@pytest.mark.parametrize("committed", [True, False])
def test_a_rotation_stopped_inside_its_switch_refuses_lookups_until_run_again(
        backend: str, keyed: Engine, key_file: Path, committed: bool) -> None:
    """Stopped between marking the switch and finishing it (a crash there: the key store
    cannot know whether the store committed the new hashes; ``committed`` says which this
    test makes): a lookup refuses with E-KEY rather than answer "no open case", and nothing
    is stored; running the command again finishes, and every lookup works."""
    provider = provider_of(key_file)
    sql = keyed.store.engine
    scope = store_scope(sql)
    before = index_rows(backend)
    new = prepare(sql, provider, scope)
    if committed:
        assert rewrite(sql, provider, scope, new).rekeyed == 3  # the rows are under the new key
    else:
        provider.begin_index_switch(scope, new)  # the store's commit did not go through
    assert (index_rows(backend) != before) is committed
    assert index_kinds(provider, scope) == {"index": 1, "index-switch": 1}

    with pytest.raises(KeyUnavailable) as refused:
        keyed.submit("DUP-1", deep_application(resident_id(1)), union(), at(DEEP_SUBMIT))
    assert "keys rotate --index" in refused.value.message_en
    assert keyed.stored_case("DUP-1") is None
    with pytest.raises(KeyUnavailable):
        keyed.cases(worker(resident_id(1)))

    done = keys_cli("rotate", "--index", "--db", backend, "--format", "json",
                    key_file=key_file)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rekeyed"] == (0 if committed else 3)
    assert index_kinds(provider, scope) == {"index": 1}
    assert all(index_rows(backend)[c] != before[c] for c in CASES)
    for n, case_id in enumerate(CASES, start=1):
        assert_lookups_work(keyed, n, case_id)


# medical_declared out of old snapshots ---------------------------------------------------

FIGURE = '"2024":"5000"'  # C-A's declared medical self-pay, as JSON holds it
OLD_SNAPSHOT = TypeAdapter(CaseState)


@pytest.fixture
def aid_decider() -> Decider:
    return Decider(with_tier_tables(load_policy(), ILLUSTRATIVE, "+test"))


def old_snapshot(case: CaseState) -> str:
    """The snapshot as the engine wrote it before ``cases.personal``: the figures inside."""
    return OLD_SNAPSHOT.dump_json(case, exclude={"application", "applicant_id"}).decode()


def cases_rows(url: str) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {str(c): (str(s), p) for c, s, p in connection.execute(text(
                "SELECT case_id, snapshot, personal FROM cases"))}
    finally:
        engine.dispose()


def sqlite_bytes(url: str) -> bytes:
    """The SQLite file and its log, the log folded in first."""
    path = Path(url.removeprefix("sqlite:///"))
    folding = sqlite3.connect(path, isolation_level=None)
    try:
        folding.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        folding.close()
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def write_old_snapshots(url: str, folded: dict[str, CaseState], keep_personal: str) -> None:
    """Every case's snapshot as before ``cases.personal``; ``cases.personal`` cleared, except
    for ``keep_personal`` (sealed, and the snapshot's copy beside it)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for case_id, case in folded.items():
                cleared = "" if case_id == keep_personal else ", personal = NULL"
                connection.execute(text(f"UPDATE cases SET snapshot = :s{cleared} WHERE "
                                        "case_id = :c"), {"s": old_snapshot(case), "c": case_id})
    finally:
        engine.dispose()


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed-store", "plain-store"])
def test_upgrade_moves_medical_declared_out_of_old_snapshots(
        backend: str, aid_decider: Decider, sealed: bool) -> None:
    """The store built by the engine with its key (``sealed``), or without encryption as
    before issue 19 (the upgrade then seals everything else in the same transaction)."""
    history = aid_history(aid_decider)
    folded = {c: r.case for c, r in replay(history, aid_decider).cases.items()
              if r.case is not None}
    engine = Engine.open(backend, decider=aid_decider, **({} if sealed else {
        "keys": NO_ENCRYPTION}))
    try:
        import_history(engine, history)
    finally:
        engine.close()
    written = cases_rows(backend)
    assert written["C-A"][1] is not None and written["C-C"][1] is None
    assert (written["C-A"][1] == snapshot_personal(folded["C-A"])) is not sealed
    write_old_snapshots(backend, folded, keep_personal="C-B")
    old = cases_rows(backend)
    assert FIGURE in old["C-A"][0] and old["C-A"][1] is None
    if backend.startswith("sqlite"):
        assert FIGURE.encode() in sqlite_bytes(backend)  # the search below finds it

    upgraded = CliRunner().invoke(main, ["db", "upgrade", "--db", backend])
    assert upgraded.exit_code == 0, upgraded.output

    rows = cases_rows(backend)
    for case_id, case in folded.items():
        assert rows[case_id][0] == snapshot(case)  # the engine's own text, figures out
        assert "medical_declared" not in rows[case_id][0]
    assert rows["C-A"][1] is not None and rows["C-A"][1].startswith("jk1:")
    assert rows["C-B"][1] is not None and rows["C-B"][1].startswith("jk1:")
    assert (rows["C-B"][1] == written["C-B"][1]) is sealed  # sealed already: kept as it was
    assert rows["C-C"][1] is None  # purged: the figures are empty, nothing to seal
    engine = Engine.open(backend, decider=aid_decider)
    try:
        with engine.store.reads() as reads:
            opened = {c: reads.load(c) for c in folded}
        for case_id, case in folded.items():
            loaded = opened[case_id]
            assert loaded is not None and loaded.row.personal == snapshot_personal(case)
        stored = engine.stored_case("C-A")
        assert stored is not None and stored.medical_declared == folded["C-A"].medical_declared
        with engine.store.reading() as connection:
            audit = verify(engine.store.reads_on(connection), aid_decider)
        assert audit.ok, audit.problems
    finally:
        engine.close()
    audited = CliRunner().invoke(main, ["audit", "verify", "--db", backend, "--format",
                                        "json"])
    assert audited.exit_code == 0, audited.output
    assert json.loads(audited.output)["ok"] is True
    if backend.startswith("sqlite"):
        content = sqlite_bytes(backend)
        assert FIGURE.encode() not in content and b"medical_declared" not in content

    again = CliRunner().invoke(main, ["db", "upgrade", "--db", backend])
    assert again.exit_code == 0, again.output
    assert cases_rows(backend) == rows  # nothing sealed twice
