"""The time rule against the scheduler's timing (issue 14): a history must not depend on when —
or whether — the scheduler ran.

A fixed list of commands drives four cases through the durable engine (SQLite file stores),
dated hours to months apart so that timers fall due between them: unit and media publicities,
an objection that blocks a publicity until it is dismissed (the firing then dated at the
dismissal), one upheld in media publicity, a re-check, a phase-out, a withdrawal, and commands
that must be refused (E-ORDER, E-TRANSITION, E-ACTOR). Hypothesis interleaves scheduler runs
(``TimerFirer.catch_up`` on a simulated clock) at random moments: exactly at a due time, hours
or months later, long before the commands already done, or never; a run never looks past a
command still to come (a scheduler's clock is not ahead of the commands that follow it), nor
past the last command, which every case has at the same final time.

Each run, on a fresh store, must give what the run without any scheduler gives: the same
outcome for every command (the same event, or a refusal with the same code) and, per case, the
same history (seq, trigger, at, derived, data) and the same stored case; its export replays
with no violation and its chains verify.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import JiekunError
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.audit import verify
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import CaseState
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import export_lines
from tests.soak_settings import examples
from tests.workflow.builders import (
    AUDITOR,
    OTHER_UNION,
    application,
    fed,
    household,
    resident_id,
    union,
    worker,
)

A_ID = resident_id("32021119790315516")
B_ID = resident_id("32021119820101123")
C_ID = resident_id("32021119850505512")
D_ID = resident_id("32021119900909091")
START = datetime(2024, 3, 1, tzinfo=SHANGHAI)
FINAL = datetime(2025, 9, 1, 10, 0, tzinfo=SHANGHAI)
CITY, BINHU = fed("wuxi-city"), fed("binhu")
REASON = {"reason": "测试理由"}


@dataclass(frozen=True)
class Step:
    case_id: str
    trigger: str
    actor: Actor
    at: datetime
    data: dict[str, Any]
    expect: str  # "ok", or the code of the refusal the run without a scheduler gets


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def step(case_id: str, trigger: str, actor: Actor, when: str | datetime,
         data: dict[str, Any] | None = None, expect: str = "ok") -> Step:
    return Step(case_id, trigger, actor, when if isinstance(when, datetime) else t(when),
                data or {}, expect)


# Per case, in time order (comments: what falls due in between, by the policy's calendar).
SCRIPT = [
    # A: deep, wuxi-city. Publicities fire before the approve and the early re-check; its
    # yearly re-check falls due in 2025 and fires before the final cancel.
    step("T-A", "submit", union(), "2024-03-04 09:00", application("deep", id_number=A_ID)),
    step("T-A", "start_preliminary_review", union(), "2024-03-04 15:00"),
    step("T-A", "pass_preliminary_review", union(), "2024-03-05 10:00"),
    step("T-A", "approve", CITY, "2024-04-15 09:00"),
    step("T-A", "approve", CITY, "2024-04-15 08:00", expect="E-ORDER"),
    step("T-A", "start_recheck", CITY, "2024-07-01 10:00"),
    step("T-A", "confirm_eligibility", CITY, "2024-07-20 10:00", {"household": household("deep")}),
    step("T-A", "cancel", CITY, FINAL, {"reason": "moved_out"}),
    # B: relative, binhu. An objection blocks the unit publicity past its due time; once
    # dismissed it fires at once (dated at the dismissal); then media publicity, the half-yearly
    # re-check, a three-month phase-out and the exit.
    step("T-B", "submit", union(), "2024-03-11 09:00", application("relative", id_number=B_ID)),
    step("T-B", "start_preliminary_review", union(), "2024-03-11 09:30"),
    step("T-B", "pass_preliminary_review", union(), "2024-03-11 10:00"),
    step("T-B", "raise_objection", union(), "2024-03-14 16:00",
         {"objection_id": "OBJ-1", "summary": "群众反映家庭收入不实"}),
    step("T-B", "approve", BINHU, "2024-03-25 09:00", expect="E-TRANSITION"),
    step("T-B", "dismiss_objection", union(), "2024-04-22 10:00",
         {"objection_id": "OBJ-1", **REASON}),
    step("T-B", "approve", BINHU, "2024-04-22 15:00"),
    step("T-B", "start_phase_out", BINHU, "2024-12-02 10:00",
         {"household": household("none"), "months": 3, "contact_person": "社工王某"}),
    step("T-B", "confirm_exit", worker(B_ID), "2025-03-10 10:00"),
    step("T-B", "confirm_exit", union(), "2025-03-11 10:00"),
    step("T-B", "report_relapse", worker(B_ID), FINAL, {"summary": "家庭成员重病"}),
    # C: deep, another union; withdrawn during its unit publicity, which is then void.
    step("T-C", "submit", union(OTHER_UNION), "2024-05-06 09:00",
         application("deep", id_number=C_ID, union=OTHER_UNION)),
    step("T-C", "start_preliminary_review", union(OTHER_UNION), "2024-05-06 11:00"),
    step("T-C", "pass_preliminary_review", union(OTHER_UNION), "2024-05-07 09:00"),
    step("T-C", "withdraw", worker(C_ID), "2024-05-13 17:00"),
    step("T-C", "start_preliminary_review", union(OTHER_UNION), "2024-05-20 09:00",
         expect="E-TRANSITION"),
    step("T-C", "approve", CITY, FINAL, expect="E-TRANSITION"),
    # D: relative, binhu. A wrong actor; the unit publicity fires before the approve; an
    # objection in media publicity blocks it until it is upheld (rejected).
    step("T-D", "submit", union(), "2024-06-03 09:00", application("relative", id_number=D_ID)),
    step("T-D", "start_preliminary_review", union(), "2024-06-03 10:00"),
    step("T-D", "pass_preliminary_review", union(), "2024-06-04 09:00"),
    step("T-D", "raise_objection", worker(D_ID), "2024-06-05 10:00",
         {"objection_id": "OBJ-9", "summary": "本人异议"}, expect="E-ACTOR"),
    step("T-D", "approve", BINHU, "2024-07-08 09:00"),
    step("T-D", "raise_objection", BINHU, "2024-07-10 10:00",
         {"objection_id": "OBJ-7", "summary": "群众反映隐瞒收入"}),
    step("T-D", "uphold_objection", BINHU, "2024-09-02 10:00", {"objection_id": "OBJ-7", **REASON}),
    step("T-D", "amend_application", worker(D_ID), FINAL, application("relative", id_number=D_ID),
         expect="E-TRANSITION"),
]
CASES = sorted({s.case_id for s in SCRIPT})


def _in_time_order(script: list[Step]) -> list[Step]:
    """The cases' commands merged in time order, each case's own order kept (a command dated
    before the one it follows stays after it)."""
    latest: dict[str, datetime] = {}
    keyed = []
    for index, s in enumerate(script):
        latest[s.case_id] = max(latest.get(s.case_id, s.at), s.at)
        keyed.append((latest[s.case_id], index, s))
    return [s for _, _, s in sorted(keyed, key=lambda k: (k[0], k[1]))]


COMMANDS = _in_time_order(SCRIPT)
# the latest moment a scheduler may run before command p: none after a command to come
BOUNDS = [min([s.at for s in COMMANDS[p:]] + [FINAL]) for p in range(len(COMMANDS) + 1)]

Outcome = tuple[Any, ...]
History = list[tuple[int, str, datetime, Any, dict[str, Any]]]


@dataclass
class Run:
    outcomes: list[Outcome]
    histories: dict[str, History]
    cases: dict[str, CaseState]
    firings: int  # timers the scheduler fired
    blocked: int  # firings the scheduler found refused (an objection open): left waiting


def drive(url: str, decider: Decider, schedule: list[tuple[int, datetime]]) -> Run:
    """The commands in time order; before command ``p``, a catch-up at each moment of
    ``schedule`` at position ``p`` (position len(COMMANDS): after the last)."""
    engine = Engine.open(url, decider=decider)
    try:
        firer = TimerFirer(engine)
        runs = sorted(schedule, key=lambda moment: moment[0])
        outcomes: list[Outcome] = []
        firings = blocked = 0
        for position in range(len(COMMANDS) + 1):
            for _, moment in (m for m in runs if m[0] == position):
                done = firer.catch_up(SimulatedClock(moment), moment)
                firings += sum(f.outcome == "fired" for f in done)
                blocked += sum(f.outcome == "blocked" for f in done)
            if position == len(COMMANDS):
                break
            s = COMMANDS[position]
            try:
                event = engine.fire(s.case_id, s.trigger, s.actor, s.at, s.data)
            except JiekunError as refusal:
                outcomes.append(("refused", s.case_id, s.trigger, refusal.code))
            else:
                outcomes.append(("applied", event.case_id, event.seq, event.trigger, event.at,
                                 event.derived))
        histories = {c: [(e.seq, e.trigger, e.at, e.derived, e.data)
                         for e in engine.history(c, AUDITOR)] for c in CASES}
        cases = {c: engine.case(c, AUDITOR) for c in CASES}
        with engine.store.reads() as reads:
            report = verify(reads, engine.decider)
        assert report.ok, report.problems[:3]
        replayed = replay(list(export_lines(engine)), engine.decider)
        assert replayed.violations == 0, {k: c.violation for k, c in replayed.cases.items()
                                          if c.violation is not None}
        assert sorted(replayed.cases) == CASES
        return Run(outcomes, histories, cases, firings, blocked)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store, schema upgraded, copied for every run (a migration per run is slow)."""
    path = tmp_path_factory.mktemp("timing") / "template.db"
    made = make_engine(f"sqlite:///{path}")
    try:
        upgrade(made)
    finally:
        made.dispose()
    return path


@pytest.fixture(scope="module")
def fresh(template: Path) -> Iterator[Any]:
    """``fresh()``: the URL of a new copy of the template store."""
    folder = Path(tempfile.mkdtemp(prefix="jiekun-timing-"))
    count = 0

    def make() -> str:
        nonlocal count
        count += 1
        path = folder / f"run-{count}.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    yield make
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(fresh: Any, decider: Decider) -> Run:
    """The run with no scheduler at all; it refuses exactly the commands the script says."""
    run = drive(fresh(), decider, [])
    got = ["ok" if o[0] == "applied" else o[3] for o in run.outcomes]
    assert got == [s.expect for s in COMMANDS], [
        (s.case_id, s.trigger, s.expect, g) for s, g in zip(COMMANDS, got, strict=True)
        if s.expect != g]
    assert run.firings == 0
    return run


def due_times(run: Run) -> list[datetime]:
    """Every due time of the reference: of each timer armed, and each timer's firing."""
    found: set[datetime] = set()
    for history in run.histories.values():
        for _seq, _trigger, _at, derived, _data in history:
            found.update(timer.due for timer in derived.timers if timer.due is not None)
            if derived.due is not None:
                found.add(derived.due)
    return sorted(found)


@st.composite
def schedules(draw: st.DrawFn, dues: list[datetime]) -> list[tuple[int, datetime]]:
    """Scheduler runs: (position among the commands, the moment its clock says); none ahead of
    a command still to come (``BOUNDS``). Early: exactly at a due time, as soon as the commands
    before it are done; late: hours to months after a due time, or after more commands; any:
    anywhere, at any moment allowed there (often long before the commands already done)."""
    moments: list[tuple[int, datetime]] = []
    for _ in range(draw(st.integers(0, 6))):
        how = draw(st.sampled_from(["early", "late", "any"]))
        if how == "any":
            position = draw(st.integers(0, len(COMMANDS)))
            span = int((BOUNDS[position] - START).total_seconds() // 60)
            moments.append((position, START + timedelta(minutes=draw(st.integers(0, span)))))
            continue
        moment = draw(st.sampled_from(dues))
        if how == "late":
            moment += timedelta(minutes=draw(st.integers(1, 90 * 24 * 60)))
        first = next((p for p, bound in enumerate(BOUNDS) if bound >= moment), None)
        if first is None:
            continue  # after FINAL: no run may look that far
        later = draw(st.integers(0, 3)) if how == "early" else draw(
            st.integers(0, len(COMMANDS) - first))
        moments.append((min(first + later, len(COMMANDS)), moment))
    return moments


def test_reference_fires_timers_between_commands(reference: Run) -> None:
    """The script does what the module says: timers fire before later commands, a publicity
    blocked by an objection fires at its dismissal, its due time recorded."""
    fired = {(c, h[1]) for c, history in reference.histories.items() for h in history
             if h[1].endswith(("_ended", "_due"))}
    assert fired >= {("T-A", "unit_publicity_ended"), ("T-A", "media_publicity_ended"),
                     ("T-A", "recheck_due"), ("T-B", "unit_publicity_ended"),
                     ("T-B", "recheck_due"), ("T-B", "phase_out_ended"),
                     ("T-D", "unit_publicity_ended")}, fired
    # T-B's publicity, due 2024-03-19 but blocked by the objection, is re-armed by the
    # dismissal (due then) and fires at that moment, before the approve
    b = {h[1]: h for h in reversed(reference.histories["T-B"])}
    (armed,) = b["pass_preliminary_review"][3].timers
    assert armed.due == t("2024-03-19 00:00")
    (rearmed,) = b["dismiss_objection"][3].timers
    assert rearmed.due == b["unit_publicity_ended"][2] == t("2024-04-22 10:00")
    # T-C's publicity is void: withdrawn the day before it fell due
    assert [h[1] for h in reference.histories["T-C"]][-1] == "withdraw"
    assert {c: s.state for c, s in reference.cases.items()} == {
        "T-A": "cancelled", "T-B": "re_entered", "T-C": "withdrawn", "T-D": "rejected"}


def test_history_does_not_depend_on_the_scheduler(fresh: Any, decider: Decider,
                                                  reference: Run) -> None:
    dues = due_times(reference)
    assert len(dues) >= 8
    seen = {"runs": 0, "schedules": 0, "firings": 0, "blocked": 0}

    @settings(max_examples=examples(40), deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(schedule=schedules(dues))
    def check(schedule: list[tuple[int, datetime]]) -> None:
        run = drive(fresh(), decider, schedule)
        assert run.outcomes == reference.outcomes, [
            (a, b) for a, b in zip(run.outcomes, reference.outcomes, strict=True) if a != b][:2]
        for case_id in CASES:
            assert run.histories[case_id] == reference.histories[case_id], case_id
            assert run.cases[case_id] == reference.cases[case_id], case_id
        seen["runs"] += 1
        seen["schedules"] += len(schedule)
        seen["firings"] += run.firings
        seen["blocked"] += run.blocked

    check()
    # the scheduler did fire timers in these runs (else nothing was compared)
    assert seen["firings"] > 0, seen
    print(f"\n{seen['runs']} runs, {seen['schedules']} catch-ups: {seen['firings']} timers "
          f"fired, {seen['blocked']} left blocked by the scheduler; each run as the reference")
