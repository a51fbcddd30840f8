"""``jiekun keys init|status|rotate`` (issue 19), on both backends: a rotation rewraps every
data key under a new master key without touching what they seal; interrupted, both keys open
and running it again finishes it; every case stays readable throughout."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner, Result
from store_cases import drive

from jiekun.persistence import key_pool
from jiekun.persistence.keys import MASTER_KEY_ENV, FileKeyProvider
from jiekun.workflow.cli import main
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

CASES = ("K-1", "K-2", "K-3")


def keys(*args: str, key_file: Path) -> Result:
    return CliRunner().invoke(main, ["keys", *args], env={MASTER_KEY_ENV: str(key_file)})


def applications(engine: Engine) -> dict[str, object]:
    for case_id in CASES:
        engine.writer.forget(case_id)  # read from the rows, opened with the key
    found = {c: engine.stored_case(c) for c in CASES}
    return {c: None if case is None else case.application for c, case in found.items()}


def test_init_status_and_a_resumed_rotation(backend: str, decider: Decider,
                                            tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "master"
    init = keys("init", "--db", backend, key_file=key_file)
    assert init.exit_code == 0, init.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = keys("init", "--db", backend, key_file=key_file)
    assert again.exit_code == 4 and "E-KEY" in again.output  # never overwritten

    provider = FileKeyProvider(key_file)
    engine = Engine.open(backend, decider=decider, keys=provider)
    try:
        for n, case_id in enumerate(CASES, start=1):
            drive(engine, case_id, relative=False, n=n, steps=3)
        before = applications(engine)
        assert all(before.values())
        payload = engine.store.engine  # the sealed rows, to see they are not rewritten
        with payload.connect() as connection:
            sealed = sorted(str(r[0]) for r in connection.exec_driver_sql(
                "SELECT application FROM case_personal"))

        status = keys("status", "--db", backend, "--format", "json", key_file=key_file)
        assert status.exit_code == 0, status.output
        body = json.loads(status.output)
        first = body["current_master_key"]
        assert body["master_keys"] == [first] and body["algorithm"] == "aes-256-gcm"
        # three cases' keys, from one batch made ahead (the rest of it unused), and the index
        assert {(k["kind"], k["count"]) for k in body["keys"]} == {
            ("case", 3), ("unused", key_pool.BATCH - 3), ("index", 1)}

        # interrupted after one key: both master keys in the file, both open
        partial = provider.rotate(limit=1)
        assert partial["done"] is False
        middle = json.loads(keys("status", "--db", backend, "--format", "json",
                                 key_file=key_file).output)
        assert middle["rotation_in_progress"] is True and len(middle["master_keys"]) == 2
        assert len({k["master_key"] for k in middle["keys"]}) == 2
        fresh = Engine.open(backend, decider=decider, keys=FileKeyProvider(key_file))
        try:
            assert applications(fresh) == before
        finally:
            fresh.close()

        done = keys("rotate", "--db", backend, "--format", "json", key_file=key_file)
        assert done.exit_code == 0, done.output
        finished = json.loads(done.output)
        assert finished["done"] is True and finished["retired"] == [first]
        after = json.loads(keys("status", "--db", backend, "--format", "json",
                                key_file=key_file).output)
        assert after["master_keys"] == [finished["master_key"]] != [first]
        assert {k["master_key"] for k in after["keys"]} == {finished["master_key"]}
        with payload.connect() as connection:
            assert sorted(str(r[0]) for r in connection.exec_driver_sql(
                "SELECT application FROM case_personal")) == sealed  # payloads untouched
        fresh = Engine.open(backend, decider=decider, keys=FileKeyProvider(key_file))
        try:
            assert applications(fresh) == before
        finally:
            fresh.close()
    finally:
        engine.close()


def test_status_without_a_key_exits_4(backend: str, tmp_path: Path) -> None:
    missing = keys("status", "--db", backend, key_file=tmp_path / "nowhere")
    assert missing.exit_code == 4, missing.output
    assert "E-KEY" in missing.output and "does not exist" in missing.output
