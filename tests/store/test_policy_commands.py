"""``jiekun policy …`` (issue 15; workflow/cli/policy.py) on SQLite and PostgreSQL: each
publishing command prints what changed and publishes one version; a refusal ("no change", an
invalid value or file) exits 2 and changes nothing; store commands take no --policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from store_cases import dump_tables

from jiekun.persistence.database import make_engine
from jiekun.policies.policy_file import shipped_policy_text
from jiekun.workflow.cli import main

SHIPPED_HASH = "sha256:ab59ea14d4604ea4cee79f802a2bd3d73f9a1eba0e18c4b25e86a90e5600c562"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def tables(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return dump_tables(connection)
    finally:
        engine.dispose()


def test_show_history_and_export(backend: str, tmp_path: Path) -> None:
    shown = run("policy", "show", "--db", backend, "--format", "json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert (body["version"], body["hash"], body["current"]) == (1, SHIPPED_HASH, True)
    assert body["known_until"] == "2026-06-30" and body["toml"] == shipped_policy_text()
    text = run("policy", "show", "--db", backend)
    assert "policy version 1 (current): wx-2023-45" in text.output
    out = tmp_path / "current.toml"
    exported = run("policy", "export", "-o", str(out), "--db", backend)
    assert exported.exit_code == 0 and out.read_text("utf-8") == shipped_policy_text()
    missing = run("policy", "show", "--version", "9", "--db", backend)
    assert missing.exit_code == 2 and "no policy version 9" in missing.output


def test_add_standard_then_calendar_then_diff(backend: str) -> None:
    added = run("policy", "add-standard", "--from", "2026-07-01", "--amount", "1200",
                "--source", "锡政发〔2026〕X号", "--db", backend, "--by", "clerk")
    assert added.exit_code == 0, added.output
    assert "published policy version 2" in added.output
    assert "~ known_until: 2026-06-30 → 2027-06-30" in added.output
    assert "+ living_standard[3] = {effective_from = 2026-07-01, amount = 1200" in added.output
    year = run("policy", "add-calendar-year", "--year", "2027", "--holidays",
               "2027-01-01,2027-02-08..2027-02-12", "--workdays", "2027-02-07,2027-02-20",
               "--source", "国办发明电〔2026〕X号", "--db", backend, "--format", "json")
    assert year.exit_code == 0, year.output
    result = json.loads(year.output)
    assert result["published"]["version"] == 3 and result["previous"] == 2
    assert any(c.startswith("+ calendar = ") for c in result["changes"])
    history = json.loads(run("policy", "history", "--db", backend, "--format", "json").output)
    assert [(v["version"], v["current"]) for v in history["versions"]] == [
        (1, False), (2, False), (3, True)]
    assert history["versions"][1]["published_by"] == "clerk"
    diff = run("policy", "diff", "1", "3", "--db", backend)
    assert diff.exit_code == 0 and "~ known_until" in diff.output
    assert "+[[calendar.years]]" in diff.output


def test_refusals_change_nothing(backend: str, tmp_path: Path) -> None:
    before = tables(backend)
    same = tmp_path / "same.toml"
    same.write_text("# a copy\n" + shipped_policy_text(), "utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped_policy_text().replace("known_until = 2026-06-30",
                                                 "known_until = 2020-01-01"), "utf-8")
    refusals = [
        (["policy", "publish", str(same), "--note", "again"], "no change"),
        (["policy", "publish", str(bad), "--note", "bad"], "known_until"),
        (["policy", "publish", str(same)], "--note"),
        (["policy", "add-standard", "--from", "2025-07-01", "--amount", "1200",
          "--source", "s"], "--from"),
        (["policy", "add-standard", "--from", "2026-07-01", "--amount", "-5",
          "--source", "s"], "--amount"),
        (["policy", "add-calendar-year", "--year", "2027", "--holidays", "2027-01-02",
          "--source", "s"], "--holidays"),
        (["policy", "add-calendar-year", "--year", "2027", "--holidays", "2027-1-1x",
          "--source", "s"], "--holidays"),
    ]
    for args, said in refusals:
        result = run(*args, "--db", backend)
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output, (args, result.output)
    assert tables(backend) == before


def test_store_commands_take_no_policy_option(backend: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(shipped_policy_text(), "utf-8")
    for args in (["scheduler", "pending"], ["audit", "verify"], ["aid", "report"],
                 ["case", "list"]):
        result = run(*args, "--db", backend, "--policy", str(policy))
        assert result.exit_code == 2 and "No such option '--policy'" in result.output, args
        assert run(*args, "--db", backend).exit_code == 0, args


def test_not_covered_names_the_store_version_and_the_command(backend: str,
                                                             tmp_path: Path) -> None:
    application = Path(__file__).resolve().parents[1] / "examples" / "application.json"
    actor = "grassroots_union:" + json.loads(application.read_text("utf-8"))["grassroots_union"]
    db = ["--actor", actor, "--db", backend]
    assert run("case", "submit", str(application), "--case", "A", "--at", "2026-12-28T09:00",
               *db).exit_code == 0
    assert run("case", "fire", "A", "start_preliminary_review", "--at", "2026-12-28T10:00",
               *db).exit_code == 0
    refused = run("case", "fire", "A", "pass_preliminary_review", "--at", "2026-12-28T11:00",
                  *db)  # R-ELIGIBLE needs the standard of 2026-12-28
    assert refused.exit_code == 3, refused.output
    assert "policy version 1 (wx-2023-45)" in refused.output
    assert "jiekun policy add-standard --from 2026-07-01" in refused.output
    assert "policies/data" not in refused.output
