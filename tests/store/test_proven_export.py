"""Exports that prove themselves (issue 16; workflow/CONTRACT.md §2.1), on SQLite and
PostgreSQL: an export checks on its own and against a checkpoint the auditor kept; each way of
forging it — an edited line, the purged case's recorded category and body changed, swapped
positions, a dropped event, a forged checkpoint — is named by line, case and sequence; a store
changed under the auditor's checkpoint cannot give an export that proves itself against it;
and the export still replays as a history."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import text
from store_cases import history_lines
from test_retention import CASE as PURGED
from test_retention import drive_to_purge

from jiekun.policies.deadlines import SHANGHAI
from jiekun.states import build_lifecycle
from jiekun.workflow.checkpoint import Checkpoint, take_checkpoint
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.export_check import ExportCheck, check_export
from jiekun.workflow.proven_export import proven_export
from jiekun.workflow.replay import replay
from jiekun.workflow.signing import Signer
from jiekun.workflow.transfer import import_history

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=SHANGHAI)
LIFECYCLE = build_lifecycle()
FIRST = ("01-deep-happy-path-to-archive.jsonl",)
LATER = ("07-exit-refused-verified-announced.jsonl",)


def check(lines: list[str], **kwargs: object) -> ExportCheck:
    return check_export(lines, LIFECYCLE, **kwargs)  # type: ignore[arg-type]


def objects(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines]


def event_indices(objs: list[dict[str, object]]) -> list[int]:
    """Where the events are (after the checkpoint and the policy version lines)."""
    return [i for i, o in enumerate(objs) if "event" in o]


def dumps(objs: list[dict[str, object]]) -> list[str]:
    return [json.dumps(o, ensure_ascii=False) for o in objs]


@pytest.fixture
def grown(engine: Engine) -> tuple[Engine, Checkpoint]:
    """A store checkpointed after case C-1, which then grew by case C-8."""
    assert import_history(engine, history_lines(*FIRST)).violations == 0
    held = take_checkpoint(engine.store, NOW)
    assert import_history(engine, history_lines(*LATER)).violations == 0
    return engine, held


def test_an_export_proves_itself_against_the_checkpoint_kept(grown: tuple[Engine, Checkpoint],
                                                            decider: Decider) -> None:
    engine, held = grown
    lines = list(proven_export(engine.store, NOW, against=held))
    report = check(lines, against=held)
    assert report.ok and report.proven and report.against == "verified", report.findings
    assert (report.events, len(report.cases)) == (6 + 13, 2)
    assert report.checkpoint is not None and report.checkpoint.size == 19
    # on its own the same file checks but proves nothing, and says so
    alone = check(lines)
    assert alone.ok and not alone.proven and alone.against is None
    # it is still a history: replay takes it, proofs and all
    assert replay(lines, decider).as_json() == replay(
        history_lines(*FIRST, *LATER), decider).as_json()


def test_one_case_exported_proves_against_the_whole_log(grown: tuple[Engine, Checkpoint]
                                                        ) -> None:
    engine, held = grown
    lines = list(proven_export(engine.store, NOW, "C-8", against=held))
    report = check(lines, against=held)
    assert report.proven and report.cases == {"C-8"} and report.events == 13
    positions = [o["position"] for o in objects(lines) if "event" in o]
    assert positions == list(range(6, 19))  # its leaves after C-1's six


def test_an_edited_line_is_named(grown: tuple[Engine, Checkpoint]) -> None:
    engine, held = grown
    objs = objects(list(proven_export(engine.store, NOW, against=held)))
    target = next(i for i, o in enumerate(objs) if o.get("case") == "C-1" and o.get("seq") == 1)
    data = objs[target]["data"]
    assert isinstance(data, dict)
    data["household"]["members"][0]["annual_income"] = "1"
    report = check(dumps(objs), against=held)
    assert not report.ok
    found = {(f.line, f.case, f.seq, f.kind) for f in report.findings}
    # the application is personal: its digest no longer matches, and so the hash
    assert (target + 1, "C-1", 1, "personal") in found


def test_a_forged_purged_export_is_named(engine: Engine) -> None:
    drive_to_purge(engine)
    held = take_checkpoint(engine.store, NOW)
    objs = objects(list(proven_export(engine.store, NOW, PURGED, against=held)))
    assert check(dumps(objs), against=held).proven
    events = [i for i, o in enumerate(objs) if "event" in o]
    for i in events[-5:]:  # the forgery of the issue: category and body of the last five
        derived = json.loads(str(objs[i]["derived"]))
        derived["category"], derived["reviewing_body"] = "deep", "binhu"
        objs[i]["derived"] = json.dumps(derived)
    report = check(dumps(objs), against=held)
    assert [(f.line, f.kind) for f in report.findings] == [(i + 1, "hash") for i in events[-5:]]
    assert all(f.case == PURGED for f in report.findings)


def test_swapped_positions_and_a_dropped_event_are_named(grown: tuple[Engine, Checkpoint]
                                                         ) -> None:
    engine, held = grown
    objs = objects(list(proven_export(engine.store, NOW, against=held)))
    a, b, c = event_indices(objs)[1:4]  # C-1's second, third and fourth events
    swapped = [dict(o) for o in objs]
    swapped[a]["position"], swapped[b]["position"] = objs[b]["position"], objs[a]["position"]
    report = check(dumps(swapped), against=held)
    assert {(f.line, f.kind) for f in report.findings} == {(a + 1, "proof"), (b + 1, "proof")}
    dropped = objs[:c] + objs[c + 1:]  # C-1's fourth event is gone
    report = check(dumps(dropped), against=held)
    assert [(f.line, f.case, f.seq, f.kind) for f in report.findings] == [
        (c + 1, "C-1", 5, "chain")]


def test_a_rebuilt_checkpoint_does_not_prove(grown: tuple[Engine, Checkpoint]) -> None:
    """Whoever forges events can recompute every hash, proof and the export's root — but not
    a consistency proof to the checkpoint the auditor kept, nor the signer's signature."""
    engine, held = grown
    signer = Signer.generate("wx-audit")
    good = list(proven_export(engine.store, NOW, against=held, signer=signer))
    assert check(good, against=held, verifier=signer.verifier()).proven
    # the forger's note: another root, unsigned by the auditor's key
    first = json.loads(good[0])
    note = first["checkpoint"]["note"].split("\n")
    note[2] = "A" * 43 + "="
    first["checkpoint"]["note"] = "\n".join(note[:4]) + "\n"
    forged = [json.dumps(first), *good[1:]]
    report = check(forged, against=held, verifier=signer.verifier())
    kinds = {f.kind for f in report.findings}
    assert {"proof", "signature", "against"} <= kinds and not report.proven
    other = Signer.generate("wx-audit")
    assert check(good, verifier=other.verifier()).signature == "invalid"


def test_a_store_changed_under_the_checkpoint_cannot_prove_an_export(
        grown: tuple[Engine, Checkpoint], raw_sql: Callable[[Engine, str], None]) -> None:
    engine, held = grown
    # an event of C-1 (before the checkpoint) rewritten with a hash that fits its new text
    raw_sql(engine, f"UPDATE events SET hash = 'sha256:{'ab' * 32}' "
                    "WHERE case_id = 'C-1' AND seq = 6")
    report = check(list(proven_export(engine.store, NOW, against=held)), against=held)
    assert report.against == "failed" and not report.proven
    assert any(f.kind == "against" and "not a prefix" in f.message for f in report.findings)


def test_a_malformed_file_is_findings_not_a_crash(grown: tuple[Engine, Checkpoint]) -> None:
    engine, _ = grown
    lines = list(proven_export(engine.store, NOW))
    report = check([lines[0], "{not json", *lines[1:]])
    assert [(f.line, f.kind) for f in report.findings] == [(2, "malformed")]
    plain = check(history_lines(*FIRST))
    assert not plain.ok and plain.findings[0].kind == "not proving"


@pytest.fixture
def raw_sql() -> Callable[[Engine, str], None]:
    def run(engine: Engine, statement: str) -> None:
        with engine.store.engine.begin() as connection:
            connection.execute(text(statement))
    return run
