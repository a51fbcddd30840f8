"""Exports say which rules decided (issue 15), on SQLite and PostgreSQL: a store that decided
under two policy versions exports both as version lines, each event naming its own; replay
decides every event under the version it names and finds no violation without ``--policy``,
while the same file replayed under one policy (a what-if) does; a version line whose text was
changed is refused as invalid input, naming its line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_cases import history_lines

from jiekun.policies.aid_merge import policy_text_with_tables
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import InvalidInput
from jiekun.policies.policy_file import parse_policy, shipped_policy_text
from jiekun.workflow.cli import main
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.history_view import held_policies, history_view
from jiekun.workflow.policy_versions import publish, versions
from jiekun.workflow.proven_export import proven_export
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import import_history
from tests.workflow.test_aid import ILLUSTRATIVE, aid_history

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=SHANGHAI)


@pytest.fixture
def two_versions(engine: Engine) -> list[str]:
    """C-8 decided under version 1 (the shipped policy, no aid tables), then version 2 (with
    illustrative tier tables) published and three cases with grants decided under it."""
    assert import_history(engine, history_lines("07-exit-refused-verified-announced.jsonl")
                          ).violations == 0
    with_tables = policy_text_with_tables(shipped_policy_text(), ILLUSTRATIVE.read_text("utf-8"),
                                          "+illustrative-aid")
    publish(engine.store, with_tables, by="test", at=NOW, note="illustrative aid tables")
    second = Decider(parse_policy(with_tables, "with tables"))
    assert import_history(engine, aid_history(second)).violations == 0
    return list(proven_export(engine.store, NOW))


def test_an_export_names_each_version_and_replays_without_policy(engine: Engine,
                                                                two_versions: list[str]) -> None:
    held = {v.hash: v for v in versions(engine.store)}
    lines = [json.loads(x) for x in two_versions]
    meta = [x["policy_version"] for x in lines if "policy_version" in x]
    assert [(m["id"], m["version"]) for m in meta] == [
        ("wx-2023-45", 1), ("wx-2023-45+illustrative-aid", 2)]
    for m in meta:
        assert held[m["hash"]].toml == m["toml"]
    # each version line comes before the first event that names it
    first_use = {m["hash"]: next(i for i, x in enumerate(lines)
                                 if x.get("policy", "").endswith(m["hash"])) for m in meta}
    for m in meta:
        assert lines.index({"policy_version": m}) < first_use[m["hash"]]

    report = replay(two_versions)  # no decider: the shipped policy, unless the file says
    assert report.violations == 0, [c.violation for c in report.cases.values() if c.violation]
    assert set(report.cases) == {"C-8", "C-A", "C-B", "C-C"}
    # the same file under the shipped policy alone: the grants have no tier table
    what_if = replay(two_versions, Decider(), file_versions=False)
    assert what_if.violations > 0
    assert {c.violation.event for c in what_if.cases.values() if c.violation} == {"grant_aid"}


def test_a_changed_version_line_is_refused(two_versions: list[str], tmp_path: Path) -> None:
    lines = list(two_versions)
    where = next(i for i, x in enumerate(lines) if '"version": 2' in x)
    line = json.loads(lines[where])
    line["policy_version"]["toml"] = line["policy_version"]["toml"].replace(
        'max = "3000"', 'max = "30000"', 1)  # a higher top tier
    assert line["policy_version"]["toml"] != json.loads(lines[where])["policy_version"]["toml"]
    lines[where] = json.dumps(line, ensure_ascii=False)
    with pytest.raises(InvalidInput, match=f"line {where + 1}"):
        replay(lines)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n", "utf-8")
    result = CliRunner().invoke(main, ["replay", str(forged)])
    assert result.exit_code == 2 and "does not give its hash" in result.output
    # a what-if under --policy does not read the version lines
    shipped = tmp_path / "shipped.toml"
    shipped.write_text(shipped_policy_text(), "utf-8")
    what_if = CliRunner().invoke(main, ["replay", str(forged), "--policy", str(shipped)])
    assert what_if.exit_code == 1, what_if.output  # violations (no tier tables), not invalid


def test_case_history_recomputes_each_event_under_its_own_version(
        engine: Engine, two_versions: list[str]) -> None:
    """C-8 was decided under version 1 and C-A under version 2 (the engine's current one):
    the rule results of both are recomputed, each under the version its events name."""
    held = held_policies(versions(engine.store))
    for case_id in ("C-8", "C-A"):
        events = engine.history(case_id, Actor("auditor"))
        rows = history_view(engine.decider.lifecycle, events, False, engine.decider, held)
        rules = [r for row in rows for r in row["rules"]]
        assert rules and all(r["recomputed"] for r in rules
                             if r["id"] != "R-ONE-OPEN-CASE"), (case_id, rules)
    # without the store's versions only the current version's events could be recomputed
    c8 = history_view(engine.decider.lifecycle, engine.history("C-8", Actor("auditor")),
                      False, engine.decider)
    assert any(not r["recomputed"] and "not available" in r["because"]
               for row in c8 for r in row["rules"])
