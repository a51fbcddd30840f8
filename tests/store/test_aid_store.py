"""Aid grants in the durable store (issue 6, "Done when"): a history with grant_aid lines
imports, exports and replays to the same states; ``audit verify`` passes; the grants' state
(last tiers, medical totals and declarations) survives in the store and keeps judging new grants;
``jiekun aid report`` adds up the grants per item, category and reviewing body (``--year``,
``--body``, ``--case``) — on SQLite and on PostgreSQL, through the API and the command.

The history and its policy file are those of tests/workflow/test_aid.py (three cases, one of
them purged with its personal data destroyed, so its export carries redacted grant lines).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.aid_merge import with_tier_tables
from jiekun.policies.errors import GuardFailed
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.aid_report import aid_report
from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import export_lines, import_history
from tests.workflow.builders import at, fed
from tests.workflow.test_aid import (
    EXPECTED_REPLAY,
    ILLUSTRATIVE,
    aid_history,
    outcome,
    policy_file_text,
)

JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]
ITEM_ZH = {"living": "生活救助", "education": "子女助学", "medical": "医疗救助",
           "training": "职业培训", "job_referral": "职业介绍", "legal_aid": "法律援助"}

# The grants of aid_history (see its docstring), by (item, category, body): (grants, yuan).
ALL_LINES = {
    ("education", "deep", "wuxi-city"): (1, "2500"),        # C-B 2025
    ("living", "accident", "binhu"): (1, "900"),            # C-C 2024
    ("living", "deep", "wuxi-city"): (2, "2100"),           # C-B 1000 (2024) + 1100 (2025)
    ("living", "relative", "binhu"): (2, "2200"),           # C-A 1000 + 1200 (2024)
    ("medical", "accident", "binhu"): (2, "1000"),          # C-C 600 + 400 (2024)
    ("medical", "deep", "wuxi-city"): (1, "800"),           # C-B 2025
    ("medical", "relative", "binhu"): (1, "3000"),          # C-A 2024
    ("training", "relative", "binhu"): (1, "0"),            # C-A 2024, not paid in money
}
# 2500 + 900 + 2100 + 2200 + 1000 + 800 + 3000 + 0 = 12500 in 11 grants
# (filters, expected lines, grants, total)
REPORTS: list[tuple[dict[str, str], dict[tuple[str, str, str], tuple[int, str]], int, str]] = [
    ({}, ALL_LINES, 11, "12500"),
    # 2024: C-A 2200 + 3000 + 0, C-B 1000, C-C 900 + 1000 = 8100 in 8 grants
    ({"year": "2024"}, {
        ("living", "accident", "binhu"): (1, "900"),
        ("living", "deep", "wuxi-city"): (1, "1000"),
        ("living", "relative", "binhu"): (2, "2200"),
        ("medical", "accident", "binhu"): (2, "1000"),
        ("medical", "relative", "binhu"): (1, "3000"),
        ("training", "relative", "binhu"): (1, "0"),
    }, 8, "8100"),
    # 2025: C-B 2500 + 1100 + 800 = 4400 in 3 grants (8100 + 4400 = 12500)
    ({"year": "2025"}, {
        ("education", "deep", "wuxi-city"): (1, "2500"),
        ("living", "deep", "wuxi-city"): (1, "1100"),
        ("medical", "deep", "wuxi-city"): (1, "800"),
    }, 3, "4400"),
    ({"year": "2023"}, {}, 0, "0"),
    # binhu: C-A and C-C, 2200 + 3000 + 0 + 900 + 1000 = 7100 in 7 grants
    ({"body": "binhu"}, {k: v for k, v in ALL_LINES.items() if k[2] == "binhu"}, 7, "7100"),
    # wuxi-city: C-B, 2500 + 2100 + 800 = 5400 in 4 grants (7100 + 5400 = 12500)
    ({"body": "wuxi-city"}, {k: v for k, v in ALL_LINES.items() if k[2] == "wuxi-city"}, 4,
     "5400"),
    ({"body": "liangxi"}, {}, 0, "0"),
    # C-C: 900 + 600 + 400 = 1900 in 3 grants
    ({"case": "C-C"}, {("living", "accident", "binhu"): (1, "900"),
                       ("medical", "accident", "binhu"): (2, "1000")}, 3, "1900"),
    ({"case": "C-A"}, {k: v for k, v in ALL_LINES.items() if k[1] == "relative"}, 4, "5200"),
    ({"year": "2024", "body": "wuxi-city"}, {("living", "deep", "wuxi-city"): (1, "1000")}, 1,
     "1000"),
]


@pytest.fixture(scope="module")
def aid_decider() -> Decider:
    return Decider(with_tier_tables(load_policy(), ILLUSTRATIVE, "+test"))


@pytest.fixture(scope="module")
def history(aid_decider: Decider) -> list[str]:
    return aid_history(aid_decider)


@pytest.fixture
def aid_engine(backend: str, aid_decider: Decider) -> Iterator[Engine]:
    engine = Engine.open(backend, decider=aid_decider)
    yield engine
    engine.store.engine.dispose()


def report_lines(report: dict[str, Any]) -> dict[tuple[str, str, str], tuple[int, Decimal]]:
    for line in report["lines"]:
        assert line["item_zh"] == ITEM_ZH[line["item"]]
    return {(x["item"], x["category"], x["reviewing_body"]): (x["grants"], Decimal(x["amount"]))
            for x in report["lines"]}


def check_report(report: dict[str, Any], lines: dict[tuple[str, str, str], tuple[int, str]],
                 grants: int, total: str) -> None:
    assert report_lines(report) == {k: (n, Decimal(a)) for k, (n, a) in lines.items()}
    assert (report["grants"], Decimal(report["amount"])) == (grants, Decimal(total))


def test_import_export_replay_and_audit(aid_engine: Engine, aid_decider: Decider,
                                        history: list[str]) -> None:
    report = import_history(aid_engine, history).as_json()
    assert report["violations"] == 0 and outcome(report) == EXPECTED_REPLAY
    in_memory = replay(history, aid_decider)
    for case_id in ("C-A", "C-B"):  # the aid state of the stored projection is the fold's
        stored, folded = aid_engine.stored_case(case_id), in_memory.cases[case_id].case
        assert stored is not None
        assert (stored.aid_ranks, stored.medical_granted, stored.medical_declared) == (
            folded.aid_ranks, folded.medical_granted, folded.medical_declared)
    a = aid_engine.stored_case("C-A")
    assert a is not None
    assert (a.aid_ranks, a.medical_granted, a.medical_declared) == (
        {"living": 0, "medical": 0}, {"2024": Decimal("3000")}, {"2024": Decimal("5000")})
    purged = aid_engine.stored_case("C-C")
    assert purged is not None and purged.medical_declared == {}  # destroyed with the rest

    exported = list(export_lines(aid_engine))
    assert len(exported) == 35  # 10 + 10 + 15 events
    grants = [json.loads(x) for x in exported if json.loads(x)["event"] == "grant_aid"]
    assert len(grants) == 11
    # the purged case's declaration went with its personal data: its grant line is redacted
    c_medical = [g for g in grants if g["case"] == "C-C" and g["data"]["item"] == "medical"]
    assert c_medical[0]["data"].get("redacted") is True
    assert "self_paid_medical_total" not in c_medical[0]["data"]
    a_medical = [g for g in grants if g["case"] == "C-A" and g["data"]["item"] == "medical"]
    assert a_medical[0]["data"]["self_paid_medical_total"] == "5000"

    again = replay(exported, aid_decider).as_json()
    assert again["violations"] == 0, again
    assert outcome(again) == EXPECTED_REPLAY
    assert again["cases"]["C-C"]["unverifiable"] > 0  # what went with the personal data

    # the redacted grant is still judged on what is left of it (tier, amount, period)
    number = exported.index(next(x for x in exported if json.loads(x)["case"] == "C-C"
                                 and json.loads(x)["event"] == "grant_aid"
                                 and json.loads(x)["data"].get("redacted")))
    for amount, rule in (("8000.01", "R-AID-TIER"), ("6OO", "E-PAYLOAD")):
        line = json.loads(exported[number])
        line["data"]["amount"] = amount  # accident medical tier 2 is 1–8000
        tampered = [*exported[:number], json.dumps(line, ensure_ascii=False),
                    *exported[number + 1:]]
        violation = replay(tampered, aid_decider).as_json()["cases"]["C-C"]["violation"]
        assert (violation["line"], violation["rule"]) == (number + 1, rule), violation

    with aid_engine.store.reading() as connection:
        audit = verify(aid_engine.store.reads_on(connection), aid_decider)
    assert audit.ok, audit.problems
    assert (audit.cases, audit.events) == (3, 35)


def test_the_stored_aid_state_judges_new_grants(aid_engine: Engine, aid_decider: Decider,
                                                history: list[str], backend: str) -> None:
    import_history(aid_engine, history)
    fresh = Engine.open(backend, decider=aid_decider)  # nothing in memory: all from the store
    try:
        binhu = fed("binhu")
        # C-A: medical 3000 of the 5000 declared for 2024; living last granted at tier 1
        with pytest.raises(GuardFailed) as caught:
            fresh.fire("C-A", "grant_aid", binhu, at(2024, 8, 1, 10), {
                "item": "medical", "tier": "1", "amount": "2000.01", "period": "2024-08"})
        assert caught.value.rule == "R-MEDICAL-CAP"
        with pytest.raises(GuardFailed) as caught:
            fresh.fire("C-A", "grant_aid", binhu, at(2024, 8, 1, 10), {
                "item": "living", "tier": "2", "amount": "799.99", "period": "2024-08"})
        assert caught.value.rule == "R-NO-ARBITRARY-CUT"
        event = fresh.fire("C-A", "grant_aid", binhu, at(2024, 8, 1, 10), {
            "item": "medical", "tier": "1", "amount": "2000", "period": "2024-08"})  # = cap
        assert event.seq == 11
        stored = fresh.stored_case("C-A")
        assert stored is not None and stored.medical_granted == {"2024": Decimal("5000")}
        # C-B (deep, wuxi-city): medical 800 of 800 in 2025
        with pytest.raises(GuardFailed) as caught:
            fresh.fire("C-B", "grant_aid", fed("wuxi-city"), at(2025, 2, 3, 10), {
                "item": "medical", "tier": "2", "amount": "1", "period": "2025-02"})
        assert caught.value.rule == "R-MEDICAL-CAP"
        with fresh.store.reading() as connection:
            audit = verify(fresh.store.reads_on(connection), aid_decider)
        assert audit.ok, audit.problems
        assert (audit.cases, audit.events) == (3, 36)
        check_report(aid_report(fresh, case_id="C-A"), {
            **{k: v for k, v in ALL_LINES.items() if k[1] == "relative"},
            ("medical", "relative", "binhu"): (2, "5000")}, 5, "7200")
    finally:
        fresh.store.engine.dispose()


def test_aid_report(aid_engine: Engine, history: list[str]) -> None:
    import_history(aid_engine, history)
    for filters, lines, grants, total in REPORTS:
        report = aid_report(aid_engine, filters.get("year"), filters.get("body"),
                            filters.get("case"))
        check_report(report, lines, grants, total)
        assert (report["year"], report["reviewing_body"], report["case"]) == (
            filters.get("year"), filters.get("body"), filters.get("case"))


def _run_all(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Commands run side by side (each is a process start-up of about a second)."""
    running = [subprocess.Popen([*JIEKUN, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for c in commands]
    done = []
    for process, command in zip(running, commands, strict=True):
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


def test_round_trip_and_report_through_the_command(backend: str, history: list[str],
                                                   tmp_path: Path) -> None:
    history_file = tmp_path / "aid.jsonl"
    history_file.write_text("\n".join(history) + "\n", "utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_file_text(), "utf-8")
    db = ["--db", backend]

    # the store's commands decide under its current version: the tier tables are published
    [published] = _run_all(["policy", "publish", str(policy), *db, "--note", "tier tables"])
    assert published.returncode == 0, published.stdout + published.stderr
    [imported] = _run_all(["case", "import", str(history_file), *db, "--format", "json"])
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert outcome(json.loads(imported.stdout)) == EXPECTED_REPLAY

    exported = tmp_path / "export.jsonl"
    [run] = _run_all(["case", "export", *db, "-o", str(exported)])
    assert run.returncode == 0, run.stderr
    # the export's checkpoint, the version line of the policy with tables (published before
    # the import, so every event names it), 35 events
    lines = [json.loads(x) for x in exported.read_text("utf-8").splitlines()]
    assert [next(iter(x)) for x in lines if "event" not in x] == [
        "checkpoint", "policy_version"]
    assert sum(1 for x in lines if "event" in x) == 35

    json_ = ["--format", "json"]
    reports = [({}, []), ({"year": "2025"}, ["--year", "2025"]),
               ({"body": "binhu"}, ["--body", "binhu"]), ({"case": "C-C"}, ["--case", "C-C"])]
    replayed, audited, *reported = _run_all(
        ["replay", str(exported), "--policy", str(policy), *json_],
        ["audit", "verify", *db, *json_],
        *(["aid", "report", *db, *options, *json_] for _, options in reports))

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    again = json.loads(replayed.stdout)
    assert again["violations"] == 0 and outcome(again) == EXPECTED_REPLAY

    assert audited.returncode == 0, audited.stdout + audited.stderr
    audit = json.loads(audited.stdout)
    assert (audit["ok"], audit["cases"], audit["events"]) == (True, 3, 35)

    expected = {json.dumps(f, sort_keys=True): (lines, n, total)
                for f, lines, n, total in REPORTS}
    for (filters, _), run in zip(reports, reported, strict=True):
        assert run.returncode == 0, run.stdout + run.stderr
        lines, n, total = expected[json.dumps(filters, sort_keys=True)]
        check_report(json.loads(run.stdout), lines, n, total)
