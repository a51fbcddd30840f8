"""Crash consistency (issue 8 item 1): the engine in a child process (crash_child.py), killed
with SIGKILL at random moments during its stream of transitions, checked after every kill.

``run_kills(url, kills, seed, workdir)`` starts the child on the (upgraded) store at ``url``,
waits until it reports ``running``, lets it run 50–600 ms (``random.Random(seed)``), kills it
with SIGKILL, and checks the store with a fresh engine before starting it again:

- every chain verifies and every projection, timer row and vault row is the fold of its
  events (``workflow.audit.verify``), and what verify does not compare: the projection's
  union and ``updated_at``, the timer row's ``armed_seq`` and status (a ``firing`` claim left
  behind, a ``blocked`` timer without an open objection), the personal payload of every event
  that has one, no timer / vault / personal row without its case or event — a transition
  is all there or not at all;
- no event seen at an earlier check is gone or changed, and every acknowledged command is
  present: its event at its (case, seq) with its trigger and idempotency key; an
  acknowledged refusal recorded nothing under its key; a repeat got the original's event;
- no idempotency key twice, no timer fired twice: each timer trigger's event fired the timer
  armed at that moment (its key is ``timer:{case}:{armed seq}:{kind}``) and no armed timer
  (case, armed seq) or started timer (case, kind, started) fired twice.

Each check covers the cases touched since the previous one (new events, a changed projection
or timer row, a case named in the new log lines); every ``full_every`` kills it covers the
whole store, and once more at the end, after a last restart in which the child recovers from
the last kill and runs a few steps to a clean exit. Every violation is reported with its
case, seq and what.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, exists
from sqlalchemy import select as sql_select

from jiekun.persistence.schema import case_personal, cases, events, personal_data, timers
from jiekun.policies.authorization import SYSTEM
from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.idempotency import scoped_key
from jiekun.workflow.records import CaseState, Command
from jiekun.workflow.row_mapping import event_of, timer_row
from jiekun.workflow.transactions import timer_key
from tests.store.crash_child import actor_of

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # any aware time: keys do not depend on it

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # seconds for the child to report ``running``


@dataclass(frozen=True)
class Violation:
    kind: str  # lost, partial, duplicate, unexpected, crash
    case_id: str
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = self.case_id + ("" if self.seq is None else f" #{self.seq}")
        return f"[{self.kind}] {where}: {self.what}"


@dataclass
class CrashReport:
    backend: str
    kills: int = 0
    kills_after_events: int = 0  # the killed run had committed events
    in_flight_committed: int = 0  # killed after its command committed, before the ack
    in_flight_rolled_back: int = 0  # killed with its command in flight, not committed
    in_flight_repeat: int = 0  # killed while repeating an acknowledged command
    during_catch_up: int = 0  # killed while the scheduler's catch-up ran
    between_steps: int = 0  # no step in flight (writing an ack, choosing the next step)
    before_first_step: int = 0  # killed during start-up or recovery: nothing new logged
    committed_unacknowledged: int = 0  # events committed whose ack the kill prevented
    recovered_resends: int = 0  # in-flight commands sent again after a restart
    events: int = 0
    cases: int = 0
    acknowledged: int = 0  # commands and firings acknowledged (events and refusals)
    acknowledged_events: int = 0
    acknowledged_refusals: int = 0
    repeats: int = 0
    timer_firings: int = 0  # events of timer triggers in the store
    blocked_firings: int = 0
    lost_events: int = 0
    partial_transitions: int = 0
    duplicate_firings: int = 0
    unexpected: int = 0
    crashes: int = 0
    audits: int = 0
    chains_verified: int = 0  # cases whose chain the final full audit verified
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and self.crashes == 0

    def add(self, violation: Violation) -> None:
        self.violations.append(violation)
        if violation.kind == "lost":
            self.lost_events += 1
        elif violation.kind == "partial":
            self.partial_transitions += 1
        elif violation.kind == "duplicate":
            self.duplicate_firings += 1
        elif violation.kind == "crash":
            self.crashes += 1
        else:
            self.unexpected += 1

    def summary(self) -> str:
        return (f"{self.backend}: {self.kills} kills ({self.kills_after_events} after events "
                f"were written; in flight: {self.in_flight_committed} committed unacked, "
                f"{self.in_flight_rolled_back} rolled back, {self.in_flight_repeat} repeats; "
                f"{self.during_catch_up} during catch-up, {self.between_steps} between steps, "
                f"{self.before_first_step} before the first step), {self.events} events, "
                f"{self.cases} cases, {self.acknowledged} acknowledged, {self.timer_firings} "
                f"timer firings, lost {self.lost_events}, partial {self.partial_transitions}, "
                f"duplicate {self.duplicate_firings}, unexpected {self.unexpected}, crashes "
                f"{self.crashes}, chains verified {self.chains_verified}, "
                f"{self.seconds:.1f} s")


class _LogReader:
    """The child's intent/ack log, read incrementally (a torn last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.intents: dict[int, dict[str, Any]] = {}
        self.acked_steps: set[int] = set()  # steps with their final ack
        self.last_intent: dict[str, Any] | None = None

    def new_lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            raw = file.read()
        end = raw.rfind(b"\n") + 1
        # the child drops a torn line at its next start: never read past the last newline
        self.offset += end
        lines = [json.loads(x) for x in raw[:end].splitlines() if x]
        for line in lines:
            if line["type"] == "intent":
                self.intents[line["step"]] = line
                self.last_intent = line
            elif line["op"] != "fire":
                self.acked_steps.add(line["step"])
        return lines

    def in_flight(self) -> dict[str, Any] | None:
        last = self.last_intent
        return None if last is None or last["step"] in self.acked_steps else last


@dataclass
class _Seen:
    """What the previous check saw: every event's hash, every projection and timer row."""

    events: dict[tuple[str, int], str] = field(default_factory=dict)
    positions: int = 0
    projections: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    timer_rows: dict[str, tuple[Any, ...]] = field(default_factory=dict)


class Checker:
    def __init__(self, url: str, decider: Decider, report: CrashReport, log: Path) -> None:
        self.url = url
        self.decider = decider
        self.report = report
        self.log = _LogReader(log)
        self.seen = _Seen()
        self.fires = {t.fires: t.kind.value for t in decider.lifecycle.timers}
        self.acked_keys: set[str] = set()

    # One check after a kill ------------------------------------------------------------------

    def check(self, full: bool) -> dict[str, Any]:
        """Check the store; returns what the kill interrupted (for the kill's counts)."""
        lines = self.log.new_lines()
        engine = Engine.open(self.url, decider=self.decider)
        self.store = engine.store
        try:
            with engine.store.reading() as connection:
                return self._check(connection, lines, full)
        finally:
            engine.store.engine.dispose()

    def _check(self, connection: Connection, lines: list[dict[str, Any]], full: bool
               ) -> dict[str, Any]:
        report = self.report
        report.audits += 1
        rows = connection.execute(sql_select(
            events.c.case_id, events.c.seq, events.c.hash, events.c.trigger,
            events.c.idempotency_key, events.c.position)).all()
        now = {(r.case_id, r.seq): r.hash for r in rows}
        by_key: dict[str, list[tuple[str, int, str]]] = {}
        for r in rows:
            if r.idempotency_key is not None:
                by_key.setdefault(r.idempotency_key, []).append((r.case_id, r.seq, r.trigger))
        # Nothing seen before is gone or changed.
        for (case_id, seq), hash_ in self.seen.events.items():
            if (case_id, seq) not in now:
                report.add(Violation("lost", case_id, seq, "an event seen at the previous "
                                     "check is gone"))
            elif now[(case_id, seq)] != hash_:
                report.add(Violation("lost", case_id, seq, "an event seen at the previous "
                                     "check has changed"))
        for key, holders in by_key.items():
            if len(holders) > 1:
                case_id, seq, _ = holders[1]
                report.add(Violation("duplicate", case_id, seq, f"idempotency key {key!r} "
                                     f"recorded {len(holders)} times: {holders}"))
        new_rows = [r for r in rows if r.position > self.seen.positions]
        touched = {r.case_id for r in new_rows}
        self._check_acks(lines, now, by_key)
        projections = {r.case_id: tuple(r) for r in connection.execute(sql_select(
            cases.c.case_id, cases.c.version, cases.c.head_hash, cases.c.state))}
        timer_rows = {r.case_id: tuple(r) for r in connection.execute(sql_select(timers))}
        for table, previous in ((projections, self.seen.projections),
                                (timer_rows, self.seen.timer_rows)):
            touched |= {c for c in table.keys() | previous.keys()
                        if table.get(c) != previous.get(c)}
        touched |= {x["case"] for x in lines if "case" in x}
        self._check_orphans(connection)
        ids = sorted({r.case_id for r in rows} | projections.keys()) if full else sorted(
            touched)
        self._check_cases(connection, ids, by_key)
        if full:
            report.chains_verified = len({r.case_id for r in rows})
        report.events = len(rows)
        report.cases = len(projections)
        report.timer_firings = sum(1 for r in rows if r.trigger in self.fires)
        # What the kill interrupted.
        interrupted = self._interrupted(lines, by_key, new_rows)
        self.seen = _Seen(now, max((r.position for r in rows), default=0), projections,
                          timer_rows)
        return interrupted

    def _interrupted(self, lines: list[dict[str, Any]],
                     by_key: dict[str, list[tuple[str, int, str]]], new_rows: list[Any]
                     ) -> dict[str, Any]:
        pending = self.log.in_flight()
        if not lines:
            where = "before_first_step"
        elif pending is None:
            where = "between_steps"
        elif pending["op"] == "catch_up":
            where = "during_catch_up"
        elif pending.get("expect") == "repeat":
            where = "in_flight_repeat"
        elif self._stored_key(pending) in by_key:
            where = "in_flight_committed"
        else:
            where = "in_flight_rolled_back"
        unacked = sum(1 for r in new_rows if r.idempotency_key not in self.acked_keys)
        return {"where": where, "new_events": len(new_rows), "unacked": unacked}

    # Acknowledgements ------------------------------------------------------------------------

    def _stored_key(self, line: dict[str, Any]) -> str:
        """The key a logged command's event is stored under (scoped to its caller and case,
        workflow/idempotency.py): a timer's firing is the system's."""
        if line["op"] == "fire":
            actor = SYSTEM
        else:
            actor = actor_of(self.log.intents.get(line["step"], line)["actor"])
        key = scoped_key(Command(line["case"], line.get("trigger", ""), actor,
                                 EPOCH, {}, line["key"]))
        assert key is not None
        return key

    def _check_acks(self, lines: list[dict[str, Any]], now: dict[tuple[str, int], str],
                    by_key: dict[str, list[tuple[str, int, str]]]) -> None:
        report = self.report
        for ack in lines:
            if ack["type"] != "ack" or ack["outcome"] == "done":
                continue
            report.acknowledged += 1
            intent = self.log.intents.get(ack["step"], {})
            case_id, seq, key = ack["case"], ack.get("seq"), self._stored_key(ack)
            self.acked_keys.add(key)
            if ack.get("recovered"):
                report.recovered_resends += 1
            if ack["op"] == "fire":
                if ack["outcome"] == "blocked":
                    report.blocked_firings += 1
                    if key in by_key:
                        report.add(Violation("partial", case_id, None, f"a refused (blocked) "
                                             f"firing recorded an event under {key}"))
                    continue
                if ack["outcome"] != "fired":
                    report.add(Violation("unexpected", case_id, None, f"firing {key}: "
                                         f"{ack['outcome']} {ack.get('detail')}"))
                    continue
                report.acknowledged_events += 1
                self._acked_event(ack, now, by_key, case_id, seq, key)
                continue
            expect = intent.get("expect")
            if ack["outcome"] == "refused":
                report.acknowledged_refusals += 1
                if expect != "refused":
                    report.add(Violation("unexpected", case_id, None,
                                         f"step {ack['step']} {ack['trigger']} (expected "
                                         f"{expect}) was refused: {ack.get('message')}"))
                if key in by_key and expect == "refused":
                    report.add(Violation("partial", case_id, None, f"a refused command's key "
                                         f"{key} holds an event: {by_key[key]}"))
                continue
            report.acknowledged_events += 1
            if expect == "refused":
                report.add(Violation("unexpected", case_id, seq, f"step {ack['step']} "
                                     f"{ack['trigger']} ({intent.get('probe')}) must be "
                                     "refused, it recorded an event"))
            if expect == "repeat":
                report.repeats += 1
                if seq != intent.get("repeat_seq"):
                    report.add(Violation("duplicate", case_id, seq, f"a repeat of step "
                                         f"{intent.get('repeat_of')} (key {key}) answered seq "
                                         f"{seq}, the original is #{intent.get('repeat_seq')}"))
            self._acked_event(ack, now, by_key, case_id, seq, key)

    def _acked_event(self, ack: dict[str, Any], now: dict[tuple[str, int], str],
                     by_key: dict[str, list[tuple[str, int, str]]], case_id: str,
                     seq: int | None, key: str) -> None:
        if seq is None or (case_id, seq) not in now:
            self.report.add(Violation("lost", case_id, seq, f"acknowledged {ack['trigger']} "
                                      f"(step {ack['step']}, key {key}) is not in the store"))
            return
        holders = by_key.get(key, [])
        if (case_id, seq, ack["trigger"]) not in holders:
            self.report.add(Violation("lost", case_id, seq, f"acknowledged {ack['trigger']} "
                                      f"(key {key}): the store holds {holders} under its key"))

    # Consistency -----------------------------------------------------------------------------

    def _check_orphans(self, connection: Connection) -> None:
        def add(what: str, rows: Iterable[Any]) -> None:
            for r in rows:
                self.report.add(Violation("partial", str(r[0]), None, what))

        add("a timer row without its case projection", connection.execute(
            sql_select(timers.c.case_id).where(~exists().where(
                cases.c.case_id == timers.c.case_id))))
        add("a vault row (case_personal) without its case projection", connection.execute(
            sql_select(case_personal.c.case_id).where(~exists().where(
                cases.c.case_id == case_personal.c.case_id))))
        add("a personal payload without its event", connection.execute(
            sql_select(personal_data.c.case_id, personal_data.c.seq).where(~exists().where(
                and_(events.c.case_id == personal_data.c.case_id,
                     events.c.seq == personal_data.c.seq)))))
        add("a timer left claimed (status firing) after its transaction", connection.execute(
            sql_select(timers.c.case_id).where(timers.c.status == "firing")))

    def _check_cases(self, connection: Connection, ids: list[str],
                     by_key: dict[str, list[tuple[str, int, str]]]) -> None:
        if not ids:
            return
        audit = verify(self.store.reads_on(connection), self.decider, only=ids)
        for problem in audit.problems:
            self.report.add(Violation("partial", problem.case_id, problem.seq,
                                      f"audit: {problem.reason}"))
        keys = {(c, s): k for k, holders in by_key.items() for c, s, _ in holders}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            # through the read port: it opens the sealed personal payloads (issue 19)
            reads = self.store.reads_on(connection)
            records: dict[str, list[Any]] = {c: reads.case_events(c) for c in chunk}
            projections = {r.case_id: r for r in connection.execute(
                sql_select(cases).where(cases.c.case_id.in_(chunk)))}
            timer_rows = {r.case_id: r for r in connection.execute(
                sql_select(timers).where(timers.c.case_id.in_(chunk)))}
            for case_id in chunk:
                self._check_case(case_id, records.get(case_id, []), projections.get(case_id),
                                 timer_rows.get(case_id), keys)

    def _check_case(self, case_id: str, records: list[Any], projection: Any, timer: Any,
                    keys: dict[tuple[str, int], str]) -> None:
        add = self.report.add
        if not records:
            if projection is not None or timer is not None:
                add(Violation("partial", case_id, None, "a projection or timer row without "
                              "events"))
            return
        folded, expected_timer = CaseState(case_id), None
        armed: tuple[str, int] | None = None  # (kind, armed seq) of the pending timer
        fired_armed: Counter[tuple[str, int]] = Counter()
        fired_started: Counter[tuple[str, str]] = Counter()
        for number, record in enumerate(records, start=1):
            stored = record.stored
            if stored.seq != number:
                add(Violation("partial", case_id, stored.seq, f"seq {stored.seq} where "
                              f"{number} was expected (seq must run 1, 2, … per case)"))
                return
            if stored.personal_digest is not None and stored.personal is None:
                add(Violation("partial", case_id, stored.seq, "its personal payload is "
                              "missing (no personal data is destroyed in this stream)"))
            before = folded
            try:
                folded = self.decider.apply(folded, event_of(stored))
            except Exception as error:  # the fold failing is itself the finding
                add(Violation("partial", case_id, stored.seq, f"cannot be folded: {error}"))
                return
            kind = self.fires.get(stored.trigger)
            if kind is not None:
                key = keys.get((case_id, stored.seq))
                timer_now = before.timers[0] if before.timers else None
                if armed is None or armed[0] != kind or timer_now is None:
                    add(Violation("duplicate", case_id, stored.seq, f"{stored.trigger} fired "
                                  f"with no {kind} timer armed (armed: {armed})"))
                else:
                    fired_armed[armed] += 1
                    fired_started[(kind, timer_now.started.isoformat())] += 1
                    want = scoped_key(Command(case_id, stored.trigger, SYSTEM, EPOCH, {},
                                              timer_key(case_id, armed[1], kind)))
                    if key != want:
                        add(Violation("duplicate", case_id, stored.seq, f"{stored.trigger} "
                                      f"under key {key!r}: the armed timer's key is {want}"))
            row = timer_row(before, folded)
            if row is not None:
                expected_timer = row
                armed = (row.kind, row.armed_seq) if row.status == "pending" else None
        for (kind, seq), n in fired_armed.items():
            if n > 1:
                add(Violation("duplicate", case_id, seq, f"the {kind} timer armed by #{seq} "
                              f"fired {n} times"))
        for (kind, started), n in fired_started.items():
            if n > 1:
                add(Violation("duplicate", case_id, None, f"the {kind} timer started "
                              f"{started} fired {n} times"))
        last = records[-1].stored
        if projection is None:
            add(Violation("partial", case_id, last.seq, "events without a projection"))
            return
        if projection.grassroots_union != folded.grassroots_union:
            add(Violation("partial", case_id, last.seq, "the projection's union "
                          f"{projection.grassroots_union!r} is not the fold's "
                          f"{folded.grassroots_union!r}"))
        if projection.updated_at != last.at or projection.version != last.seq:
            add(Violation("partial", case_id, last.seq, f"the projection (version "
                          f"{projection.version}, updated {projection.updated_at}) is not at "
                          f"the last event (#{last.seq}, {last.at})"))
        self._check_timer(case_id, last.seq, folded, expected_timer, timer)

    def _check_timer(self, case_id: str, seq: int, folded: CaseState, expected: Any,
                     timer: Any) -> None:
        if expected is None:
            if timer is not None:
                self.report.add(Violation("partial", case_id, seq, "a timer row that no "
                                          "event wrote"))
            return
        if timer is None:
            self.report.add(Violation("partial", case_id, seq, f"the timer row is missing "
                                      f"(the fold armed {expected.kind} at "
                                      f"#{expected.armed_seq})"))
            return
        got = (timer.kind, timer.due, timer.armed_seq)
        want = (expected.kind, expected.due, expected.armed_seq)
        allowed = {"pending", "blocked"} if expected.status == "pending" else {expected.status}
        if got != want or timer.status not in allowed:
            self.report.add(Violation("partial", case_id, seq, f"timer row {got} "
                                      f"{timer.status}, the fold's {want} {expected.status}"))
        elif timer.status == "blocked" and not folded.objections_open:
            self.report.add(Violation("partial", case_id, seq, "a blocked timer with no "
                                      "objection open"))


def _child(url: str, log: Path, seed: int, steps: int | None = None) -> list[str]:
    return [sys.executable, "-m", "tests.store.crash_child", "--url", url, "--log", str(log),
            "--seed", str(seed), *([] if steps is None else ["--steps", str(steps)])]


def _start_child(url: str, log: Path, seed: int, stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("ab") as err:
        return subprocess.Popen(_child(url, log, seed), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_running(process: subprocess.Popen[bytes], timeout: float) -> bool:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line.strip() == b"running":
                return True
            if not line:  # end of file: the child exited
                return False
        elif process.poll() is not None:
            return False
    return False


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_kills(url: str, kills: int, seed: int, workdir: Path, *, backend: str = "",
              decider: Decider | None = None, min_ms: float = 50, max_ms: float = 600,
              full_every: int = 25, final_steps: int = 30,
              progress: Callable[[str], None] | None = None) -> CrashReport:
    """Kill the child ``kills`` times on the upgraded store at ``url``, checking the store
    after each kill; then restart it once more for ``final_steps`` steps (it recovers from
    the last kill and must exit cleanly) and audit the whole store."""
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    log, stderr = workdir / f"crash-{seed}.jsonl", workdir / f"crash-{seed}.stderr"
    report = CrashReport(backend or url.split(":", 1)[0])
    checker = Checker(url, decider or Decider(), report, log)
    rng = random.Random(seed)
    for number in range(1, kills + 1):
        errors_before = stderr.stat().st_size if stderr.exists() else 0
        process = _start_child(url, log, seed, stderr)
        try:
            running = _wait_running(process, START_TIMEOUT)
            if running:
                time.sleep(rng.uniform(min_ms, max_ms) / 1000)
            alive = process.poll() is None
            if alive:
                process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
            if process.stdout is not None:
                process.stdout.close()
        if not (running and alive):
            text = stderr.read_bytes()[errors_before:].decode(errors="replace")
            report.add(Violation("crash", "-", None, f"run {number}: the child "
                                 f"{'exited' if running else 'did not start'} (status "
                                 f"{process.returncode}) before the kill:\n{text[-3000:]}"))
        else:
            report.kills += 1
        interrupted = checker.check(full=number % full_every == 0)
        if running and alive:
            setattr(report, interrupted["where"], getattr(report, interrupted["where"]) + 1)
            report.kills_after_events += interrupted["new_events"] > 0
            report.committed_unacknowledged += interrupted["unacked"]
        if progress is not None and (number % 10 == 0 or number == kills):
            progress(f"{report.backend}: {number}/{kills} kills, {report.events} events, "
                     f"{len(report.violations)} violations")
        if report.crashes and report.crashes >= 3:
            break  # the child cannot run: more kills say nothing new
    # The last kill's restart: the child recovers and runs a few steps to a clean exit.
    errors_before = stderr.stat().st_size if stderr.exists() else 0
    with stderr.open("ab") as err:
        final = subprocess.run(_child(url, log, seed, steps=final_steps), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=300)
    if final.returncode != 0:
        text = stderr.read_bytes()[errors_before:].decode(errors="replace")
        report.add(Violation("crash", "-", None, f"the restart after the last kill failed "
                             f"(status {final.returncode}):\n{text[-3000:]}"))
    checker.check(full=True)
    report.seconds = time.perf_counter() - started
    if report.crashes == 0 and stderr.exists() and b"Traceback" in stderr.read_bytes():
        report.add(Violation("crash", "-", None, f"a traceback on the child's stderr:\n"
                             f"{_tail(stderr)}"))
    return report
