"""The child process of the crash-consistency harness (crash_harness.py, issue 8 item 1).

``python -m tests.store.crash_child --url URL --log FILE --seed N`` opens the durable engine
on URL and runs, until it is killed, a stream of commands that is deterministic by seed given
the store's state: submissions of new cases, their lifecycle steps by the right actors,
deliberately refused commands (a trigger the state does not allow, an intruder as actor, a
timer fired before it is due, a second open case for one applicant), repeats of commands
already acknowledged (same idempotency key: the stored event comes back, nothing is added),
and scheduler catch-ups on a ``SimulatedClock`` that fire the cases' timers.

The log file (JSON lines) is the child's own durable record, read back at each start:

- ``{"type": "intent", "step": k, ...}`` written (one ``write``) before step k starts: the
  whole command, so that it can be sent again exactly;
- ``{"type": "ack", "step": k, ...}`` written and fsynced once the call returned, before
  step k + 1 starts: case, trigger, idempotency key, outcome (``event`` with its seq, or
  ``refused`` with the rule); a catch-up acknowledges each firing (``op: fire``) once its
  transaction committed, then itself (``op: catch_up``, ``outcome: done``).

A restart continues from the store: the step in flight when the child was killed (an intent
without its final ack) is sent again first, with the same idempotency key (so it records at
most one event), and the stream goes on from the cases' stored states. The child prints
``running`` on stdout once its engine is open.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from jiekun.persistence.chain import from_utc_text, utc_text
from jiekun.persistence.schema import cases, events, timers
from jiekun.policies.authorization import SYSTEM, Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import JiekunError
from jiekun.policies.resident_id import check_character
from jiekun.scheduler.firing import Firing, TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Command, Event
from tests.store.store_cases import deep_application, relative_application

WINDOW = 6  # cases in progress at a time
FIRST_BASE = datetime(2024, 1, 8, 9, 0, tzinfo=SHANGHAI)
CLOCK_START = datetime(2024, 1, 1, tzinfo=SHANGHAI)
UNION_ORG = "gu-crash-001"
INTRUDER = Actor("grassroots_union", org="gu-intruder")
DONE_STATES = frozenset({"rejected", "withdrawn", "exited", "cancelled", "purged"})
TIMER_TRIGGERS = {"unit_publicity": "unit_publicity_ended",
                  "media_publicity": "media_publicity_ended", "recheck": "recheck_due",
                  "phase_out": "phase_out_ended", "exit_publicity": "exit_publicity_ended",
                  "retention": "retention_expired"}
# Triggers for the "not allowed in this state" probe (one of them is never allowed).
ODD_TRIGGERS = ("approve", "start_preliminary_review", "confirm_exit", "reject_upper",
                "media_publicity_ended")


def case_id_of(index: int) -> str:
    return f"C{index:05d}"


def index_of(case_id: str) -> int | None:
    if case_id[:1] == "C" and case_id[1:].isdigit():
        return int(case_id[1:])
    return None


def applicant_of(index: int) -> str:
    """A valid id number, distinct for each index (birth day and sequence number)."""
    born = datetime(1960, 1, 1) + timedelta(days=index // 1000)
    first17 = f"320211{born:%Y%m%d}{index % 1000:03d}"
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Plan:
    """The path a case follows, fixed by the seed and its index."""

    index: int
    relative: bool
    path: str  # archive, reject, withdraw
    amend: bool
    supplement: bool
    objection: str | None  # None, dismissed, blocked (the timer is refused first)
    after: str  # none, recheck, exit (after archiving)

    @property
    def case_id(self) -> str:
        return case_id_of(self.index)

    @property
    def applicant(self) -> str:
        return applicant_of(self.index)

    @property
    def base(self) -> datetime:
        # spread over 2024-01 .. 2024-09, so that rechecks and phase-outs end before the
        # policy's known_until (2026-06-30)
        return FIRST_BASE + timedelta(days=(self.index * 5) % 240, minutes=self.index % 50)

    @property
    def union(self) -> Actor:
        return Actor("grassroots_union", org=UNION_ORG)

    @property
    def federation(self) -> Actor:
        return Actor("federation", org="xinwu" if self.relative else "wuxi-city")

    @property
    def worker(self) -> Actor:
        return Actor("worker", id_number=self.applicant)


def plan_of(seed: int, index: int) -> Plan:
    rng = random.Random(f"{seed}:plan:{index}")
    relative = rng.random() < 0.5
    path = rng.choices(["archive", "reject", "withdraw"], [0.7, 0.15, 0.15])[0]
    amend, supplement = rng.random() < 0.25, rng.random() < 0.25
    objection = (rng.choices([None, "dismissed", "blocked"], [0.55, 0.2, 0.25])[0]
                 if path == "archive" else None)
    after = rng.choices(["none", "recheck", "exit"], [0.4, 0.35, 0.25])[0]
    return Plan(index, relative, path, amend, supplement, objection,
                after if path == "archive" else "none")


def application(plan: Plan, amended: bool = False) -> dict[str, Any]:
    """History 01's deep household (wuxi-city) or history 05's relative one (xinwu)."""
    make = relative_application if plan.relative else deep_application
    app = make(plan.applicant, UNION_ORG)
    if amended:
        app["applicant"]["phone"] = "13900000002"
    return app


def improved_household(plan: Plan) -> dict[str, Any]:
    # out of hardship: each member earns five times the highest standard (1167 × 12 × 5)
    return {"members": [{"name": "成员0", "relation": "self", "annual_income": "70020"},
                        {"name": "成员1", "relation": "spouse", "annual_income": "70020"}],
            "rigid_expenses": []}


def data_of(ref: Any, plan: Plan) -> dict[str, Any]:
    """The data of a command as its intent line names it (applications by reference)."""
    if ref == "application":
        return application(plan)
    if ref == "amended":
        return application(plan, amended=True)
    if ref == "same_household":
        return {"household": application(plan)["household"], "accident": None}
    if ref == "improved":
        return {"household": improved_household(plan), "accident": None, "months": 3,
                "contact_person": "社工李某"}
    assert isinstance(ref, dict)
    return ref


def actor_json(actor: Actor) -> dict[str, str]:
    return actor.as_json()


def actor_of(value: dict[str, str]) -> Actor:
    return Actor(value["role"], value.get("org"), value.get("id_number"))


class Log:
    """The intent/ack log (JSON lines), appended with one ``write`` per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = path.read_bytes() if path.exists() else b""
        if raw and not raw.endswith(b"\n"):  # a line torn by the kill: drop it
            raw = raw[:raw.rfind(b"\n") + 1]
            with path.open("r+b") as file:
                file.truncate(len(raw))
        self.lines: list[dict[str, Any]] = [json.loads(x) for x in raw.splitlines() if x]
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: dict[str, Any], sync: bool) -> None:
        os.write(self.fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())
        if sync:
            os.fsync(self.fd)
        self.lines.append(line)


def in_flight(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last intent without its final ack (the step the kill interrupted), if any."""
    finals = {x["step"] for x in lines if x["type"] == "ack" and x["op"] != "fire"}
    intents = [x for x in lines if x["type"] == "intent"]
    if intents and intents[-1]["step"] not in finals:
        return intents[-1]
    return None


class Driver:
    def __init__(self, engine: Engine, log: Log, seed: int) -> None:
        self.engine = engine
        self.log = log
        self.seed = seed
        self.firer = TimerFirer(engine, page=50)
        self.step = 1 + max((x["step"] for x in log.lines), default=0)
        intents = {x["step"]: x for x in log.lines if x["type"] == "intent"}
        # commands acknowledged with an event, that a repeat may send again
        self.repeatable = [{**intents[x["step"]], "seq": x["seq"]} for x in log.lines
                           if x["type"] == "ack" and x["op"] == "cmd" and x["outcome"] == "event"
                           and intents.get(x["step"], {}).get("expect") == "event"]
        self.committed: dict[str, Event] = {}
        engine.subscribe(self._heard)
        self.active: list[int] = []
        self.next_index = 0
        self._load_active()

    # The cases in progress, from the store -------------------------------------------------

    def _load_active(self) -> None:
        """The first WINDOW cases (by index) not done yet; from their states and one query
        of the rechecks done (not a case load each: the store holds thousands of cases)."""
        with self.engine.store.reading() as connection:
            rows = connection.execute(select(cases.c.case_id, cases.c.state)).all()
            rechecked = {str(r[0]) for r in connection.execute(select(events.c.case_id).where(
                events.c.trigger.in_(("confirm_eligibility", "start_phase_out"))))}
        states = {i: r.state for r in rows if (i := index_of(r.case_id)) is not None}
        self.next_index = 1 + max(states, default=-1)
        for index in sorted(states):
            if len(self.active) >= WINDOW:
                break
            plan, state = plan_of(self.seed, index), states[index]
            done = state in DONE_STATES or (
                state in ("archived", "under_recheck") and (
                    plan.after == "none" or (plan.after == "recheck"
                                             and plan.case_id in rechecked)))
            if not done:
                self.active.append(index)

    def _history(self, case_id: str) -> list[str]:
        with self.engine.store.reading() as connection:
            rows = connection.execute(select(events.c.trigger).where(
                events.c.case_id == case_id).order_by(events.c.seq))
            return [str(r[0]) for r in rows]

    def _timer_status(self, case_id: str) -> str | None:
        with self.engine.store.reading() as connection:
            return connection.execute(select(timers.c.status).where(
                timers.c.case_id == case_id)).scalar()

    def _done(self, index: int) -> bool:
        return self._next(plan_of(self.seed, index))[0] == "done"

    def _next(self, plan: Plan) -> tuple[str, Any]:
        """What the case needs next: ("done", None), ("wait", due) for its timer, or
        ("cmd", (trigger, actor, at, data reference))."""
        case = self.engine.stored_case(plan.case_id)
        if case is None:
            return "cmd", ("submit", plan.union, plan.base, "application")
        state, last = case.state, case.last_at
        assert state is not None and last is not None
        if state in DONE_STATES:
            return "done", None
        hour = timedelta(hours=1)
        history = self._history(plan.case_id)

        def cmd(trigger: str, actor: Actor, data: Any = None, delta: timedelta = hour
                ) -> tuple[str, Any]:
            assert last is not None
            return "cmd", (trigger, actor, last + delta, {} if data is None else data)

        if state == "submitted":
            if plan.amend and "amend_application" not in history:
                return cmd("amend_application", plan.worker, "amended")
            return cmd("start_preliminary_review", plan.union, delta=timedelta(days=1))
        if state == "preliminary_review":
            if plan.path == "reject":
                return cmd("reject_preliminary", plan.union, {"reason": "家庭收入超过认定标准"})
            if plan.supplement and "request_supplement" not in history:
                return cmd("request_supplement", plan.union, {"reason": "材料不全"})
            return cmd("pass_preliminary_review", plan.union)
        if state == "unit_publicity":
            timer = case.timers[0]
            assert timer.due is not None
            if case.objections_open:
                blocked = self._timer_status(plan.case_id) == "blocked"
                if plan.objection == "blocked" and not blocked:
                    return "wait", timer.due  # the firing is refused: the timer is blocked
                when = max(last, timer.due) + hour if blocked else last + hour
                return "cmd", ("dismiss_objection", plan.union, when,
                               {"objection_id": "O-1", "reason": "经核实不属实"})
            if plan.objection and not case.objections_used:
                return cmd("raise_objection", plan.union,
                           {"objection_id": "O-1", "summary": "群众反映情况待核实"})
            if plan.path == "withdraw":
                return cmd("withdraw", plan.worker)
            return "wait", timer.due
        if state == "upper_review":
            return cmd("approve", plan.federation, delta=timedelta(hours=33))
        if state in ("media_publicity", "phase_out"):
            assert case.timers[0].due is not None
            return "wait", case.timers[0].due
        if state == "archived":
            if plan.after == "none" or {"confirm_eligibility", "start_phase_out"} & set(history):
                return "done", None
            assert case.timers[0].due is not None
            return "wait", case.timers[0].due
        if state == "under_recheck":
            if plan.after == "recheck" and "confirm_eligibility" not in history:
                return cmd("confirm_eligibility", plan.federation, "same_household",
                           delta=timedelta(days=3, hours=9))
            if plan.after == "exit":
                return cmd("start_phase_out", plan.federation, "improved",
                           delta=timedelta(days=3, hours=9))
            return "done", None  # a recheck timer of a case whose plan ended at archived
        if state == "exit_pending":
            who = plan.worker if "worker" not in case.confirmations else plan.union
            return cmd("confirm_exit", who, delta=timedelta(days=1, hours=9))
        return "done", None

    # Running -------------------------------------------------------------------------------

    def _heard(self, event: Event) -> None:
        self.committed[event.case_id] = event

    def recover(self) -> None:
        """Send the step the kill interrupted again, under its own step number."""
        pending = in_flight(self.log.lines)
        if pending is None:
            return
        if pending["op"] == "cmd":
            self._send(pending, recovered=True)
        else:
            self._catch_up(pending["step"], pending["case"], from_utc_text(pending["due"]),
                           recovered=True)

    def run(self, steps: int | None = None) -> None:
        done = 0
        while steps is None or done < steps:
            self.one_step()
            done += 1

    def one_step(self) -> None:
        step = self.step
        self.step += 1
        rng = random.Random(f"{self.seed}:step:{step}")
        roll = rng.random()
        if roll < 0.05 and self.repeatable:
            self._repeat(step, rng)
            return
        plan = self._pick(rng)
        kind, what = self._next(plan)
        if roll < 0.18 and self._probe(step, rng, plan, kind, what):
            return
        if kind == "wait":
            self._catch_up(step, plan.case_id, what)
            return
        trigger, actor, at, data = what
        self._send({"type": "intent", "step": step, "op": "cmd", "case": plan.case_id,
                    "trigger": trigger, "actor": actor_json(actor), "at": at.isoformat(),
                    "data": data, "key": f"s{self.seed}-{step}", "expect": "event",
                    "probe": None})

    def _pick(self, rng: random.Random) -> Plan:
        """A case in progress (a new one when fewer than WINDOW are)."""
        while True:
            while len(self.active) < WINDOW:
                self.active.append(self.next_index)
                self.next_index += 1
            index = rng.choice(self.active)
            if not self._done(index):
                return plan_of(self.seed, index)
            self.active.remove(index)

    def _probe(self, step: int, rng: random.Random, plan: Plan, kind: str, what: Any) -> bool:
        """A command that must be refused; False when none fits the case now."""
        case = self.engine.stored_case(plan.case_id)
        if case is None or case.state is None or case.last_at is None:
            return False
        last = case.last_at
        choice = rng.choice(["transition", "actor", "early", "duplicate"])
        intent: dict[str, Any] = {"type": "intent", "step": step, "op": "cmd",
                                  "key": f"s{self.seed}-{step}", "expect": "refused",
                                  "probe": choice}
        probe_at = last + timedelta(minutes=5)
        timer_due = bool(case.timers) and (case.timers[0].due is None
                                           or case.timers[0].due <= probe_at)
        if choice == "transition" and not timer_due:
            # (a timer due by then would fire first, and could make the trigger allowed)
            allowed = set(self.engine.decider.lifecycle.triggers_from(case.state))
            trigger = next(t for t in ODD_TRIGGERS if t not in allowed)
            intent.update(case=plan.case_id, trigger=trigger, actor=actor_json(plan.federation),
                          at=(last + timedelta(minutes=5)).isoformat(), data={})
        elif choice == "actor" and kind == "cmd" and what[0] != "submit":
            trigger, _, at, data = what
            intent.update(case=plan.case_id, trigger=trigger, actor=actor_json(INTRUDER),
                          at=at.isoformat(), data=data)
        elif choice == "early" and case.timers and case.timers[0].due is not None and (
                case.timers[0].due > last + timedelta(minutes=5)):
            trigger = TIMER_TRIGGERS[case.timers[0].kind.value]
            intent.update(case=plan.case_id, trigger=trigger, actor=actor_json(SYSTEM),
                          at=(last + timedelta(minutes=5)).isoformat(), data={})
        elif choice == "duplicate":
            # a second case for an applicant whose case is open: R-ONE-OPEN-CASE
            intent.update(case=f"D{step:07d}", trigger="submit", actor=actor_json(plan.union),
                          at=(last + timedelta(minutes=5)).isoformat(),
                          data="application", applicant_index=plan.index)
        else:
            return False
        self._send(intent)
        return True

    def _repeat(self, step: int, rng: random.Random) -> None:
        original = dict(rng.choice(self.repeatable))
        seq = original.pop("seq")
        self._send({**original, "step": step, "expect": "repeat", "repeat_of": original["step"],
                    "repeat_seq": seq})

    def _send(self, intent: dict[str, Any], recovered: bool = False) -> None:
        if not recovered:
            self.log.write(intent, sync=False)
        index = intent.get("applicant_index", index_of(intent["case"]))
        plan = plan_of(self.seed, index if index is not None else 0)
        command = Command(intent["case"], intent["trigger"], actor_of(intent["actor"]),
                          datetime.fromisoformat(intent["at"]), data_of(intent["data"], plan),
                          intent["key"])
        ack: dict[str, Any] = {"type": "ack", "step": intent["step"], "op": "cmd",
                               "case": intent["case"], "trigger": intent["trigger"],
                               "key": intent["key"], "recovered": recovered}
        try:
            event = self.engine.execute(command)
        except JiekunError as refusal:
            ack.update(outcome="refused", seq=None, rule=refusal.rule,
                       message=str(refusal)[:300])
        else:
            ack.update(outcome="event", seq=event.seq, rule=None)
        self.log.write(ack, sync=True)
        if ack["outcome"] == "event" and intent["expect"] == "event":
            self.repeatable.append({**intent, "seq": ack["seq"]})

    def _catch_up(self, step: int, case_id: str, due: datetime, recovered: bool = False
                  ) -> None:
        """Fire every timer due by ``due`` (the waiting case's), on a simulated clock."""
        if not recovered:
            self.log.write({"type": "intent", "step": step, "op": "catch_up", "case": case_id,
                            "due": utc_text(due)}, sync=False)
        start, until = self._clock_window(due)
        self.committed.clear()
        fired = 0

        def heard(firing: Firing) -> None:
            nonlocal fired
            timer = firing.timer
            event = self.committed.pop(timer.case_id, None) if firing.outcome == "fired" else None
            fired += firing.outcome == "fired"
            self.log.write({"type": "ack", "step": step, "op": "fire", "case": timer.case_id,
                            "trigger": firing.trigger, "outcome": firing.outcome,
                            "key": f"timer:{timer.case_id}:{timer.armed_seq}:{timer.kind}",
                            "armed_seq": timer.armed_seq, "kind": timer.kind,
                            "seq": None if event is None else event.seq,
                            "detail": firing.detail[:200]}, sync=True)

        self.firer.catch_up(SimulatedClock(start), until, on_fire=heard)
        self.log.write({"type": "ack", "step": step, "op": "catch_up", "case": case_id,
                        "outcome": "done", "fired": fired, "until": utc_text(until),
                        "recovered": recovered}, sync=True)

    def _clock_window(self, due: datetime) -> tuple[datetime, datetime]:
        """(clock start, until): timers fire at their due time, except a timer whose case has
        an event after its due (one re-armed by a dismissal after it was blocked): then every
        firing is after that event, so that no case's time goes backwards."""
        with self.engine.store.reading() as connection:
            latest = connection.execute(
                select(func.max(cases.c.updated_at)).select_from(
                    timers.join(cases, cases.c.case_id == timers.c.case_id))
                .where(timers.c.status == "pending", timers.c.due <= utc_text(due),
                       timers.c.due <= cases.c.updated_at)).scalar()
        if latest is None:
            return CLOCK_START, due
        start = from_utc_text(latest).astimezone(SHANGHAI) + timedelta(minutes=1)
        return start, max(due, start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_child")
    parser.add_argument("--url", required=True)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many")
    args = parser.parse_args(argv)
    log = Log(args.log)
    engine = Engine.open(args.url, decider=Decider())
    print("running", flush=True)
    driver = Driver(engine, log, args.seed)
    driver.recover()
    driver.run(args.steps)
    engine.store.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
