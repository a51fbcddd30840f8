"""Model-based test (issue 8): the durable engine against the in-memory reference, side by side.

A hypothesis ``RuleBasedStateMachine`` sends the same random commands — submissions (valid or
not, two applicants sharing cases), every trigger of the lifecycle with a random actor (own or
other union, the reviewing federation, wuxi-city, another district, the applicant, another
worker, the system, an auditor) and payload (the right one, none, a wrong one), clock jumps,
stale expected versions, repeated idempotency keys, reads by random readers, and the scheduler's
catch-up of every due timer — to the durable ``Engine`` on a fresh store (SQLite and
PostgreSQL) and to the reference: ``Decider.decide_and_fold`` folding into a dict of cases with an
``OpenCaseIndex``, which is what ``replay`` does.

After every step they must agree: the same event or the same refusal (class and rule), the
stored case equal to the folded one, the scheduler firing exactly the timers the fold says are
due (and blocking exactly those the lifecycle refuses), a reader allowed exactly what
``may_read`` allows; at the end every chain verifies and each case's stored history is the
fold's list of events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import hypothesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from jiekun.policies.authorization import Actor, may_read
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import ConcurrencyConflict, JiekunError
from jiekun.scheduler.firing import TimerFirer
from jiekun.states import TimerKind, build_lifecycle
from jiekun.workflow.audit import verify
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import CaseState, Command, Event, Timer
from jiekun.workflow.timing import due_by
from tests.soak_settings import examples, tally
from tests.workflow.builders import (
    AUDITOR,
    OTHER_ID,
    OTHER_UNION,
    SYSTEM,
    UNION,
    WORKER_ID,
    application,
    fed,
    new_index,
    union,
    worker,
)
from tests.workflow.test_triggers import good_data

START = datetime(2024, 3, 4, 9, 0, tzinfo=SHANGHAI)  # a Monday
THIRD_ID = "320211198505055121"  # born 1985-05-05
CASE_IDS = ("M-1", "M-2", "M-3", "M-4", "M-5")
APPLICANTS = (WORKER_ID, OTHER_ID, THIRD_ID)
ACTORS = ("own_union", "other_union", "reviewing_body", "wuxi-city", "xishan", "applicant",
          "other_worker", "system", "auditor")
ENDINGS = frozenset({"withdraw", "cancel", "retention_expired", "reject_preliminary",
                     "reject_upper"})
# steps that send a case back or aside: taken less often, so that paths also reach their end
DETOURS = frozenset({"raise_objection", "uphold_objection", "request_supplement",
                     "return_to_grassroots", "amend_application", "refuse_exit", "grant_aid"})
RAN: Counter[str] = Counter()  # this run's examples and compared commands (make soak's tally)
TRIGGERS = sorted(t.name for t in build_lifecycle().triggers if t.name != "submit")
ROLE_ACTORS = {"grassroots_union": "own_union", "federation": "reviewing_body",
               "worker": "applicant", "system": "system", "auditor": "auditor"}
PAYLOADS = ("good",) * 8 + ("none", "wrong")
# minutes: a step, an hour, a day, a week, a month, a quarter
JUMPS = (1, 60, 24 * 60, 7 * 24 * 60, 30 * 24 * 60, 91 * 24 * 60)
HORIZON = datetime(2025, 12, 1, tzinfo=SHANGHAI)  # the policy and calendar hold beyond it

Outcome = tuple[Any, ...]


class EngineVsFold(RuleBasedStateMachine):
    make_url: Callable[[], str]
    decider: Decider

    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine.open(type(self).make_url(), decider=self.decider)
        self.cases: dict[str, CaseState] = {}
        self.events: dict[str, list[Event]] = {}
        self.index = new_index(self.decider)
        self.now = START
        self.blocked: dict[str, Timer] = {}  # a due timer the lifecycle refused to fire
        self.keyed: list[tuple[Command, Event]] = []
        self.fires = {t.kind: t.fires for t in self.decider.lifecycle.timers}
        self.timed = frozenset(self.fires.values())

    def teardown(self) -> None:
        RAN["examples"] += 1
        try:
            if self.cases:
                with self.engine.store.reading() as connection:
                    report = verify(self.engine.store.reads_on(connection), self.decider)
                assert report.ok, report.problems[:3]
                for case_id, events in self.events.items():
                    stored = self.engine.history(case_id, AUDITOR)
                    assert [(e.seq, e.trigger, e.at, e.derived, e.data) for e in stored] == [
                        (e.seq, e.trigger, e.at, e.derived, e.data) for e in events]
        finally:
            self.engine.close()

    # -- helpers ---------------------------------------------------------------------------

    def _tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def _prefire(self, command: Command) -> JiekunError | None:
        """The time rule as the engine keeps it (workflow/timing.py): before a command, the
        case's due timers fire, each dated at its due time or the case's last event; a firing
        refused (or a timer waiting for its calendar year) refuses the command, and the
        firings before it stand. Returns that refusal."""
        decider = self.decider
        while (case := self.cases.get(command.case_id)) is not None:
            try:
                due = due_by(case, command.at, decider.lifecycle, decider.policy,
                             decider.calendar)
                if due is None or due.trigger == command.trigger \
                        or self.blocked.get(command.case_id) == due.timer:
                    return None
                at = max(due.due, case.last_at) if case.last_at else due.due
                timer = Command(command.case_id, due.trigger, SYSTEM, at, {})
                event, after = decider.decide_and_fold(case, timer, self.index)
            except JiekunError as refusal:
                return refusal
            hypothesis.event("a due timer fired before a command")
            self._keep(timer, event, after)
        return None

    def _model(self, command: Command, *, timer: bool = False
               ) -> tuple[Outcome, CaseState | None]:
        refusal = None if timer else self._prefire(command)
        if refusal is not None:
            return ("refused", type(refusal).__name__, refusal.rule), None
        case = self.cases.get(command.case_id)
        try:
            event, after = self.decider.decide_and_fold(case, command, self.index)
        except JiekunError as refusal:
            hypothesis.event(f"refused {refusal.rule}")
            return ("refused", type(refusal).__name__, refusal.rule), None
        return ("applied", event), after

    def _engine(self, command: Command, expected_version: int | None = None) -> Outcome:
        try:
            event = self.engine.execute(command, expected_version)
        except JiekunError as refusal:
            return ("refused", type(refusal).__name__, refusal.rule)
        return ("applied", event)

    def _keep(self, command: Command, event: Event, after: CaseState) -> None:
        hypothesis.event(f"applied {command.trigger}")
        self.cases[command.case_id] = after
        self.events.setdefault(command.case_id, []).append(event)
        self.index.update(after)
        if command.idempotency_key is not None:
            self.keyed.append((command, event))

    def _both(self, command: Command) -> None:
        model, after = self._model(command)
        assert self._engine(command) == model, command
        RAN["commands"] += 1
        if after is not None:
            self._keep(command, model[1], after)

    def _onward(self, state: str | None) -> list[str]:
        """The triggers that take a case on along its path (endings come soon enough; timers
        fire in catch_up)."""
        return [t for t in self.decider.allowed_triggers(state)
                if t not in ENDINGS and t not in self.timed and t != "submit"]

    def _actor(self, choice: str, case: CaseState | None) -> Actor:
        parties = case.parties if case is not None else None
        return {
            "own_union": union(parties.grassroots_union or UNION) if parties else union(),
            "other_union": union(OTHER_UNION),
            "reviewing_body": fed(parties.reviewing_body or "binhu") if parties else fed("binhu"),
            "wuxi-city": fed("wuxi-city"),
            "xishan": fed("xishan"),
            "applicant": worker(parties.applicant_id or WORKER_ID) if parties else worker(),
            "other_worker": worker("110101199003070011"),
            "system": SYSTEM,
            "auditor": AUDITOR,
        }[choice]

    # -- rules -----------------------------------------------------------------------------

    @initialize(categories=st.lists(st.sampled_from(("deep", "relative", "accident")),
                                    min_size=2, max_size=2))
    def two_cases(self, categories: list[str]) -> None:
        """Two households apply first, so that commands find cases from the start."""
        for case_id, applicant, category in zip(CASE_IDS, APPLICANTS, categories, strict=False):
            self._both(Command(case_id, "submit", union(), self._tick(),
                               application(category, id_number=applicant)))

    @rule(fresh=st.integers(0, 4), data=st.data(), applicant=st.sampled_from(APPLICANTS),
          category=st.sampled_from(("deep", "relative", "accident", "none")),
          valid=st.integers(0, 5), key=st.booleans())
    def submit(self, fresh: int, data: st.DataObject, applicant: str, category: str,
               valid: int, key: bool) -> None:
        """Mostly a new case id (a submission on an existing one is E-TRANSITION)."""
        new = [c for c in CASE_IDS if c not in self.cases]
        case_id = data.draw(st.sampled_from(new if fresh and new else CASE_IDS))
        free = [a for a in APPLICANTS if self.index.open_case_of(a) is None]
        if fresh and free:  # mostly someone without an open case (else R-ONE-OPEN-CASE)
            applicant = data.draw(st.sampled_from(free))
        body = application(category, id_number=applicant)
        if not valid:
            del body["household"]
        self._both(Command(case_id, "submit", union(), self._tick(), body,
                           f"k-{len(self.keyed)}-{case_id}" if key else None))

    @rule(guided=st.integers(0, 9), data=st.data(), payload=st.sampled_from(PAYLOADS),
          key=st.booleans())
    def fire(self, guided: int, data: st.DataObject, payload: str, key: bool) -> None:
        self._fire(guided, data, payload, key)

    @rule(guided=st.integers(0, 9), data=st.data(), payload=st.sampled_from(PAYLOADS),
          key=st.booleans())
    def fire_again(self, guided: int, data: st.DataObject, payload: str, key: bool) -> None:
        # the same rule twice: commands are most of a run's steps
        self._fire(guided, data, payload, key)

    def _fire(self, guided: int, data: st.DataObject, payload: str, key: bool) -> None:
        """Mostly a case that exists and a trigger its state allows, fired by a role
        states/LIFECYCLE.md names for it (else nothing would get past E-TRANSITION); sometimes any
        case, any trigger, any actor."""
        going = sorted(c for c, case in self.cases.items() if self._onward(case.state))
        case_id = data.draw(st.sampled_from(going if guided and going else CASE_IDS))
        case = self.cases.get(case_id)
        allowed = [t for t in self.decider.allowed_triggers(case.state if case else None)
                   if t != "submit"]
        onward = self._onward(case.state if case else None)
        straight = [t for t in onward if t not in DETOURS]
        if guided > 5 and straight:
            allowed = straight
        elif guided > 2 and onward:
            allowed = onward
        if guided and allowed:
            trigger = data.draw(st.sampled_from(allowed))
            roles = {a.role.value for a in self.decider.lifecycle.trigger(trigger).actors}
            actor = data.draw(st.sampled_from(sorted(ROLE_ACTORS[r] for r in roles)))
        else:
            trigger = data.draw(st.sampled_from(TRIGGERS))
            actor = data.draw(st.sampled_from(ACTORS))
        category = (case.category if case is not None else None) or "relative"
        body = {"none": {}, "wrong": {"unexpected": 1}}.get(payload)
        if body is None:
            body = good_data(trigger, case, category)
            if trigger == "amend_application" and case is not None:
                body = application(category, id_number=case.applicant_id or WORKER_ID,
                                   union=case.grassroots_union or UNION,
                                   household_kind="deep")
            if trigger == "raise_objection" and case is not None:
                body["objection_id"] = f"OBJ-{len(case.objections_used) + 1}"
            if trigger in ("dismiss_objection", "uphold_objection") and case is not None \
                    and case.objections_open:
                body["objection_id"] = sorted(case.objections_open)[0]
        command = Command(case_id, trigger, self._actor(actor, case), self._tick(), body,
                          f"k-{len(self.keyed)}-{case_id}" if key else None)
        self._both(command)

    @rule(minutes=st.sampled_from(JUMPS))
    def jump(self, minutes: int) -> None:
        """The clock moves on with no scheduler running (its firings come later, at once)."""
        if self.now + timedelta(minutes=minutes) < HORIZON:
            self.now += timedelta(minutes=minutes)

    @rule(minutes=st.sampled_from(JUMPS))
    def time_passes(self, minutes: int) -> None:
        """Time passes and the scheduler fires what fell due."""
        self.jump(minutes)
        self.catch_up()

    @rule()
    def catch_up(self) -> None:
        """The engine's scheduler fires every due timer at ``now`` (what the real clock does
        after an outage); the fold fires the same ones, and refuses the same ones."""
        now = self._tick()
        fired = TimerFirer(self.engine).catch_up(SimulatedClock(now), now)
        got = {f.timer.case_id: (f.trigger, f.outcome) for f in fired}
        expected: dict[str, tuple[str, str]] = {}
        for case_id, case in sorted(self.cases.items()):
            timer = case.timers[0] if case.timers else None
            if timer is None or timer.due is None or timer.due > now \
                    or self.blocked.get(case_id) == timer:
                continue
            # dated at its due time, or at the case's last event if that is later
            at = max(timer.due, case.last_at) if case.last_at else timer.due
            command = Command(case_id, self.fires[TimerKind(timer.kind)], SYSTEM, at, {})
            model, after = self._model(command, timer=True)
            if after is None:
                expected[case_id] = (command.trigger, "blocked")
                self.blocked[case_id] = timer
            else:
                expected[case_id] = (command.trigger, "fired")
                self._keep(command, model[1], after)
        assert got == expected

    @rule(case_id=st.sampled_from(CASE_IDS))
    def stale_version(self, case_id: str) -> None:
        case = self.cases.get(case_id)
        if case is None:
            return
        command = Command(case_id, "withdraw", worker(case.applicant_id or WORKER_ID),
                          self._tick(), {})
        refusal = self._prefire(command)  # the engine fires due timers first, and keeps them
        outcome = self._engine(command, expected_version=case.version - 1)
        if refusal is not None:
            assert outcome == ("refused", type(refusal).__name__, refusal.rule)
            return
        assert outcome == ("refused", ConcurrencyConflict.__name__,
                           ConcurrencyConflict("x", 0, 1).rule)

    @rule(data=st.data())
    def repeat_a_key(self, data: st.DataObject) -> None:
        if not self.keyed:
            return
        command, event = data.draw(st.sampled_from(self.keyed))
        assert self._engine(command) == ("applied", event)  # the same event, recorded once

    @rule(case_id=st.sampled_from(CASE_IDS), reader=st.sampled_from(ACTORS))
    def read(self, case_id: str, reader: str) -> None:
        case = self.cases.get(case_id)
        if case is None:
            return
        actor = self._actor(reader, None)  # readers from outside the case's own parties too
        try:
            seen = self.engine.case(case_id, actor)
        except JiekunError:
            assert not may_read(actor, case.parties)
        else:
            assert may_read(actor, case.parties) and seen == case

    # -- invariant -------------------------------------------------------------------------

    @invariant()
    def stored_cases_are_the_fold(self) -> None:
        for case_id, case in self.cases.items():
            assert self.engine.stored_case(case_id) == case, case_id


def test_engine_and_fold_agree(new_store: Callable[..., str], decider: Decider,
                               backend_name: str) -> None:
    class Machine(EngineVsFold):
        pass

    Machine.make_url = staticmethod(new_store)  # type: ignore[method-assign]
    Machine.decider = decider
    count = examples(120 if backend_name == "sqlite" else 50)
    RAN.clear()
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=count, stateful_step_count=60, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    tally(__file__, f"test_engine_and_fold_agree[{backend_name}]", **RAN)
