"""Timers waiting for a calendar year (issue 15), on SQLite and PostgreSQL: the issue's story.

Today (2026-11-29) the store's policy knows the 低保 until 2026-06-30 and chinesecalendar ends
with 2026. The operator adds the 2026 standard; a unit publicity starts on Mon 2026-12-28 and
runs into 2027. Its timer is listed as waiting (pending, the engine's read, the scheduler's
heartbeat), never fired, and a command on the case after its earliest possible due time is
E-POLICY; publishing 2027 dates it in the same transaction, at 2027-01-06 00:00 (12-29, 12-30,
12-31, [01-01 off], 01-04, 01-05), and it fires dated then. ``scheduler pending`` and
``catch-up`` agree at every step, and ``audit verify`` holds throughout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from click.testing import CliRunner
from store_cases import AUDITOR, CITY, SYSTEM, at, deep_application, resident_id, union

from jiekun.policies.errors import PolicyNotInForce
from jiekun.scheduler.service import SchedulerService
from jiekun.workflow.cli import main
from jiekun.workflow.engine import Engine

UNTIL = "2027-03-01T00:00:00+08:00"
DUE = "2027-01-06T00:00:00+08:00"


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def pending(url: str) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    """(case, due) of the timers ``pending`` says will fire by UNTIL, and (case, why) of those
    it says wait."""
    timers = cli("scheduler", "pending", "--until", UNTIL, "--db", url)["timers"]
    return ([(t["case"], t["due"]) for t in timers if t["status"] == "pending"],
            [(t["case"], t["waiting"]) for t in timers if t["status"] == "waiting"])


def catch_up(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    done = cli("scheduler", "catch-up", "--until", UNTIL, "--db", url)
    return ([(f["case"], f["at"]) for f in done["firings"] if f["outcome"] == "fired"],
            [(w["case"], w["waiting"]) for w in done["waiting_timers"]])


def audited(url: str) -> bool:
    return bool(cli("audit", "verify", "--db", url)["ok"])


def test_a_publicity_into_an_unknown_year_waits_then_fires_at_its_due_time(
        backend: str, caplog: pytest.LogCaptureFixture) -> None:
    added = CliRunner().invoke(main, ["policy", "add-standard", "--from", "2026-07-01",
                                      "--amount", "1200", "--source", "test", "--db", backend])
    assert added.exit_code == 0, added.output
    engine = Engine.open(backend)
    try:
        engine.submit("Z", deep_application(resident_id(5)), union(),
                      at("2026-12-28T09:00:00+08:00"))
        engine.fire("Z", "start_preliminary_review", union(), at("2026-12-28T10:00:00+08:00"))
        engine.fire("Z", "pass_preliminary_review", union(), at("2026-12-28T11:00:00+08:00"))
        waiting = [("Z", "calendar year 2027 unknown")]

        # 1. waiting: listed by pending and the engine's read, counted by catch-up and the
        # heartbeat, fired by nothing
        assert pending(backend) == ([], waiting)
        [read] = engine.pending_timers(AUDITOR, at(UNTIL), waiting=True)
        assert (read["status"], read["due"], read["earliest"]) == (
            "waiting", None, at("2027-01-02T11:00:00+08:00"))
        assert catch_up(backend) == ([], waiting)
        assert pending(backend) == ([], waiting)
        heard: list[int] = []
        service = SchedulerService(engine, blocking=False,
                                   on_waiting=lambda w: heard.append(len(w)))
        with caplog.at_level(logging.WARNING, logger="jiekun.scheduler.service"):
            service.tick()
            service.tick()
        assert heard == [1, 1]
        assert "1 timer(s) waiting: calendar year 2027 unknown" in caplog.text
        assert audited(backend)

        # 2. a command after the earliest possible due time (start + 5 days) is E-POLICY
        with pytest.raises(PolicyNotInForce) as refused:
            engine.fire("Z", "approve", CITY, at("2027-01-04T09:00:00+08:00"))
        assert "unit_publicity timer" in refused.value.message
        assert "add-calendar-year --year 2027" in refused.value.message
        assert [e.seq for e in engine.history("Z", AUDITOR)] == [1, 2, 3]

        # 3. the operator publishes 2027: the timer is dated in the same transaction
        published = CliRunner().invoke(main, [
            "policy", "add-calendar-year", "--year", "2027", "--holidays", "2027-01-01",
            "--workdays", "", "--source", "test", "--db", backend, "--format", "json"])
        assert published.exit_code == 0, published.output
        assert json.loads(published.output)["dated_timers"] == [
            {"case": "Z", "timer": "unit_publicity", "due": DUE}]
        assert pending(backend) == ([("Z", DUE)], [])
        assert audited(backend)

        # 4. catch-up fires what pending listed, dated at its due time, not at the horizon
        assert catch_up(backend) == ([("Z", DUE)], [])
        [ended] = [e for e in engine.history("Z", AUDITOR) if e.trigger == "unit_publicity_ended"]
        assert (ended.at, ended.actor) == (at(DUE), {"role": SYSTEM.role})
        assert pending(backend) == ([], [])
        assert audited(backend)
        # the running engine decides under the new version: approve goes through
        assert engine.fire("Z", "approve", CITY, at("2027-01-07T09:00:00+08:00")).seq == 5
    finally:
        engine.close()


def test_a_command_before_publication_fires_the_dated_timer_first(backend: str) -> None:
    """The time rule with a dated waiting timer: the case's next command, once 2027 is known,
    fires the publicity's end before it, dated at its due time."""
    for args in (["policy", "add-standard", "--from", "2026-07-01", "--amount", "1200",
                  "--source", "t"],):
        assert CliRunner().invoke(main, [*args, "--db", backend]).exit_code == 0
    with Engine.open(backend) as engine:
        engine.submit("Y", deep_application(resident_id(6)), union(),
                      at("2026-12-28T09:00:00+08:00"))
        engine.fire("Y", "start_preliminary_review", union(), at("2026-12-28T10:00:00+08:00"))
        engine.fire("Y", "pass_preliminary_review", union(), at("2026-12-28T11:00:00+08:00"))
        done = CliRunner().invoke(main, [
            "policy", "add-calendar-year", "--year", "2027", "--holidays", "2027-01-01",
            "--source", "t", "--db", backend])
        assert done.exit_code == 0, done.output
        assert "timer of Y (unit_publicity) was waiting for its calendar year" in done.output
        engine.fire("Y", "approve", CITY, at("2027-01-08T09:00:00+08:00"))
        triggers = [(e.trigger, e.at) for e in engine.history("Y", AUDITOR)][-2:]
        assert triggers == [("unit_publicity_ended", at(DUE)),
                            ("approve", at("2027-01-08T09:00:00+08:00"))]
