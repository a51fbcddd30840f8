"""Checkpoints (issue 16, ``workflow/checkpoint.py``) on SQLite and PostgreSQL: a checkpoint of
a store that then only grows still verifies, with a checked consistency proof; a store changed
under a checkpoint taken before — an event removed at the end of its case, a case removed, an
event's text edited without its hash, two events' positions swapped, an event inserted — fails
it, naming the leaf and the event the store now holds there.

The module's store: 20 deep cases A-00 … A-19 (6 events each), histories 01 (C-1, 6 events)
and 07 (C-8, 13 events), 20 relative cases B-00 … B-19: 259 events, checkpointed once; every
tamper runs in a transaction rolled back afterwards, and the store verifies before each.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy import Connection, text
from store_cases import drive, history_lines

from jiekun.persistence import merkle
from jiekun.persistence.chain import GENESIS, StoredEvent
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import InvalidInput
from jiekun.workflow.audit import verify
from jiekun.workflow.checkpoint import (
    BlockIndex,
    Checkpoint,
    CheckpointCheck,
    take_checkpoint,
    verify_against,
    verify_reads,
)
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.transfer import import_history

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=SHANGHAI)
EVENTS = 259

Row = tuple[int, str, int, str]  # position, case, seq, hash


def rows(c: Connection) -> list[Row]:
    """The leaves as the database holds them, in commit order (the test's own reading)."""
    return [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in c.execute(text(
        "SELECT position, case_id, seq, hash FROM events ORDER BY position"))]


def index_of(c: Connection, case_id: str, seq: int) -> int:
    return next(i for i, r in enumerate(rows(c)) if r[1:3] == (case_id, seq))


def drive_cases(engine: Engine, prefix: str, count: int, *, relative: bool, first_n: int
                ) -> None:
    for i in range(count):
        drive(engine, f"{prefix}-{i:02d}", relative=relative, n=first_n + i, steps=5)


@pytest.fixture(scope="module")
def shared(module_backend: str, decider: Decider) -> Iterator[tuple[Engine, Checkpoint]]:
    engine = Engine.open(module_backend, decider=decider)
    drive_cases(engine, "A", 20, relative=False, first_n=0)
    report = import_history(engine, history_lines("01-deep-happy-path-to-archive.jsonl",
                                                  "07-exit-refused-verified-announced.jsonl"))
    assert report.violations == 0
    drive_cases(engine, "B", 20, relative=True, first_n=200)
    checkpoint = take_checkpoint(engine.store, NOW)
    assert checkpoint.size == EVENTS
    yield engine, checkpoint
    engine.close()


Tamper = Callable[[Connection], int]  # changes the store; returns the leaf to be named


def held_to(shared: tuple[Engine, Checkpoint], tamper: Tamper, checkpoint: Checkpoint | None
            = None) -> tuple[CheckpointCheck, list[Row], int]:
    """The store as ``tamper`` leaves it held to the checkpoint (inside the tampering
    transaction, then rolled back), the leaves it then holds, and the leaf to be named."""
    engine, taken = shared
    checkpoint = checkpoint or taken
    assert verify_against(engine.store, checkpoint).ok  # untouched (earlier tampers undone)
    with engine.store.engine.connect() as c:
        try:
            expected = tamper(c)
            return verify_reads(engine.store.reads_on(c), checkpoint), rows(c), expected
        finally:
            c.rollback()


Event = tuple[int, str, int]  # position, case, seq


def named(check: CheckpointCheck, kinds: list[str]) -> tuple[int | None, Event | None]:
    """The findings are exactly ``kinds``; the leaf and event the first one names."""
    assert [f.kind for f in check.findings] == kinds, check.findings
    first = check.findings[0]
    if first.case_id is None or first.seq is None or first.position is None:
        return first.index, None
    return first.index, (first.position, first.case_id, first.seq)


def held_at(leaves: list[Row], index: int) -> Event:
    position, case_id, seq, _ = leaves[index]
    return position, case_id, seq


def delete_last_of(case_id: str) -> Tamper:
    def tamper(c: Connection) -> int:
        last = int(c.execute(text("SELECT max(seq) FROM events WHERE case_id = :c"),
                             {"c": case_id}).scalar_one())
        where = index_of(c, case_id, last)
        done = c.execute(text("DELETE FROM events WHERE case_id = :c AND seq = :s"),
                         {"c": case_id, "s": last})
        assert done.rowcount == 1
        return where
    return tamper


def delete_case(case_id: str) -> Tamper:
    def tamper(c: Connection) -> int:
        where = index_of(c, case_id, 1)
        done = c.execute(text("DELETE FROM events WHERE case_id = :c"), {"c": case_id})
        assert done.rowcount > 1
        return where
    return tamper


def edit_data(case_id: str, seq: int, find: str, new: str) -> Tamper:
    """One character of the event's ``data`` changed, its hash left as it was."""
    def tamper(c: Connection) -> int:
        before = str(c.execute(text("SELECT data FROM events WHERE case_id = :c AND seq = :s"),
                               {"c": case_id, "s": seq}).scalar_one())
        at = before.index(find) + len(find) - 1
        after = before[:at] + new + before[at + 1:]
        assert len(after) == len(before) and after != before
        c.execute(text("UPDATE events SET data = :d WHERE case_id = :c AND seq = :s"),
                  {"d": after, "c": case_id, "s": seq})
        return index_of(c, case_id, seq)
    return tamper


def swap(first: tuple[str, int], second: tuple[str, int]) -> Tamper:
    """Two events' positions exchanged (their rows otherwise untouched)."""
    def tamper(c: Connection) -> int:
        where = sorted([index_of(c, *first), index_of(c, *second)])[0]
        one, two = (int(c.execute(text("SELECT position FROM events WHERE case_id = :c AND "
                                       "seq = :s"), {"c": e[0], "s": e[1]}).scalar_one())
                    for e in (first, second))
        for old, new in ((one, -1), (two, one), (-1, two)):
            done = c.execute(text("UPDATE events SET position = :n WHERE position = :o"),
                             {"n": new, "o": old})
            assert done.rowcount == 1
        return where
    return tamper


_COLUMNS = ("case_id, seq, at, trigger, actor, data, personal_digest, policy_id, policy_hash, "
            "derived, prev_hash")


def insert_before(case_id: str, seq: int) -> Tamper:
    """A well-formed first event of a new case X-1 (a copy of the event's text, its hash
    computed as the engine would), inserted in front of the event named."""
    def tamper(c: Connection) -> int:
        where = index_of(c, case_id, seq)
        row = c.execute(text(f"SELECT position, {_COLUMNS} FROM events WHERE case_id = :c "
                             "AND seq = :s"), {"c": case_id, "s": seq}).one()
        event = StoredEvent("X-1", 1, *row[3:11], GENESIS)
        # two steps: a primary key is checked row by row
        c.execute(text("UPDATE events SET position = position + 1000000 WHERE position >= :p"),
                  {"p": row[0]})
        c.execute(text("UPDATE events SET position = position - 999999 WHERE position >= :p"),
                  {"p": row[0] + 1000000})
        values = {k: getattr(event, k) for k in _COLUMNS.split(", ")}
        c.execute(text(f"INSERT INTO events (position, {_COLUMNS}, hash) VALUES (:position, "
                       + ", ".join(f":{k}" for k in values) + ", :hash)"),
                  {"position": row[0], **values, "hash": event.chain_hash()})
        return where
    return tamper


# --- an untouched store, and one that grew -----------------------------------------------------

def test_a_checkpoint_still_holds_after_the_store_grew(engine: Engine) -> None:
    drive_cases(engine, "G", 10, relative=False, first_n=0)
    checkpoint = take_checkpoint(engine.store, NOW)
    with engine.store.engine.connect() as c:
        before = rows(c)
    assert checkpoint.size == len(before) == 60
    assert checkpoint.root == merkle.root(merkle.event_leaf(r[3]) for r in before).hex()
    assert checkpoint.time.isoformat() == "2026-11-29T14:00:00+08:00"
    untouched = verify_against(engine.store, checkpoint)
    assert untouched.ok and untouched.size == 60 and untouched.proof == []

    drive_cases(engine, "H", 50, relative=True, first_n=200)
    check = verify_against(engine.store, checkpoint)
    with engine.store.engine.connect() as c:
        after = rows(c)
    assert check.ok, check.findings
    assert check.size == len(after) == 360 and after[:60] == before
    assert check.root == merkle.root(merkle.event_leaf(r[3]) for r in after).hex()
    proof = [bytes.fromhex(h) for h in check.proof]
    assert proof == merkle.consistency_proof([merkle.event_leaf(r[3]) for r in after], 60)
    assert merkle.verify_consistency(60, 360, bytes.fromhex(checkpoint.root),
                                     bytes.fromhex(check.root), proof)
    # the proof binds the old root: it does not prove another one
    assert not merkle.verify_consistency(60, 360, merkle.EMPTY_ROOT, bytes.fromhex(check.root),
                                         proof)


def test_the_checkpoint_of_an_empty_store(new_store: Callable[..., str],
                                          open_engine: Callable[[str], Engine]) -> None:
    engine = open_engine(new_store())
    empty = take_checkpoint(engine.store, NOW)
    assert (empty.size, empty.root) == (0, merkle.EMPTY_ROOT.hex())
    drive_cases(engine, "E", 1, relative=False, first_n=0)
    check = verify_against(engine.store, empty)
    assert check.ok and check.size == 6 and check.proof == []


def test_the_text_round_trips(shared: tuple[Engine, Checkpoint]) -> None:
    _, checkpoint = shared
    note = checkpoint.to_text()
    lines = note.splitlines()
    assert lines[1:] == [str(EVENTS), lines[2], "time 2026-11-29T14:00:00+08:00"]
    # the store's own name (migration 0004), not its URL: no host, role or password in it
    assert lines[0] == checkpoint.origin and lines[0].startswith("jiekun.store/")
    assert "://" not in lines[0]
    assert "@" not in lines[0]  # neither user nor password
    assert len(bytes.fromhex(checkpoint.root)) == merkle.HASH_SIZE
    assert checkpoint.index is not None and checkpoint.index.block == 1
    index = BlockIndex.from_json(json.loads(json.dumps(checkpoint.index.as_json())))
    again = Checkpoint.from_text(note, index)
    assert again == checkpoint and again.index == checkpoint.index
    assert again.as_json() == {"origin": checkpoint.origin, "size": EVENTS,
                               "root": checkpoint.root, "time": "2026-11-29T14:00:00+08:00"}
    signed = note + "\n— example.com/witness AAAAAQE=\n"  # key id 00000001, 1 byte
    assert Checkpoint.from_text(signed).signatures == ("— example.com/witness AAAAAQE=",)
    assert Checkpoint.from_text(signed).to_text() == signed


@pytest.mark.parametrize(("change", "where"), [
    (lambda t: t.replace("\n259\n", "\n0259\n"), "line 2"),
    (lambda t: t.replace("=\n", "\n", 1), "line 3"),
    (lambda t: t.replace("+08:00", ""), "line 4"),
    (lambda t: t.replace("time ", "when "), "line 4"),
    (lambda t: t + "\n— example.com/witness signature\n", "signature 1"),
    (lambda t: t + "\n— example.com/witness AAAAAQ==\n", "signature 1"),  # a key id only
    (lambda t: t.rstrip("\n"), "text"),
])
def test_a_malformed_checkpoint_names_its_line(shared: tuple[Engine, Checkpoint],
                                               change: Callable[[str], str], where: str) -> None:
    text_ = change(shared[1].to_text())
    assert text_ != shared[1].to_text()
    with pytest.raises(InvalidInput) as refused:
        Checkpoint.from_text(text_)
    assert [p.path for p in refused.value.problems] == [where]


# --- a store changed under its checkpoint ------------------------------------------------------

def test_a_truncated_case_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    check, leaves, where = held_to(shared, delete_last_of("A-07"))
    index, event = named(check, ["truncated"])
    assert check.size == EVENTS - 1 and "259" in check.findings[0].message
    assert index == where == 7 * 6 + 5
    assert event == held_at(leaves, where) and event[1:3] == ("A-08", 1)


def test_the_newest_event_removed_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    """B-19's last event is the store's last: every leaf the store still holds agrees, and
    the first one missing is named."""
    check, leaves, where = held_to(shared, delete_last_of("B-19"))
    index, event = named(check, ["truncated"])
    assert index == where == EVENTS - 1 == len(leaves) and event is None
    assert f"leaf {EVENTS - 1} and after" in check.findings[0].message


def test_a_deleted_case_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    check, leaves, where = held_to(shared, delete_case("C-1"))
    index, event = named(check, ["truncated"])
    assert check.size == EVENTS - 6
    assert index == where == 20 * 6
    assert event == held_at(leaves, where) and event[1:3] == ("C-8", 1)


def test_an_edited_event_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    """start_phase_out's {"months":6} → {"months":5}, its hash kept: the leaves (the hashes)
    are those of the checkpoint, so its root still holds; the event's text does not give its
    hash any more, and is named."""
    check, leaves, where = held_to(shared, edit_data("C-8", 8, '"months":6', "5"))
    index, event = named(check, ["content"])
    assert check.root == shared[1].root and check.size == EVENTS
    assert index == where and event == held_at(leaves, where)
    assert event[1:3] == ("C-8", 8)


def test_a_swapped_pair_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    """Two events of two cases change places in the commit order: each case's chain is intact
    (``audit verify`` sees nothing), the checkpoint names the first of the two places."""
    engine, _ = shared
    check, leaves, where = held_to(shared, swap(("A-03", 2), ("B-05", 4)))
    index, event = named(check, ["differs"])
    assert index == where == 3 * 6 + 1
    assert event == held_at(leaves, where) and event[1:3] == ("B-05", 4)
    with engine.store.engine.connect() as c:
        try:
            swap(("A-03", 2), ("B-05", 4))(c)
            assert verify(engine.store.reads_on(c), engine.decider).ok
        finally:
            c.rollback()


def test_an_inserted_event_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    """A well-formed event (its hash right) put in front of B-00's first: the store only looks
    grown, but its first 259 events are not the checkpoint's."""
    check, leaves, where = held_to(shared, insert_before("B-00", 1))
    index, event = named(check, ["differs"])
    assert check.size == EVENTS + 1 and check.proof == []
    assert index == where == 20 * 6 + 19
    assert event == held_at(leaves, where) and event[1:3] == ("X-1", 1)


# --- where the index is coarser, missing, or not the checkpoint's ----------------------------

def test_blocks_of_many_leaves_name_the_block(shared: tuple[Engine, Checkpoint]) -> None:
    engine, _ = shared
    coarse = take_checkpoint(engine.store, NOW, blocks=16)
    assert coarse.index is not None and coarse.index.block == 32
    assert len(coarse.index.roots) == 9 and coarse.root == shared[1].root
    check, leaves, where = held_to(shared, swap(("A-03", 2), ("B-05", 4)), coarse)
    index, event = named(check, ["differs"])
    assert index == where - where % 32 == 0
    assert event == held_at(leaves, 0)
    assert "leaves 0…31" in check.findings[0].message


def test_without_an_index_the_change_is_seen_not_placed(shared: tuple[Engine, Checkpoint]
                                                        ) -> None:
    bare = Checkpoint.from_text(shared[1].to_text())
    assert bare.index is None
    check, _, _ = held_to(shared, swap(("A-03", 2), ("B-05", 4)), bare)
    index, event = named(check, ["differs"])
    assert index is None and event is None
    assert "cannot be named" in check.findings[0].message


def test_an_index_of_another_checkpoint_is_refused(shared: tuple[Engine, Checkpoint]) -> None:
    engine, checkpoint = shared
    assert checkpoint.index is not None
    roots = list(checkpoint.index.roots)
    roots[5] = roots[6]
    other = dataclasses.replace(checkpoint, index=BlockIndex(1, tuple(roots)))
    check = verify_against(engine.store, other)
    assert [f.kind for f in check.findings] == ["index"]


def test_another_store_is_named(shared: tuple[Engine, Checkpoint]) -> None:
    engine, checkpoint = shared
    elsewhere = dataclasses.replace(checkpoint, origin="sqlite:///elsewhere.db")
    check = verify_against(engine.store, elsewhere)
    assert [f.kind for f in check.findings] == ["origin"]
    assert checkpoint.origin in check.findings[0].message


@pytest.mark.parametrize("which", ["swap", "insert", "truncate"])
def test_the_leaves_alone_name_the_same_place(shared: tuple[Engine, Checkpoint], which: str
                                              ) -> None:
    """``content=False`` (what ``audit verify --against`` runs beside its chain check) reads
    only the leaves, and names the same leaf and event as the full pass."""
    engine, checkpoint = shared
    tamper = {"swap": swap(("A-03", 2), ("B-05", 4)), "insert": insert_before("B-00", 1),
              "truncate": delete_last_of("B-19")}[which]
    with engine.store.engine.connect() as c:
        try:
            tamper(c)
            reads = engine.store.reads_on(c)
            full = verify_reads(reads, checkpoint)
            leaves = verify_reads(reads, checkpoint, content=False)
        finally:
            c.rollback()
    assert leaves.findings and [f.as_json() for f in leaves.findings] == [
        f.as_json() for f in full.findings if f.kind != "content"]
