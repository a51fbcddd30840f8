"""The long-running scheduler: APScheduler 3.11 wakes the process, the timers table decides.

APScheduler holds two jobs only, in its in-memory store (its job stores must not be shared
between processes: workflow/DESIGN.md, APScheduler 3.11): a heartbeat, and a one-shot wake-up at
the next due timer.
Both run ``tick``, which fires every due row through the engine. Settings are explicit because
the defaults lose work: ``misfire_grace_time=None`` (a wake-up missed while the process was
busy or asleep still runs; the default of 1 s silently drops it), ``coalesce=True`` (several
missed runs of a job run once: a tick fires everything due anyway) and one worker thread, so
two ticks never overlap. Timers that fell due while nothing ran are simply due rows at the
next start, and fire then, in due order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from jiekun.policies.deadlines import SHANGHAI
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.workflow.clock import Clock, RealClock
from jiekun.workflow.engine import Engine
from jiekun.workflow.policy_versions import WaitingTimer

log = logging.getLogger(__name__)
JOB_DEFAULTS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True,
                                "max_instances": 1}


class SchedulerService:
    def __init__(self, engine: Engine, *, clock: Clock | None = None,
                 heartbeat: timedelta = timedelta(seconds=60), blocking: bool = True,
                 on_fire: Callable[[Firing], None] | None = None,
                 on_waiting: Callable[[list[WaitingTimer]], None] | None = None) -> None:
        self.firer = TimerFirer(engine)
        self.on_waiting = on_waiting
        self.engine = engine
        self.clock = clock or RealClock()
        self.heartbeat = heartbeat
        self.on_fire = on_fire
        self._tick_lock = threading.Lock()
        self._stopping = threading.Event()
        kind = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler: BaseScheduler = kind(
            timezone=SHANGHAI, job_defaults=JOB_DEFAULTS,
            executors={"default": ThreadPoolExecutor(max_workers=1)})

    def start(self) -> None:
        """Fire what fell due while nothing ran, then keep firing (blocks when ``blocking``)."""
        self.scheduler.add_job(self.tick, "interval", seconds=self.heartbeat.total_seconds(),
                               id="heartbeat", next_run_time=self.clock.now())
        self.scheduler.start()

    def stop(self) -> None:
        """Stop after the firing in progress (each firing is all-or-nothing). APScheduler's
        ``shutdown(wait=True)`` would wait for a running tick while holding the job-store lock
        that the tick's last step (scheduling its wake-up) needs: a deadlock. So: shut down
        without waiting, then wait for the tick here."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._tick_lock:
            pass

    def tick(self) -> list[Firing]:
        """Fire what is due, count the timers waiting for a calendar year (logged at every
        heartbeat until the operator publishes the year), and set the next wake-up."""
        with self._tick_lock:
            fired = self.firer.fire_due(self.clock, self.on_fire, self._stopping.is_set)
            self.report_waiting()
            if not self._stopping.is_set():
                self._wake_at_next_due()
        return fired

    def report_waiting(self) -> list[WaitingTimer]:
        """Log (WARNING) and hand to ``on_waiting`` the timers waiting for a calendar year."""
        waiting = self.firer.waiting()
        if waiting:
            years = sorted({w.year for w in waiting})
            log.warning("%d timer(s) waiting: calendar year %s unknown (cases %s); publish it "
                        "with `jiekun policy add-calendar-year`", len(waiting),
                        ", ".join(map(str, years)),
                        ", ".join(w.case_id for w in waiting[:10]))
            if self.on_waiting is not None:
                self.on_waiting(waiting)
        return waiting

    def _wake_at_next_due(self) -> None:
        with self.engine.store.reads() as reads:
            due: datetime | None = reads.next_due()
        if due is None:
            return
        run_at = max(due, self.clock.now())
        self.scheduler.add_job(self.tick, "date", run_date=run_at, id="wake",
                               replace_existing=True)
        log.debug("next timer due %s", run_at.isoformat())
