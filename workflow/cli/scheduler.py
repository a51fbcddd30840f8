"""``jiekun scheduler run | catch-up --until DATETIME | pending [--until DATETIME]``: the
timers of the store fired as they fall due, caught up on a simulated clock, or listed."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import click

from jiekun.policies.authorization import SYSTEM
from jiekun.policies.deadlines import SHANGHAI
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.scheduler.service import SchedulerService
from jiekun.workflow.cli.common import (
    TIME_HELP,
    common,
    db_option,
    emit,
    open_engine,
    read_time,
)
from jiekun.workflow.clock import SimulatedClock

_FAR = datetime(9999, 1, 1, tzinfo=SHANGHAI)


def _until(text: str | None, fmt: str) -> datetime:
    return _FAR if text is None else read_time(text, "--until", fmt)


def _firing_json(firing: Firing) -> dict[str, Any]:
    return {"case": firing.timer.case_id, "timer": firing.timer.kind,
            "trigger": firing.trigger, "due": firing.timer.due.isoformat(),
            "at": firing.at.isoformat(), "outcome": firing.outcome, "detail": firing.detail}


def _echo_firing(firing: Firing) -> None:
    click.echo(f"{firing.at.isoformat()}  {firing.timer.case_id:<12} {firing.trigger:<24} "
               f"{firing.outcome} {firing.detail}")


@click.group()
def scheduler() -> None:
    """The timers: publicity, re-checks, phase-out, exit publicity, retention."""


@scheduler.command("run")
@click.option("--heartbeat", default=60, show_default=True, help="seconds between checks")
@db_option
@common
def scheduler_run(heartbeat: int, db_url: str, fmt: str, policy_file: str | None) -> None:
    """Fire timers as they fall due, until Ctrl-C (or SIGTERM) stops it cleanly."""
    engine = open_engine(db_url, policy_file, fmt)
    service = SchedulerService(engine, heartbeat=timedelta(seconds=heartbeat),
                               on_fire=_echo_firing)

    def _stop(_signal: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    click.echo("scheduler running; Ctrl-C stops it", err=True)
    try:
        service.start()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        click.echo("scheduler stopped", err=True)


@scheduler.command("catch-up")
@click.option("--until", "until", required=True, help=TIME_HELP)
@db_option
@common
def scheduler_catch_up(until: str, db_url: str, fmt: str, policy_file: str | None) -> None:
    """With a simulated clock, fire in due order every timer due up to UNTIL, then exit."""
    engine = open_engine(db_url, policy_file, fmt)
    end = _until(until, fmt)
    firer = TimerFirer(engine)
    with engine.store.reads() as reads:
        first = reads.due_timers(end, 1)
    clock = SimulatedClock(first[0].due if first else end)
    fired = firer.catch_up(clock, end, None if fmt == "json" else _echo_firing)
    summary = {"until": end.isoformat(), "fired": sum(f.outcome == "fired" for f in fired),
               "blocked": sum(f.outcome == "blocked" for f in fired),
               "firings": [_firing_json(f) for f in fired]}
    emit(fmt, summary, lambda s: f"{s['fired']} fired, {s['blocked']} blocked, "
                                 f"up to {s['until']}")


@scheduler.command("pending")
@click.option("--until", "until", default=None, help=f"{TIME_HELP} (default: all)")
@click.option("--limit", default=1000, show_default=True)
@db_option
@common
def scheduler_pending(until: str | None, limit: int, db_url: str, fmt: str,
                      policy_file: str | None) -> None:
    """The timers that will fire, with their due times and the rule behind each."""
    engine = open_engine(db_url, policy_file, fmt)
    end = _until(until, fmt)
    listed = [{**t, "due": t["due"].isoformat()}
              for t in engine.pending_timers(SYSTEM, end, limit=limit, blocked=True)]
    emit(fmt, {"until": None if until is None else end.isoformat(), "timers": listed},
         lambda out: "\n".join(f"{t['due']}  {t['case']:<12} {t['timer']:<16} → "
                               f"{t['fires']:<24} {t['rule']} ({t['status']})"
                               for t in out["timers"]) or "(no timer due)")

