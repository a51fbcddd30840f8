"""Tamper evidence (issue 3, "Done when"): changing any one stored byte of an event — payload,
time, trigger, actor, derivations, hashes — or the order, or deleting or inserting a row, or
changing a personal-data payload, makes ``audit verify`` fail naming the case and the first
broken sequence number; an untouched store verifies. SQLite and PostgreSQL; once through the
command.

The store holds histories 01 (C-1, 6 events) and 07 (C-8, 13 events: 1 submit, 2 start
preliminary review, 3 pass, 4 unit publicity ended, 5 approve, 6 media publicity ended,
7 recheck due, 8 start phase-out, 9 phase-out ended, 10 refuse exit (the worker), 11-12
verify exit, 13 exit publicity ended). Every tamper targets C-8; C-1 must stay unnamed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, text
from store_cases import (
    AUDITOR,
    SYSTEM,
    at,
    count,
    drive,
    history_lines,
    resident_id,
    worker,
)

from jiekun.persistence.vault import Vault
from jiekun.workflow.audit import AuditReport, verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.transfer import import_history

CASE = "C-8"
JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]


def _fill(engine: Engine) -> Engine:
    report = import_history(engine, history_lines("01-deep-happy-path-to-archive.jsonl",
                                                  "07-exit-refused-verified-announced.jsonl"))
    assert report.violations == 0
    assert [len(c.events) for c in report.cases.values()] == [6, 13]
    return engine


@pytest.fixture
def store(backend: str, open_engine: Callable[[str], Engine]) -> Engine:
    """A store of its own, for tampering that is committed."""
    return _fill(open_engine(backend))


@pytest.fixture(scope="module")
def shared(module_backend: str, decider: Decider) -> Iterator[Engine]:
    """One store per backend for the module; every tamper below is rolled back."""
    engine = _fill(Engine.open(module_backend, decider=decider))
    VAULT[:] = [engine.store.vault]
    yield engine
    engine.store.engine.dispose()


def audit(engine: Engine) -> AuditReport:
    with engine.store.reading() as connection:
        return verify(engine.store.reads_on(connection), engine.decider)


def audit_tampered(engine: Engine, tamper: Callable[[Connection], None]) -> AuditReport:
    """``audit verify`` of the store as ``tamper`` leaves it, seen inside the tampering
    transaction, which is then rolled back."""
    assert audit(engine).ok  # the store is untouched before (earlier tampers rolled back)
    with engine.store.engine.connect() as connection:
        try:
            tamper(connection)
            return verify(engine.store.reads_on(connection), engine.decider)
        finally:
            connection.rollback()


_HEX = "0123456789abcdef"


def one_byte(before: str, index: int, new: str | None) -> str:
    """``before`` with exactly one (ASCII) character changed (``new`` None: the next hex
    digit)."""
    old = before[index]
    if new is None:
        new = _HEX[(_HEX.index(old) + 1) % 16]
    assert len(new) == 1 and old != new and old.isascii()
    return before[:index] + new + before[index + 1:]


def _value(c: Connection, table: str, column: str, seq: int) -> str:
    return str(c.execute(text(f"SELECT {column} FROM {table} WHERE case_id = :c AND seq = :s"),
                         {"c": CASE, "s": seq}).scalar_one())


def _set(c: Connection, table: str, column: str, seq: int, value: str) -> None:
    done = c.execute(text(f"UPDATE {table} SET {column} = :v WHERE case_id = :c AND seq = :s"),
                     {"v": value, "c": CASE, "s": seq})
    assert done.rowcount == 1


def change_byte(column: str, seq: int, find: str, new: str | None, offset: int = 0,
                table: str = "events") -> Callable[[Connection], None]:
    """Change one character of ``column`` of event ``seq``: the one ``offset`` characters after
    where ``find`` starts."""
    def tamper(c: Connection) -> None:
        before = _value(c, table, column, seq)
        assert find in before, before
        _set(c, table, column, seq, one_byte(before, before.index(find) + offset, new))
    return tamper


def swap(first: int, second: int) -> Callable[[Connection], None]:
    def tamper(c: Connection) -> None:
        for old, new in ((first, -1), (second, first), (-1, second)):
            c.execute(text("UPDATE events SET seq = :n WHERE case_id = :c AND seq = :o"),
                      {"n": new, "c": CASE, "o": old})
    return tamper


def delete(seq: int) -> Callable[[Connection], None]:
    def tamper(c: Connection) -> None:
        done = c.execute(text("DELETE FROM events WHERE case_id = :c AND seq = :s"),
                         {"c": CASE, "s": seq})
        assert done.rowcount == 1
    return tamper


_COPY = ("case_id, at, trigger, actor, data, personal_digest, policy_id, policy_hash, derived, "
         "prev_hash, hash")


def insert_copy(of: int) -> Callable[[Connection], None]:
    """A copy of event ``of`` inserted as ``of + 1`` (later events move up one)."""
    def tamper(c: Connection) -> None:
        # two steps: a unique (case_id, seq) is checked row by row on PostgreSQL
        c.execute(text("UPDATE events SET seq = seq + 1000 WHERE case_id = :c AND seq > :s"),
                  {"c": CASE, "s": of})
        c.execute(text("UPDATE events SET seq = seq - 999 WHERE case_id = :c AND seq > :s"),
                  {"c": CASE, "s": of + 1000})
        c.execute(text(f"INSERT INTO events (seq, {_COPY}) SELECT seq + 1, {_COPY} FROM events "
                       "WHERE case_id = :c AND seq = :s"), {"c": CASE, "s": of})
    return tamper


# The vault is sealed (issue 19): a tamperer with the database alone changes ciphertext (it
# then does not open); one who also holds the key reseals what they changed, which the chain's
# digests and the fold still catch. ``VAULT`` is the shared store's vault (the key's holder).
VAULT: list[Vault] = []


def _base64_changed(before: str, index: int) -> str:
    old = before[index]
    new = "B" if old == "A" else "A"
    return before[:index] + new + before[index + 1:]


def flip_sealed(seq: int, offset: int = 30) -> Callable[[Connection], None]:
    """One character of the ciphertext of event ``seq``'s personal payload changed."""
    def tamper(c: Connection) -> None:
        before = _value(c, "personal_data", "payload", seq)
        assert before.startswith("jk1:aes:"), before
        _set(c, "personal_data", "payload", seq, _base64_changed(before, offset))
    return tamper


def reseal(seq: int, find: str, new: str, offset: int) -> Callable[[Connection], None]:
    """Event ``seq``'s personal payload opened, one character changed, sealed again with the
    case's own key (a tamperer who holds the key)."""
    def tamper(c: Connection) -> None:
        vault = VAULT[0]
        column = "personal_data.payload"
        plain = vault.open(CASE, str(seq), column, _value(c, "personal_data", "payload", seq))
        assert find in plain, plain
        changed = one_byte(plain, plain.index(find) + offset, new)
        _set(c, "personal_data", "payload", seq, vault.seal(CASE, str(seq), column, changed))
    return tamper


def add_personal(seq: int, sealed: bool = True) -> Callable[[Connection], None]:
    def tamper(c: Connection) -> None:
        payload = json.dumps({"data": {"note": "x"}})
        if sealed:
            payload = VAULT[0].seal(CASE, str(seq), "personal_data.payload", payload)
        c.execute(text("INSERT INTO personal_data (case_id, seq, payload) VALUES (:c, :s, :p)"),
                  {"c": CASE, "s": seq, "p": payload})
    return tamper


# (tamper, the first broken sequence number of C-8)
TAMPERS: dict[str, tuple[Callable[[Connection], None], int]] = {
    # start_phase_out's public payload: {"months":6} → {"months":5}
    "data": (change_byte("data", 8, '"months":6', "5", offset=9), 8),
    # approve at 2024-03-13 01:00:00.000000Z → one microsecond later
    "at": (change_byte("at", 5, ".000000Z", "1", offset=6), 5),
    # verify_exit → verify_exiT
    "trigger": (change_byte("trigger", 11, "verify_exit", "T", offset=10), 11),
    # the union that passed the preliminary review: gu-test-001 → gu-test-002
    "actor": (change_byte("actor", 3, "gu-test-001", "2", offset=10), 3),
    # what was derived at the archiving: "state":"archived" → "archiveD"
    "derived": (change_byte("derived", 6, '"state":"archived"', "D", offset=16), 6),
    # one hex digit of a hash or digest
    "personal_digest": (change_byte("personal_digest", 1, "sha256s:", None, offset=8), 1),
    "policy_id": (change_byte("policy_id", 4, "wx-2023-45", "4", offset=3), 4),
    "policy_hash": (change_byte("policy_hash", 9, "sha256:", None, offset=8), 9),
    "prev_hash": (change_byte("prev_hash", 7, "sha256:", None, offset=9), 7),
    "hash": (change_byte("hash", 12, "sha256:", None, offset=10), 12),
    # the worker's refusal reason 不同意退档 is public; its first JSON quote → a space
    "data_reason": (change_byte("data", 10, '"reason"', " "), 10),
    "order": (swap(6, 7), 6),
    # event 9 is missing: the first stored record that breaks is 10 (sequence 10 where 9
    # was expected)
    "deleted_row": (delete(9), 10),
    # a copy of event 9 as 10 (the old 10 … 13 become 11 … 14)
    "inserted_row": (insert_copy(9), 10),
    # a copy of the head (13) appended as 14
    "appended_row": (insert_copy(13), 14),
    # the vault: the household incomes of start_phase_out, "90000" → "90001"
    "personal_payload": (reseal(8, '"90000"', "1", offset=5), 8),
    # the worker's id number behind refuse_exit's actor: its last digit
    "personal_actor": (reseal(10, '"actor_id_number":"', "0", offset=36), 10),
    "personal_added": (add_personal(9), 9),
    # without the key: one character of a ciphertext, or a plain value put in the vault
    "personal_ciphertext": (flip_sealed(8), 8),
    "personal_plain_added": (add_personal(9, sealed=False), 9),
}


def test_an_untouched_store_verifies(store: Engine) -> None:
    report = audit(store)
    assert report.ok and report.problems == []
    assert (report.cases, report.events) == (2, 19)


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_a_tampered_event_is_named(shared: Engine, kind: str) -> None:
    tamper, first_broken = TAMPERS[kind]
    report = audit_tampered(shared, tamper)
    assert not report.ok
    assert [p.case_id for p in report.problems] == [CASE]  # C-1 is intact
    assert report.problems[0].seq == first_broken, report.problems[0]


def _vault(c: Connection, column: str, find: str, new: str, offset: int) -> None:
    """A character of the vault's ``column`` changed: of its ciphertext (``new`` empty), or
    of its opened text, then sealed again with the case's key."""
    before = str(c.execute(text(f"SELECT {column} FROM case_personal WHERE case_id = :c"),
                           {"c": CASE}).scalar_one())
    if not new:
        assert before.startswith(find), before
        changed = _base64_changed(before, offset)
    else:
        vault, where = VAULT[0], f"case_personal.{column}"
        plain = vault.open(CASE, "application", where, before)
        assert find in plain, plain
        changed = vault.seal(CASE, "application", where,
                             one_byte(plain, plain.index(find) + offset, new))
    c.execute(text(f"UPDATE case_personal SET {column} = :v WHERE case_id = :c"),
              {"v": changed, "c": CASE})


PAST_THE_CHAIN: dict[str, Callable[[Connection], None]] = {
    # the chain is intact but ends at 12 while the projection says 13
    "deleted_head": delete(13),
    "projection": lambda c: c.execute(text(
        "UPDATE cases SET state = 'archived' WHERE case_id = :c"), {"c": CASE}),
    # the indexed columns the reads of a union and of a federation filter on (the engine's
    # update leaves them out when a transition keeps them, so nothing rewrites them)
    "projection_union": lambda c: c.execute(text(
        "UPDATE cases SET grassroots_union = 'gu-elsewhere' WHERE case_id = :c"), {"c": CASE}),
    "projection_body": lambda c: c.execute(text(
        "UPDATE cases SET reviewing_body = 'xishan' WHERE case_id = :c"), {"c": CASE}),
    # C-8 exited 2025-04-03: retention 10 years → due 2035-04-03 00:00+08:00 (04-02 16:00Z);
    # one month earlier
    "timer": lambda c: c.execute(text(
        "UPDATE timers SET due = replace(due, '2035-04-0', '2035-03-0') WHERE case_id = :c"),
        {"c": CASE}),
    # the vault's copy of the current application, which the engine decides from: the
    # household income set by start_phase_out, "90000" → "10000"
    "vault_application": lambda c: _vault(c, "application", '"90000"', "1", 1),
    # the applicant id the reads and R-ONE-OPEN-CASE go by: its last digit
    "vault_applicant": lambda c: _vault(c, "applicant_id", "3202111979031551", "0", 17),
    # without the key: one character of the sealed application
    "vault_ciphertext": lambda c: _vault(c, "application", "jk1:aes:", "", 40),
    # the application gone from an exited (not purged) case
    "vault_deleted": lambda c: c.execute(text(
        "DELETE FROM case_personal WHERE case_id = :c"), {"c": CASE}),
}


@pytest.mark.parametrize("kind", list(PAST_THE_CHAIN))
def test_changes_past_the_chain_are_named(shared: Engine, kind: str) -> None:
    """The head removed, the projection, the timer row or the vault's current application
    changed: the case is named, at the end of its chain."""
    report = audit_tampered(shared, PAST_THE_CHAIN[kind])
    assert [p.case_id for p in report.problems] == [CASE]
    assert report.problems[0].seq == (12 if kind == "deleted_head" else 13)


def test_a_purged_case_still_verifies(engine: Engine) -> None:
    """Destroying personal data at the end of retention leaves the chain verifiable."""
    drive(engine, "A", relative=False, n=1, steps=2)
    engine.fire("A", "withdraw", worker(resident_id(1)), at("2024-01-09T09:00:00+08:00"))
    # withdrawn 2024-01-09: retention 10 years → due from 2034-01-09 00:00+08:00
    engine.fire("A", "retention_expired", SYSTEM, at("2034-01-10T03:00:00+08:00"))
    with engine.store.reading() as connection:
        assert count(connection, "personal_data") == count(connection, "case_personal") == 0
    case = engine.stored_case("A")
    assert case is not None and (case.state, case.application) == ("purged", None)
    report = audit(engine)
    assert report.ok, report.problems
    assert (report.cases, report.events) == (1, 5)  # submit, start, pass, withdraw, purge
    assert engine.history("A", AUDITOR)[0].data == {"redacted": True}


def test_audit_verify_through_the_command(store: Engine, backend: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*JIEKUN, "audit", "verify", "--db", backend, *args],
                              capture_output=True, text=True, timeout=120)

    clean = run("--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["ok"] is True

    with store.store.engine.begin() as connection:
        TAMPERS["data"][0](connection)
    broken = run()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert CASE in broken.stdout and "8" in broken.stdout
    as_json = run("--format", "json")
    assert as_json.returncode == 1
    first = json.loads(as_json.stdout)["first_problem"]
    assert (first["case"], first["seq"]) == (CASE, 8)


def test_every_broken_case_is_named_with_the_fields_that_differ(shared: Engine) -> None:
    """Two cases broken at once (issue 16): both named, and for a projection that differs,
    which fields."""
    others = [c for c in (row["case_id"] for row in shared.cases(AUDITOR)) if c != CASE]
    assert others
    other = str(others[0])

    def two(c: Connection) -> None:
        c.execute(text("UPDATE cases SET reviewing_body = 'xishan' WHERE case_id = :c"),
                  {"c": CASE})
        c.execute(text("UPDATE cases SET state = 'withdrawn' WHERE case_id = :c"), {"c": other})

    report = audit_tampered(shared, two)
    assert sorted(p.case_id for p in report.problems) == sorted([CASE, other])
    reasons = {p.case_id: p.reason for p in report.problems}
    assert "column reviewing_body" in reasons[CASE] and "column state" not in reasons[CASE]
    assert "column state" in reasons[other]
    assert len(report.as_json()["broken"]) == 2
