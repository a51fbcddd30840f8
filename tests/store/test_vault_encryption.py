"""Personal data sealed at rest (issue 19), on SQLite and on PostgreSQL.

The household of the retention test (13 known personal values: names, id number, phone,
incomes, unit, community, contact person) is recorded up to its phase-out; then none of the 13
values is in any cell of the store, nor in the SQLite file or its write-ahead log, nor in a
``pg_dump`` — while the engine reads them back with the key. A changed ciphertext byte, a
ciphertext moved to another case or event, and a wrong master key are each refused with E-KEY
(exit 4 on the command line). Lookups by worker id go through a keyed hash; new digests are
salted; ``audit verify`` passes with no key, saying which checks ran.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pg import BIN, PostgresServer
from sqlalchemy import text
from store_cases import at
from test_retention import (
    CASE,
    ID_NUMBER,
    PERSONAL,
    WORKER,
    application,
    drive_to_phase_out,
    variants,
    where_found,
)

from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.keys import (
    MASTER_KEY_ENV,
    NO_ENCRYPTION,
    FileKeyProvider,
    create_master_key_file,
)
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import GuardFailed, KeyUnavailable
from jiekun.workflow.cli import main
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

AUDITOR = Actor("auditor")


def forms(values: dict[str, str]) -> dict[str, set[bytes]]:
    """Each value as the bytes it could be stored as (UTF-8 of its text forms)."""
    return {what: {form.encode() for form in variants(value)} for what, value in values.items()}


def found_in(content: bytes) -> list[str]:
    return sorted(what for what, encoded in forms(PERSONAL).items()
                  if any(form in content for form in encoded))


def database_bytes(url: str, pg: PostgresServer | None, out: Path) -> bytes:
    """What a copy of the store holds: the SQLite file and its WAL, or a ``pg_dump``."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert pg is not None
    return pg_dump(pg, url, out)


def pg_dump(pg: PostgresServer, url: str, out: Path) -> bytes:
    name = url.rsplit("/", 1)[1]
    subprocess.run([str(BIN / "pg_dump"), "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                    "postgres", "-f", str(out), name], check=True, timeout=120,
                   capture_output=True)
    return out.read_bytes()


def test_no_known_personal_value_is_stored_in_plain_text(
        backend: str, engine: Engine, pg: PostgresServer | None, tmp_path: Path) -> None:
    drive_to_phase_out(engine)
    case = engine.stored_case(CASE)  # the engine reads every value back with the key
    assert case is not None and case.application is not None
    assert case.application.applicant.id_number == ID_NUMBER
    history = json.dumps([e.model_dump(mode="json") for e in engine.history(CASE, AUDITOR)],
                         ensure_ascii=False)
    assert PERSONAL["contact person"] in history and PERSONAL["income 1 at the re-check"] \
        in history

    assert where_found(engine) == {}  # no cell of any table holds one
    engine.store.flush_destroyed()  # (SQLite: fold the WAL in; the search reads both anyway)
    assert found_in(database_bytes(backend, pg, tmp_path / "dump.sql")) == []


def test_the_search_finds_the_values_in_a_store_that_does_not_encrypt(
        backend: str, decider: Decider, pg: PostgresServer | None, tmp_path: Path) -> None:
    """The byte search above is one that would find them: in a store opened without
    encryption, all 13 are in its files (or dump)."""
    plain = Engine.open(backend, decider=decider, keys=NO_ENCRYPTION)
    try:
        drive_to_phase_out(plain)
    finally:
        plain.close()
    assert found_in(database_bytes(backend, pg, tmp_path / "dump.sql")) == sorted(PERSONAL)


def _one(engine: Engine, sql: str, **params: object) -> str:
    with engine.store.engine.connect() as connection:
        return str(connection.execute(text(sql), params).scalar_one())


def _run(engine: Engine, sql: str, **params: object) -> None:
    with engine.store.engine.begin() as connection:
        assert connection.execute(text(sql), params).rowcount == 1


def _changed(sealed: str, index: int = 40) -> str:
    return sealed[:index] + ("B" if sealed[index] == "A" else "A") + sealed[index + 1:]


def test_a_changed_ciphertext_byte_is_refused(engine: Engine) -> None:
    drive_to_phase_out(engine)
    sealed = _one(engine, "SELECT application FROM case_personal WHERE case_id = :c", c=CASE)
    assert sealed.startswith("jk1:aes:")
    _run(engine, "UPDATE case_personal SET application = :v WHERE case_id = :c",
         v=_changed(sealed), c=CASE)
    engine.writer.forget(CASE)
    with pytest.raises(KeyUnavailable) as refused:
        engine.stored_case(CASE)
    assert refused.value.code == "E-KEY"
    payload = _one(engine, "SELECT payload FROM personal_data WHERE case_id = :c AND seq = 1",
                   c=CASE)
    _run(engine, "UPDATE personal_data SET payload = :v WHERE case_id = :c AND seq = 1",
         v=_changed(payload, len(payload) - 5), c=CASE)
    with pytest.raises(KeyUnavailable):
        engine.history(CASE, AUDITOR)


def test_a_ciphertext_moved_to_another_case_or_event_is_refused(engine: Engine) -> None:
    drive_to_phase_out(engine)
    other = application()
    other["applicant"] = {**other["applicant"], "id_number": "110101199003074514"}
    engine.submit("P-2", other, Actor("worker", id_number="110101199003074514"),
                  at("2024-08-13T10:00:00+08:00"))
    assert engine.stored_case("P-2") is not None
    theirs = _one(engine, "SELECT application FROM case_personal WHERE case_id = :c", c=CASE)
    _run(engine, "UPDATE case_personal SET application = :v WHERE case_id = 'P-2'", v=theirs)
    with pytest.raises(KeyUnavailable):
        engine.stored_case("P-2")
    # within one case: event 1's payload put in the place of the phase-out's
    seqs = [int(_one(engine, "SELECT max(seq) FROM personal_data WHERE case_id = :c", c=CASE))]
    first = _one(engine, "SELECT payload FROM personal_data WHERE case_id = :c AND seq = 1",
                 c=CASE)
    _run(engine, "UPDATE personal_data SET payload = :v WHERE case_id = :c AND seq = :s",
         v=first, c=CASE, s=seqs[0])
    with pytest.raises(KeyUnavailable):
        engine.history(CASE, AUDITOR)


def _wrong_key_copy(good: Path, where: Path) -> Path:
    """A key file with the same id as ``good`` but another key, beside a copy of its key
    store: the data keys are there, the master key is wrong."""
    where.mkdir()
    create_master_key_file(where / "other")
    other = json.loads((where / "other").read_text("utf-8"))["keys"][0]["key"]
    body = json.loads(good.read_text("utf-8"))
    body["keys"][-1]["key"] = other
    copy = where / "master-key"
    create_master_key_file(copy)  # (made 0600, then given the wrong key)
    copy.write_text(json.dumps(body), "utf-8")
    # copied by SQLite itself: reading the live file with a file handle of this process would
    # drop SQLite's locks on it when the handle closes (POSIX locks are per process)
    with sqlite3.connect(f"{good}.keystore") as source, \
            sqlite3.connect(f"{copy}.keystore") as target:
        source.backup(target)
    return copy


def test_a_wrong_master_key_is_refused_exit_4(backend: str, engine: Engine, decider: Decider,
                                              master_key: Path, tmp_path: Path) -> None:
    drive_to_phase_out(engine)
    wrong = _wrong_key_copy(master_key, tmp_path / "wrong")
    other = Engine.open(backend, decider=decider, keys=FileKeyProvider(wrong))
    try:
        with pytest.raises(KeyUnavailable) as refused:
            other.stored_case(CASE)
        assert "unwrap" in refused.value.message_en
        # what needs no personal data still works
        assert [row["case_id"] for row in other.cases(AUDITOR)] == [CASE]
    finally:
        other.close()
    shown = CliRunner().invoke(main, ["case", "show", CASE, "--db", backend],
                               env={MASTER_KEY_ENV: str(wrong)})
    assert shown.exit_code == 4, shown.output
    assert "E-KEY" in shown.output


def test_a_key_file_readable_by_others_is_refused(master_key: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    create_master_key_file(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    loose.chmod(0o644)
    with pytest.raises(KeyUnavailable) as refused:
        FileKeyProvider(loose)
    assert "chmod 600" in refused.value.message_en


def test_sm4_gcm_seals_where_openssl_offers_it(backend: str, decider: Decider,
                                                master_key: Path) -> None:
    engine = Engine.open(backend, decider=decider,
                         keys=FileKeyProvider(master_key, algorithm="sm4-gcm"))
    try:
        drive_to_phase_out(engine)
        sealed = _one(engine, "SELECT application FROM case_personal WHERE case_id = :c",
                      c=CASE)
        assert sealed.startswith("jk1:sm4:")
        engine.writer.forget(CASE)
        case = engine.stored_case(CASE)
        assert case is not None and case.applicant_id == ID_NUMBER
        assert where_found(engine) == {}
    finally:
        engine.close()


def test_one_open_case_and_own_cases_by_keyed_hash(engine: Engine) -> None:
    drive_to_phase_out(engine)
    index = _one(engine, "SELECT applicant_key FROM case_personal WHERE case_id = :c", c=CASE)
    assert index.startswith("h1:") and ID_NUMBER not in index
    with pytest.raises(GuardFailed) as refused:  # R-ONE-OPEN-CASE found the open case
        engine.submit("P-3", application(), WORKER, at("2025-03-04T10:00:00+08:00"))
    assert refused.value.code == "R-ONE-OPEN-CASE"
    assert [row["case_id"] for row in engine.cases(WORKER)] == [CASE]
    assert engine.cases(Actor("worker", id_number="110101199003074514")) == []


def test_new_digests_are_salted_and_old_ones_kept(backend: str, decider: Decider) -> None:
    """A store written before encryption: upgrading with a key seals its vault in place and
    keeps every stored digest (the chain covers them); later events get salted digests."""
    plain = Engine.open(backend, decider=decider, keys=NO_ENCRYPTION)
    try:
        plain.submit(CASE, application(), WORKER, at("2024-08-12T10:00:00+08:00"))
        before = _one(plain, "SELECT personal_digest FROM events WHERE case_id = :c", c=CASE)
    finally:
        plain.close()
    assert before.startswith("sha256:")
    made = make_engine(backend)
    try:
        upgrade(made)  # the session's key (JIEKUN_MASTER_KEY_FILE)
    finally:
        made.dispose()
    engine = Engine.open(backend, decider=decider)
    try:
        assert _one(engine, "SELECT personal_digest FROM events WHERE case_id = :c AND seq = 1",
                    c=CASE) == before
        assert _one(engine, "SELECT application FROM case_personal WHERE case_id = :c",
                    c=CASE).startswith("jk1:aes:")
        assert where_found(engine) == {}
        gu = Actor("grassroots_union", org="gu-retention-01")
        engine.fire(CASE, "start_preliminary_review", gu, at("2024-08-12T11:00:00+08:00"))
        engine.fire(CASE, "withdraw", WORKER, at("2024-08-12T12:00:00+08:00"))
        digests = [str(r[0]) for r in _rows(engine, "SELECT personal_digest FROM events "
                                                    "WHERE case_id = :c ORDER BY seq", c=CASE)]
        assert digests[0] == before and digests[-1].startswith("sha256s:")
        audit = CliRunner().invoke(main, ["audit", "verify", "--db", backend, "--format",
                                          "json"])
        assert audit.exit_code == 0, audit.output
        assert json.loads(audit.output)["checks"]["personal_digests"] is True
    finally:
        engine.close()


def _rows(engine: Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with engine.store.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql), params)]


@pytest.fixture
def no_key() -> Iterator[Callable[[], dict[str, str]]]:
    """The environment without JIEKUN_MASTER_KEY_FILE (for a subprocess or CliRunner)."""
    def env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != MASTER_KEY_ENV}
    yield env


def test_audit_verify_passes_without_a_key_and_says_what_it_checked(
        backend: str, engine: Engine, no_key: Callable[[], dict[str, str]]) -> None:
    drive_to_phase_out(engine)
    command = [".venv/bin/python", "-m", "jiekun.workflow.cli", "audit", "verify", "--db",
               backend, "--format", "json", "--workers", "1"]
    root = Path(__file__).resolve().parents[2]
    keyless = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=root,
                             env=no_key())
    assert keyless.returncode == 0, keyless.stdout + keyless.stderr
    report = json.loads(keyless.stdout)
    assert report["ok"] is True and report["sealed_cases"] == 1
    assert report["checks"] == {"chains": True, "projections": True, "timers": True,
                                "personal_digests": False, "vault": False}
    keyed = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=root)
    assert keyed.returncode == 0, keyed.stdout + keyed.stderr
    assert json.loads(keyed.stdout)["checks"]["vault"] is True
    # without the key, personal reads exit 4 (E-KEY); reads of what is not personal work
    shown = subprocess.run([*command[:3], "case", "show", CASE, "--db", backend],
                           capture_output=True, text=True, timeout=120, cwd=root, env=no_key())
    assert shown.returncode == 4 and "E-KEY" in shown.stderr, shown.stderr
    listed = subprocess.run([*command[:3], "case", "list", "--db", backend, "--format",
                             "json"], capture_output=True, text=True, timeout=120, cwd=root,
                            env=no_key())
    assert listed.returncode == 0, listed.stderr


def test_a_new_store_gets_a_key_and_a_private_file(
        tmp_path: Path, pg_database: Callable[..., str],
        no_key: Callable[[], dict[str, str]]) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'new.db'}"
    done = subprocess.run([".venv/bin/python", "-m", "jiekun.workflow.cli", "db", "upgrade",
                           "--db", url], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], env=no_key())
    assert done.returncode == 0, done.stderr
    key = tmp_path / "new.db.master-key"
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert str(key) in done.stderr  # says where
    # a named key file that does not exist yet is made there
    named = tmp_path / "keys" / "master"
    second = f"sqlite:///{tmp_path / 'second.db'}"
    done = runner.invoke(main, ["db", "upgrade", "--db", second],
                         env={MASTER_KEY_ENV: str(named)})
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(named.stat().st_mode) == 0o600
    # PostgreSQL without a key: refused, exit 4, saying how to configure one
    pg_url = pg_database(upgraded=False)
    refused = runner.invoke(main, ["db", "upgrade", "--db", pg_url], env={MASTER_KEY_ENV: ""})
    assert refused.exit_code == 4, refused.output
    assert "E-KEY" in refused.output and MASTER_KEY_ENV in refused.output
