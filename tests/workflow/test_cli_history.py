"""Issue 16, histories people can read: ``jiekun case history`` (times in +08:00, actors, triggers
and states in Chinese and English, payloads with personal data masked unless a reader who may
see it asks, what the engine derived, the policy), its JSON, and ``case show`` / ``case list``
``--as-of``; the rule results that decided each event, recomputed (they are not stored), or why
they could not be (a purged case's personal data, a policy version the engine does not hold).
Everything runs through the real command on a fresh SQLite store holding case C-8
(tests/cases/histories/07): archived 2024-03-21T00:10+08:00, exited 2025-04-03."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.authorization import Actor
from jiekun.states import Lifecycle
from jiekun.states.lifecycle import STATES, TRIGGERS
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.history_view import policy_for, rule_results
from jiekun.workflow.records import Event
from jiekun.workflow.transfer import import_history

JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]
ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "cases" / "histories" / "07-exit-refused-verified-announced.jsonl"
ID_NUMBER = "320211197903155182"  # the applicant's, and the worker who refused the exit
PHONE = "13900000001"  # in the application
CONTACT = "社工王某"  # start_phase_out's contact_person (personal)
WORKER = f"worker:{ID_NUMBER}"
LINES = [json.loads(line) for line in HISTORY.read_text("utf-8").splitlines()]
TRIGGER_LABELS = {t.name: t.label for t in TRIGGERS}
STATE_LABELS = {s.name: s.label for s in STATES}

Run = subprocess.CompletedProcess[str]


def jiekun(*args: str) -> Run:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def ok(run: Run) -> str:
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'cases.db'}"
    ok(jiekun("db", "upgrade", "--db", url))
    ok(jiekun("case", "import", str(HISTORY), "--db", url))
    return ["--db", url]


def history_json(db: list[str], *extra: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(jiekun("case", "history", "C-8", "--format",
                                                     "json", *extra, *db)))
    return rows


def test_history_text_is_readable(db: list[str]) -> None:
    text = ok(jiekun("case", "history", "C-8", *db))
    heads = [line for line in text.splitlines() if line.startswith("#")]
    assert len(heads) == len(LINES)
    for head, line in zip(heads, LINES, strict=True):
        label = TRIGGER_LABELS[line["event"]]
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", head), head
        assert label.zh in head and label.en in head, head
    for state in ("upper_review", "archived", "exited"):
        assert STATE_LABELS[state].zh in text and STATE_LABELS[state].en in text
    assert "{'" not in text and "'role'" not in text  # no Python dict for an actor
    assert "总工会 federation 新吴区总工会（xinwu）" in text
    assert "基层工会 grassroots union gu-test-001" in text
    assert "档案编号 archive number WX-xinwu-20240321-C-8" in text
    assert "到期 due 2024-09-21T00:00:00+08:00" in text  # the re-check timer started
    assert re.search(r"policy wx-2023-45@[0-9a-f]{12}\n", text + "\n")


def test_personal_data_masked_by_default(db: list[str]) -> None:
    for reader in ("auditor", "system", "federation:xinwu"):
        text = ok(jiekun("case", "history", "C-8", "--as", reader, *db))
        assert ID_NUMBER not in text and PHONE not in text and CONTACT not in text
        assert "身份证号 id ***" in text  # the worker who refused the exit
        assert "contact_person=***" in text and "household=***" in text
        assert "reason=不同意退档" in text  # not personal: shown


def test_show_personal_to_those_who_may_see_it(db: list[str]) -> None:
    for reader in ("auditor", "federation:xinwu", "federation:wuxi-city",
                   "grassroots_union:gu-test-001", WORKER):
        text = ok(jiekun("case", "history", "C-8", "--show-personal", "--as", reader, *db))
        assert f"身份证号 id {ID_NUMBER}" in text, reader
        assert CONTACT in text and PHONE in text, reader
        assert "***" not in text, reader


def test_show_personal_refused_to_a_reader_who_may_not(db: list[str]) -> None:
    run = jiekun("case", "history", "C-8", "--show-personal", "--as", "system", *db)
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert run.stderr.startswith("jiekun: E-ACTOR ") and "personal data" in run.stderr
    body = json.loads(jiekun("case", "history", "C-8", "--show-personal", "--as", "system",
                             "--format", "json", *db).stderr)
    assert body["code"] == "E-ACTOR" and body["actor"] == "system"


def test_history_json_has_the_same_content(db: list[str]) -> None:
    rows = history_json(db)
    text = ok(jiekun("case", "history", "C-8", *db))
    assert [r["event"] for r in rows] == [line["event"] for line in LINES]
    assert [r["seq"] for r in rows] == list(range(1, len(LINES) + 1))
    for row in rows:
        assert row["at"].endswith("+08:00") and row["at"] in text
        assert row["event_zh"] == TRIGGER_LABELS[row["event"]].zh
        assert row["event_en"] == TRIGGER_LABELS[row["event"]].en
        assert row["state_zh"] == STATE_LABELS[row["state"]].zh and row["state_zh"] in text
        assert re.fullmatch(r"wx-2023-45@[0-9a-f]{12}", row["policy"])
        assert row["actor"]["role_zh"] in text
    dump = json.dumps(rows, ensure_ascii=False)
    assert ID_NUMBER not in dump and CONTACT not in dump and PHONE not in dump
    refuse = next(r for r in rows if r["event"] == "refuse_exit")
    assert refuse["actor"] == {"role": "worker", "role_zh": "职工", "role_en": "worker",
                               "id_number": "***"}
    phase_out = next(r for r in rows if r["event"] == "start_phase_out")
    assert phase_out["data"] == {"months": 6, "contact_person": "***", "household": "***"}
    assert phase_out["derived"]["timers_started"][0]["due"] == "2025-03-23T00:00:00+08:00"
    archived = next(r for r in rows if r["state"] == "archived")
    assert archived["derived"]["archive_number"] == "WX-xinwu-20240321-C-8"
    assert archived["derived"]["due"] == "2024-03-21T00:00:00+08:00"  # fired 10 minutes late
    shown = history_json(db, "--show-personal", "--as", "auditor")
    refuse = next(r for r in shown if r["event"] == "refuse_exit")
    assert refuse["actor"]["id_number"] == ID_NUMBER
    phase_out = next(r for r in shown if r["event"] == "start_phase_out")
    assert phase_out["data"]["contact_person"] == CONTACT
    assert shown[0]["data"]["applicant"]["id_number"] == ID_NUMBER


def show(db: list[str], *extra: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(jiekun("case", "show", "C-8", "--format", "json",
                                                 *extra, *db)))
    return found


def test_show_as_of(db: list[str]) -> None:
    assert show(db)["state"] == "exited"
    before = show(db, "--as-of", "2024-03-21T00:09")  # Asia/Shanghai: before the archive
    assert (before["state"], before["archive_number"], before["version"]) == (
        "media_publicity", None, 5)
    assert before["as_of"] == "2024-03-21T00:09:00+08:00"
    after = show(db, "--as-of", "2024-03-20T16:10:00+00:00")  # = 00:10+08:00, the archive
    assert (after["state"], after["archive_number"]) == ("archived", "WX-xinwu-20240321-C-8")
    assert show(db, "--as-of", "2024-01-01")["state"] is None  # no event yet
    text = ok(jiekun("case", "show", "C-8", "--as-of", "2024-03-13", *db))
    assert "state: upper_review" in text


def listed(db: list[str], *extra: str) -> list[tuple[str, str]]:
    out = json.loads(ok(jiekun("case", "list", "--format", "json", *extra, *db)))
    return [(r["case_id"], r["state"]) for r in out["cases"]]


def test_list_as_of(db: list[str]) -> None:
    assert listed(db) == [("C-8", "exited")]
    assert listed(db, "--as-of", "2024-03-13") == [("C-8", "upper_review")]
    assert listed(db, "--as-of", "2024-06-01", "--state", "archived") == [("C-8", "archived")]
    assert listed(db, "--as-of", "2024-06-01", "--state", "exited") == []
    assert listed(db, "--as-of", "2024-03-01") == []  # submitted on 2024-03-04
    assert listed(db, "--as-of", "2024-06-01", "--as", "federation:liangxi") == []
    text = ok(jiekun("case", "list", "--as-of", "2024-03-13", *db))
    assert text.split()[:2] == ["C-8", "upper_review"]


# Rule results (recomputed: they are not stored with the events) -----------------------------

# The guards of the route each of C-8's events took (states/LIFECYCLE.md)
GUARDS_TAKEN = [["R-ONE-OPEN-CASE"], [], ["R-ELIGIBLE"],
                ["R-PUBLICITY-ELAPSED", "E-OBJECTION"], ["R-ELIGIBLE"],
                ["R-PUBLICITY-ELAPSED", "E-OBJECTION"], ["R-RECHECK-CADENCE"],
                ["R-OUT-OF-HARDSHIP", "R-PHASEOUT-MAX"], ["R-PHASEOUT-ELAPSED"],
                ["R-EXIT-CONFIRM"], ["R-EXIT-REFUSAL"], ["R-EXIT-REFUSAL"],
                ["R-PUBLICITY-ELAPSED", "E-OBJECTION"]]


def test_history_shows_the_rule_results(db: list[str]) -> None:
    rows = history_json(db)
    assert [[r["id"] for r in row["rules"]] for row in rows] == GUARDS_TAKEN
    for row in rows[1:]:  # every guard but R-ONE-OPEN-CASE is recomputed, and held then
        assert all(r["recomputed"] and r["passed"] is True for r in row["rules"]), row
    one_open = rows[0]["rules"][0]
    assert one_open["recomputed"] is False and one_open["passed"] is None
    assert "other cases" in one_open["because"] and one_open["citation"] == "§1.1"
    phase_out = next(r for r in rows if r["event"] == "start_phase_out")
    hardship, months = phase_out["rules"]
    assert months["figures"] == {"months": "6", "limit": "6"}
    assert months["citation"] == "§3" and months["title_zh"] == "渐退期不超过6个月"
    assert hardship["figures"]["category"] == "none"
    # the incomes behind the categories are personal: masked unless shown
    assert {p["figures"].get("value") for p in hardship["rules"]} <= {"***", None}
    ended = next(r for r in rows if r["event"] == "unit_publicity_ended")["rules"][0]
    assert ended["figures"] == {"due": "2024-03-12T00:00:00+08:00",
                                "at": "2024-03-12T00:05:00+08:00"}
    shown = history_json(db, "--show-personal")
    hardship = next(r for r in shown if r["event"] == "start_phase_out")["rules"][0]
    assert all(re.fullmatch(r"-?\d+\.\d\d", p["figures"]["value"])
               for p in hardship["rules"] if "value" in p["figures"])
    text = ok(jiekun("case", "history", "C-8", *db))
    assert ("规则 rule R-PHASEOUT-MAX §3 渐退期不超过6个月: ✓ 通过 passed — 渐退期 6 个月，"
            "上限 6 个月") in text
    assert "数据 figures: months=6, limit=6" in text
    assert "规则 rule R-ONE-OPEN-CASE §1.1" in text and "not recomputed" in text
    assert "R-DEEP-INCOME §1.2" in text and "value=***" in text


def _stored_like_purged(lifecycle: Lifecycle, event: Event) -> Event:
    """The event as a purged case's store gives it back (workflow/row_mapping.py event_of):
    its personal part gone, ``{"redacted": true}`` in its data, a worker without id number."""
    trigger = lifecycle.trigger(event.trigger)
    personal = trigger.personal_fields
    if not (trigger.whole_payload_personal or personal & set(event.data)
            or "id_number" in event.actor):
        return event
    data = {} if trigger.whole_payload_personal else {
        k: v for k, v in event.data.items() if k not in personal}
    actor = {k: v for k, v in event.actor.items() if k != "id_number"}
    return event.model_copy(update={"data": {**data, "redacted": True}, "actor": actor})


def test_rules_of_a_purged_case_could_not_be_rechecked(tmp_path: Path,
                                                       decider: Decider) -> None:
    url = f"sqlite:///{tmp_path / 'c8.db'}"
    with Engine.open(url, upgrade=True, decider=decider) as engine:
        assert import_history(engine, HISTORY.read_text("utf-8").splitlines()).violations == 0
        events = engine.history("C-8", Actor("auditor"))
    purged = [_stored_like_purged(decider.lifecycle, e) for e in events]
    assert purged[0].data == {"redacted": True}
    results = rule_results(decider, purged)
    assert [[r["id"] for r in rules] for rules in results] == GUARDS_TAKEN
    for rules in results:
        for result in rules:
            if result["id"] in ("R-ELIGIBLE", "R-OUT-OF-HARDSHIP"):
                assert result["recomputed"] is False and result["passed"] is None
                assert result["because"] == ("could not be re-checked: its personal data was "
                                             "destroyed"), result
            elif result["id"] != "R-ONE-OPEN-CASE":  # needs no personal data
                assert result["recomputed"] and result["passed"] is True, result
    months = results[7][1]
    assert months["id"] == "R-PHASEOUT-MAX" and months["figures"] == {"months": "6",
                                                                       "limit": "6"}


def test_rules_under_a_policy_version_not_held(tmp_path: Path, decider: Decider) -> None:
    url = f"sqlite:///{tmp_path / 'c8.db'}"
    with Engine.open(url, upgrade=True, decider=decider) as engine:
        assert import_history(engine, HISTORY.read_text("utf-8").splitlines()).violations == 0
        events = engine.history("C-8", Actor("auditor"))
    other = "sha256:" + "0" * 64
    assert policy_for(decider, events[0].policy_id, events[0].policy_hash) is decider.policy
    assert policy_for(decider, events[0].policy_id, other) is None
    changed = [e.model_copy(update={"policy_hash": other}) if e.seq >= 7 else e
               for e in events]
    results = rule_results(decider, changed)
    assert all(r["recomputed"] for rules in results[1:6] for r in rules)
    for rules in results[6:]:
        for result in rules:
            assert result["recomputed"] is False and result["passed"] is None
            assert result["because"] == ("not recomputed: policy version "
                                         "wx-2023-45@000000000000 not available")
