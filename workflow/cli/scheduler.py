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
    db_option,
    emit,
    open_engine,
    read_time,
    store_common,
)
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.policy_versions import WaitingTimer

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


def _waiting_text(waiting: list[WaitingTimer]) -> str:
    years = sorted({w.year for w in waiting})
    return (f"{len(waiting)} timer(s) waiting: calendar year {', '.join(map(str, years))} "
            "unknown; `jiekun policy add-calendar-year` publishes it")


def _echo_waiting(waiting: list[WaitingTimer]) -> None:
    click.echo(_waiting_text(waiting), err=True)


@scheduler.command("run")
@click.option("--heartbeat", default=60, show_default=True, help="seconds between checks")
@db_option
@store_common
def scheduler_run(heartbeat: int, db_url: str, fmt: str) -> None:
    """Fire timers as they fall due, until Ctrl-C (or SIGTERM) stops it cleanly; at every
    heartbeat, count on stderr the timers waiting for a calendar year."""
    engine = open_engine(db_url, fmt)
    service = SchedulerService(engine, heartbeat=timedelta(seconds=heartbeat),
                               on_fire=_echo_firing, on_waiting=_echo_waiting)

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
@store_common
def scheduler_catch_up(until: str, db_url: str, fmt: str) -> None:
    """With a simulated clock, fire in due order every timer due up to UNTIL, then exit;
    timers waiting for a calendar year are counted, not fired."""
    engine = open_engine(db_url, fmt)
    end = _until(until, fmt)
    firer = TimerFirer(engine)
    with engine.store.reads() as reads:
        first = reads.due_timers(end, 1)
    clock = SimulatedClock(first[0].due if first else end)
    fired = firer.catch_up(clock, end, None if fmt == "json" else _echo_firing)
    waiting = [w for w in firer.waiting() if w.earliest <= end]
    summary = {"until": end.isoformat(), "fired": sum(f.outcome == "fired" for f in fired),
               "blocked": sum(f.outcome == "blocked" for f in fired),
               "waiting": len(waiting),
               "firings": [_firing_json(f) for f in fired],
               "waiting_timers": [w.as_json() for w in waiting]}
    emit(fmt, summary, lambda s: f"{s['fired']} fired, {s['blocked']} blocked, "
                                 f"up to {s['until']}"
                                 + (f"; {_waiting_text(waiting)}" if waiting else ""))


@scheduler.command("pending")
@click.option("--until", "until", default=None, help=f"{TIME_HELP} (default: all)")
@click.option("--limit", default=1000, show_default=True)
@db_option
@store_common
def scheduler_pending(until: str | None, limit: int, db_url: str, fmt: str) -> None:
    """The timers that will fire, with their due times and the rule behind each; then those
    blocked by an open objection, and those waiting for a calendar year the store's policy
    does not know yet (`waiting: calendar year 2027 unknown`)."""
    engine = open_engine(db_url, fmt)
    end = _until(until, fmt)
    listed = [{**t, **{k: t[k].isoformat() for k in ("due", "earliest")
                       if t.get(k) is not None}}
              for t in engine.pending_timers(SYSTEM, end, limit=limit, blocked=True,
                                             waiting=True)]
    emit(fmt, {"until": None if until is None else end.isoformat(), "timers": listed},
         lambda out: "\n".join(_pending_line(t) for t in out["timers"]) or "(no timer due)")


def _pending_line(t: dict[str, Any]) -> str:
    if t["status"] == "waiting":
        return (f"{'(no due time)':<25}  {t['case']:<12} {t['timer']:<16} → {t['fires']:<24} "
                f"{t['rule']} (waiting: {t['waiting']}; not before {t['earliest']})")
    return (f"{t['due']}  {t['case']:<12} {t['timer']:<16} → {t['fires']:<24} {t['rule']} "
            f"({t['status']})")

