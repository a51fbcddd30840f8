"""``jiekun report year`` on a store built from the worked cases (tests/cases/histories) plus
aid granted to C-1. Every expected figure is read off the histories by hand:

- C-1 (01): deep, ``wuxi-city``, archived 2024-01-25 00:10; its re-check falls due 2025-01-25,
  after the grants below, so it is on file all through 2025 as far as the store knows.
  Grants added here (illustrative tables, policies/data/illustrative-aid-tiers.toml):
  2024-12-20 living tier 1, 1500 (period 2024-12: year 2024); 2025-01-10 living tier 1, 1800;
  2025-01-12 medical tier 2, 3000, self-paid 5000 declared for 2025; 2025-01-15 medical tier 2,
  2000 (the year's medical total 5000 = the declared 5000: at the cap).
- C-6 (05): relative, ``xinwu``, archived 2024-03-21, re-check 2024-09-21, phase-out
  2024-09-23, exited 2024-12-24.
- C-7 (06): relative, ``xinwu``, archived 2024-03-21, re-check 2024-09-21; its phase-out of 7
  months is refused: under re-check ever since.
- C-8 (07): relative, ``xinwu``, archived 2024-03-21, re-check 2024-09-21, phase-out
  2024-09-23, ends 2025-03-23, refused, verified, exited 2025-04-03.
- C-2 … C-5 never reach the archive.

2025: wuxi-city/deep on file 1 → 1, living 1 household 1 grant 1800, medical 1 household 2
grants 5000, 1 household at the cap; xinwu/relative on file 2 (C-7, C-8) → 1 (C-7), 1 exited.
2024: wuxi-city/deep entered 1, on file 0 → 1; xinwu/relative entered 3, re-checked 3,
phase-out 2 (C-6, C-8), exited 1 (C-6), on file 0 → 2 (C-7 under re-check, C-8 in phase-out).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.aid_merge import with_tier_tables
from jiekun.policies.policy_file import load_policy
from jiekun.workflow.engine import Engine
from jiekun.workflow.transfer import import_history
from jiekun.workflow.year_report import year_report

REPO = Path(__file__).parents[2]
HISTORIES = REPO / "tests" / "cases" / "histories"
ILLUSTRATIVE = REPO / "policies" / "data" / "illustrative-aid-tiers.toml"
SHOTS = Path("/tmp/handbook-shots")


def _grant(at: str, data: dict[str, Any]) -> str:
    return json.dumps({"case": "C-1", "at": at, "event": "grant_aid",
                      "actor": {"role": "federation", "org": "wuxi-city"}, "data": data})


GRANTS = [
    _grant("2024-12-20T10:00:00+08:00", {"item": "living", "tier": "1", "amount": "1500",
                                         "period": "2024-12"}),
    _grant("2025-01-10T10:00:00+08:00", {"item": "living", "tier": "1", "amount": "1800",
                                         "period": "2025-01"}),
    _grant("2025-01-12T10:00:00+08:00", {"item": "medical", "tier": "2", "amount": "3000",
                                         "period": "2025", "self_paid_medical_total": "5000"}),
    _grant("2025-01-15T10:00:00+08:00", {"item": "medical", "tier": "2", "amount": "2000",
                                         "period": "2025"}),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('year') / 'year.db'}"
    policy = with_tier_tables(load_policy(), ILLUSTRATIVE, "+illustrative-aid")
    with Engine.open(url, upgrade=True, policy=policy) as engine:
        for history in sorted(HISTORIES.glob("*.jsonl")):
            lines = history.read_text("utf-8").splitlines()
            if history.name.startswith("01-"):
                lines += GRANTS
            import_history(engine, lines)
    return url


def _group(report: dict[str, Any], body: str, category: str) -> dict[str, Any]:
    found = [g for g in report["groups"] if (g["reviewing_body"], g["category"]) == (
        body, category)]
    assert len(found) == 1, report["groups"]
    return found[0]


def _aid(group: dict[str, Any], item: str) -> dict[str, Any]:
    return next(a for a in group["aid"] if a["item"] == item)


def test_2025_per_body_and_category(store: str) -> None:
    with Engine.open(store) as engine:
        report = year_report(engine, 2025)
    city = _group(report, "wuxi-city", "deep")
    assert {m: city[m] for m in ("households_start", "households_end", "entered", "exited",
                                 "rechecked", "phase_out", "re_entered", "cancelled")} == {
        "households_start": 1, "households_end": 1, "entered": 0, "exited": 0,
        "rechecked": 0, "phase_out": 0, "re_entered": 0, "cancelled": 0}
    assert _aid(city, "living") == {"item": "living", "item_zh": "生活救助", "households": 1,
                                    "grants": 1, "yuan": "1800", "illustrative": True}
    medical = _aid(city, "medical")
    assert (medical["households"], medical["grants"], medical["yuan"]) == (1, 2, "5000")
    # items with no grant are listed too; training is not paid from a tier table
    assert _aid(city, "education")["grants"] == 0 and _aid(city, "education")["illustrative"]
    assert _aid(city, "training") == {"item": "training", "item_zh": "职业培训",
                                      "households": 0, "grants": 0, "yuan": "0",
                                      "illustrative": False}
    cap = city["medical_cap"]
    assert (cap["households_declared"], cap["self_paid_declared"], cap["medical_granted"],
            cap["households_at_cap"]) == (1, "5000", "5000", 1)
    xinwu = _group(report, "xinwu", "relative")
    assert (xinwu["households_start"], xinwu["households_end"], xinwu["exited"],
            xinwu["entered"], xinwu["phase_out"]) == (2, 1, 1, 0, 0)
    assert sum(a["grants"] for a in xinwu["aid"]) == 0


def test_2024_flows(store: str) -> None:
    with Engine.open(store) as engine:
        report = year_report(engine, 2024)
    city = _group(report, "wuxi-city", "deep")
    assert (city["entered"], city["households_start"], city["households_end"]) == (1, 0, 1)
    assert (_aid(city, "living")["grants"], _aid(city, "living")["yuan"]) == (1, "1500")
    xinwu = _group(report, "xinwu", "relative")
    assert {m: xinwu[m] for m in ("entered", "rechecked", "phase_out", "exited",
                                  "households_start", "households_end")} == {
        "entered": 3, "rechecked": 3, "phase_out": 2, "exited": 1, "households_start": 0,
        "households_end": 2}


def test_body_filter_and_csv_marks_illustrative_lines(store: str) -> None:
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "report", "year",
                          "--year", "2025", "--body", "wuxi-city", "--format", "csv",
                          "--db", store], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    table = list(csv.DictReader(io.StringIO(run.stdout)))
    assert {r["reviewing_body"] for r in table} == {"wuxi-city"}
    living = next(r for r in table if r["section"] == "aid" and r["measure"] == "living")
    assert (living["households"], living["grants"], living["yuan"], living["note"]) == (
        "1", "1", "1800", "illustrative")
    # every line showing an amount from an illustrative table says so
    for row in table:
        if row["section"] == "aid" and row["measure"] in ("living", "education", "medical"):
            assert row["note"] == "illustrative", row
        if row["section"] == "aid" and row["measure"] == "legal_aid":
            assert row["note"] == "", row


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice Calc: `make setup`")
def test_xlsx_opens_in_libreoffice_with_the_figures(store: str, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    xlsx = tmp_path / "report-2025.xlsx"
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "report", "year",
                          "--year", "2025", "--format", "xlsx", "-o", str(xlsx), "--db", store],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    profile = tmp_path / "lo-profile"
    converted = subprocess.run(
        ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path),
         str(xlsx)], capture_output=True, text=True, timeout=240)
    assert converted.returncode == 0, converted.stderr
    table = list(csv.reader(io.StringIO((tmp_path / "report-2025.csv").read_text("utf-8"))))
    assert table[0][:3] == ["年度", "审核单位", "类别"]
    medical = next(r for r in table if r[1] == "wuxi-city" and r[4] == "医疗救助 medical")
    assert medical[5:9] == ["1", "2", "5000", "illustrative 示例数据"]
    exited = next(r for r in table if r[1] == "xinwu" and r[4].endswith(" exited"))
    assert exited[5] == "1"
    pdf = subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}",
                          "--headless", "--convert-to", "pdf", "--outdir", str(SHOTS),
                          str(xlsx)], capture_output=True, text=True, timeout=240)
    assert pdf.returncode == 0, pdf.stderr
    assert (SHOTS / "report-2025.pdf").stat().st_size > 1000
