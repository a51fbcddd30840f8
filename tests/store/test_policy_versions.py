"""Policy versions are rows of the store (issue 15; workflow/policy_versions.py), on SQLite and
PostgreSQL: a new store's first version is the shipped policy; migration 0005 registers the
versions old events name; every engine and process on a store decides under its current
version, and one published while an engine runs is used by its next command."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from store_cases import AUDITOR, CITY, at, deep_application, dump_tables, resident_id, union

from jiekun.persistence.database import make_engine
from jiekun.policies.errors import InvalidArgument, InvalidPolicyFile
from jiekun.policies.policy_file import load_policy, shipped_policy_text
from jiekun.policies.policy_hash import LEGACY_SHIPPED_HASH, policy_text_hash
from jiekun.policies.policy_toml import with_living_standard
from jiekun.workflow import policy_versions
from jiekun.workflow.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_HASH = "sha256:ab59ea14d4604ea4cee79f802a2bd3d73f9a1eba0e18c4b25e86a90e5600c562"
NOW = at("2026-11-29T09:00:00+08:00")


def _with_2026(amount: str = "1200") -> str:
    return with_living_standard(shipped_policy_text(), date(2026, 7, 1), Decimal(amount),
                                "test notice")


def _start(engine: Engine, case_id: str, n: int, when: str) -> None:
    engine.submit(case_id, deep_application(resident_id(n)), union(), at(when))


def test_a_new_store_holds_the_shipped_policy_as_version_1(backend: str) -> None:
    with Engine.open(backend) as engine:
        [first] = policy_versions.versions(engine.store)
        assert (first.version, first.id, first.hash) == (1, "wx-2023-45", SHIPPED_HASH)
        assert first.toml == shipped_policy_text()
        assert policy_versions.current(engine.store).version == 1
        # the hash events recorded before issue 15 names the same version
        found = policy_versions.version_by_hash(engine.store, LEGACY_SHIPPED_HASH)
        assert found is not None and found.version == 1
        event = engine.submit("A", deep_application(resident_id(1)), union(),
                              at("2024-01-08T09:00:00+08:00"))
        assert (event.policy_id, event.policy_hash) == ("wx-2023-45", SHIPPED_HASH)


def test_publishing_makes_the_next_command_of_every_engine_use_it(backend: str) -> None:
    """Two engines on one store, and a separate process publishing while they run."""
    with Engine.open(backend) as one, Engine.open(backend) as two:
        _start(one, "A", 1, "2024-01-08T09:00:00+08:00")
        done = policy_versions.publish(one.store, _with_2026(), by="test", at=NOW,
                                       note="2026 standard")
        assert (done.version.version, done.previous.version if done.previous else None) == (2, 1)
        # neither engine was told: each learns it with its next command's write lock
        for engine, case_id, n in ((one, "B", 2), (two, "C", 3)):
            event = engine.submit(case_id, deep_application(resident_id(n)), union(),
                                  at("2026-12-28T09:00:00+08:00"))
            assert event.policy_hash == done.version.hash != SHIPPED_HASH
        # another process publishes version 3 while both engines stay open
        published = subprocess.run(
            [sys.executable, "-m", "jiekun.workflow.cli", "policy", "add-standard", "--from",
             "2027-07-01", "--amount", "1250", "--source", "test", "--db", backend,
             "--by", "operator"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert published.returncode == 0, published.stderr
        third = policy_versions.current(one.store)
        assert third.version == 3 and third.published_by == "operator"
        for engine, case_id in ((two, "B"), (one, "C")):
            event = engine.fire(case_id, "start_preliminary_review", union(),
                                at("2026-12-28T10:00:00+08:00"))
            assert event.policy_hash == third.hash
        assert two.decider.policy.store_version == 3
        # a process started now decides under the same version
        fired = subprocess.run(
            [sys.executable, "-m", "jiekun.workflow.cli", "case", "fire", "A",
             "start_preliminary_review", "--actor", "grassroots_union:gu-test-001", "--at",
             "2024-01-08T10:00:00+08:00", "--db", backend, "--format", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert fired.returncode == 0, fired.stderr
        [last] = [e for e in one.history("A", AUDITOR) if e.seq == 2]
        assert last.policy_hash == third.hash


def test_no_change_and_an_invalid_text_change_nothing(backend: str) -> None:
    with Engine.open(backend) as engine, engine.store.reading() as connection:
        before = dump_tables(connection)
        with pytest.raises(InvalidArgument) as same:
            policy_versions.publish(engine.store, "# reworded\n" + shipped_policy_text(),
                                    by="test", at=NOW)
        assert "no change" in same.value.message
        with pytest.raises(InvalidPolicyFile):
            policy_versions.publish(engine.store, _with_2026().replace('amount = "1200"',
                                                                       "amount = 1200.0"),
                                    by="test", at=NOW)
        assert dump_tables(connection) == before


def test_engine_open_with_a_policy_publishes_it_once(backend: str) -> None:
    policy = load_policy().model_copy(update={"title": "a test's own"})
    with Engine.open(backend, policy=policy) as engine:
        held = policy_versions.current(engine.store)
        assert (held.version, held.hash, held.published_by) == (2, policy.content_hash,
                                                                "Engine.open")
        assert held.toml is not None and policy_text_hash(held.toml) == held.hash
    with Engine.open(backend, policy=policy), Engine.open(backend, policy=load_policy()) as e:
        # both known to the store already: nothing published, the current version stays
        assert [v.version for v in policy_versions.versions(e.store)] == [1, 2]
        assert e.decider.policy.title == "a test's own"


def _config(url: str, connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "persistence" / "migrations"))
    config.attributes["connection"] = connection
    return config


def test_migration_0005_registers_the_versions_old_events_name(new_store: object) -> None:
    url = new_store(upgraded=False)  # type: ignore[operator]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(_config(url, connection), "0004")
        with engine.begin() as connection:
            for position, hash_ in enumerate((LEGACY_SHIPPED_HASH, "sha256:" + "e" * 64,
                                              LEGACY_SHIPPED_HASH), start=1):
                connection.execute(text(
                    "INSERT INTO events (case_id, seq, at, trigger, actor, data, policy_id, "
                    "policy_hash, derived, prev_hash, hash) VALUES (:c, 1, 'x', 'submit', '{}', "
                    "'{}', :p, :h, '{}', 'g', :hh)"),
                    {"c": f"C-{position}", "p": "wx-2023-45" if position != 2 else "copy",
                     "h": hash_, "hh": f"h{position}"})
        with engine.begin() as connection:
            command.upgrade(_config(url, connection), "head")
    finally:
        engine.dispose()
    with Engine.open(url) as opened:
        first, second = policy_versions.versions(opened.store)
        assert (first.hash, first.legacy_hash, first.toml) == (
            SHIPPED_HASH, LEGACY_SHIPPED_HASH, shipped_policy_text())
        assert (second.id, second.hash, second.toml) == ("copy", "sha256:" + "e" * 64, None)
        assert "never stored" in second.note
        assert policy_versions.current(opened.store).version == 1  # the one with a text
        with opened.store.reading() as connection:  # the events are kept as they were
            kept = [r[0] for r in connection.execute(text(
                "SELECT policy_hash FROM events ORDER BY position"))]
        assert kept == [LEGACY_SHIPPED_HASH, "sha256:" + "e" * 64, LEGACY_SHIPPED_HASH]


def test_approve_is_decided_under_the_version_current_when_it_runs(backend: str) -> None:
    """The issue's batch story: a process opened before a new version decides its next
    command under it, so nothing it writes is refused later for naming an old version."""
    with Engine.open(backend) as batch:
        _start(batch, "A", 1, "2026-06-01T09:00:00+08:00")
        batch.fire("A", "start_preliminary_review", union(), at("2026-06-01T10:00:00+08:00"))
        batch.fire("A", "pass_preliminary_review", union(), at("2026-06-01T11:00:00+08:00"))
        policy_versions.publish(batch.store, _with_2026(), by="web", at=NOW)
        event = batch.fire("A", "approve", CITY, at("2026-07-02T09:00:00+08:00"))
        history = batch.history("A", AUDITOR)
        assert {e.policy_hash for e in history[-2:]} == {event.policy_hash}
        assert event.policy_hash == policy_versions.current(batch.store).hash
