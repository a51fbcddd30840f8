"""Regressions: a publicity armed while its calendar year was unknown fires once the operator
adds the year; the demo's export replays under the policy file the demo writes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

from click.testing import CliRunner
from store_cases import at, deep_application, resident_id, union

from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.policy_toml import with_calendar_year, with_living_standard
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.cli import main
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.engine import Engine
from jiekun.workflow.policy_versions import publish

ROOT = Path(__file__).resolve().parents[2]


def test_publicity_into_an_unknown_calendar_year_fires_once_the_year_is_added(
        tmp_path: Path, open_engine: Callable[[str], Engine]) -> None:
    text = resources.files("jiekun.policies").joinpath("data", "wx-2023-45.toml").read_text("utf-8")
    without_2027 = with_living_standard(text, date(2026, 7, 1), Decimal("1200"), "test")
    with_2027 = with_calendar_year(without_2027, 2027, [date(2027, 1, 1)], [], "test")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(make_engine(url))
    first = open_engine(url)
    publish(first.store, without_2027, by="test", at=at("2026-11-29T09:00:00+08:00"))
    first.submit("Z", deep_application(resident_id(5)), union(), at("2026-12-28T09:00:00+08:00"))
    first.fire("Z", "start_preliminary_review", union(), at("2026-12-28T10:00:00+08:00"))
    first.fire("Z", "pass_preliminary_review", union(), at("2026-12-28T11:00:00+08:00"))
    # Working days after Mon 2026-12-28: 12-29, 12-30, 12-31, [01-01 off], 01-04, 01-05
    # → elapsed from 2027-01-06 00:00. The running engine picks the new version up.
    publish(first.store, with_2027, by="test", at=at("2026-12-28T12:00:00+08:00"))
    fired = TimerFirer(first).catch_up(SimulatedClock(at("2026-12-28T12:00:00+08:00")),
                                       at("2027-03-01T00:00:00+08:00"))
    assert [(f.trigger, f.at.isoformat()) for f in fired] == [
        ("unit_publicity_ended", "2027-01-06T00:00:00+08:00")]


def test_demo_export_replays_under_the_policy_file_it_writes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "demo",
                           "--households", "150", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    result = CliRunner().invoke(main, ["replay", str(out / "history.jsonl"), "--policy",
                                       str(out / "policy.toml"), "--format", "json"])
    assert json.loads(result.output)["violations"] == 0
    assert result.exit_code == 0
