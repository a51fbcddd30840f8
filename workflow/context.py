"""Everything one decision needs, handed to guards, branches and effects alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from jiekun.policies.application import Application, Household, share_field_sets
from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import local_date
from jiekun.policies.eligibility import Assessment, Verdict, assess, verdict
from jiekun.policies.policy_file import Policy
from jiekun.workflow.records import CaseState, Command


class OpenCases(Protocol):
    """Answers R-ONE-OPEN-CASE: the case, if any, that is open for an applicant."""

    def open_case_of(self, applicant_id: str) -> str | None: ...


@dataclass
class Decision:
    """One command being decided against one case. Mutable only while it is decided."""

    case: CaseState
    command: Command
    payload: dict[str, Any]
    policy: Policy
    calendar: WorkingCalendar
    open_cases: OpenCases
    source: str | None
    # a timer's firing: its due time, which what the firing derives follows (the event may
    # be dated later, workflow/timing.py)
    due: datetime | None = None
    # the command's date in Asia/Shanghai, when the caller has worked it out already
    day: date | None = None
    _assessment: Assessment | None = field(default=None, init=False)
    _verdict: Verdict | None = field(default=None, init=False)
    _application: Application | None = field(default=None, init=False)
    _application_known: bool = field(default=False, init=False)
    # what the guards, branches and effects of this one decision derive more than once (the
    # aid table of a grant: R-AID-TIER, R-NO-ARBITRARY-CUT and the recorded rank), by name
    memo: dict[str, Any] = field(default_factory=dict, init=False)

    @property
    def at(self) -> datetime:
        """The moment the decision takes effect: the command's time, or a timer's due time."""
        return self.due if self.due is not None else self.command.at

    @property
    def on(self) -> date:
        if self.day is None:
            self.day = local_date(self.command.at)
        return self.day

    @property
    def application(self) -> Application | None:
        """The application as this event leaves it (a new one, or a new household); worked
        out once per decision (its guards, effects and fold each ask)."""
        if not self._application_known:
            self._application = self._application_after()
            self._application_known = True
        return self._application

    def _application_after(self) -> Application | None:
        new = self.payload.get("application")
        if isinstance(new, Application):
            return new
        current = self.case.application
        household = self.payload.get("household")
        if current is None or not isinstance(household, Household):
            return current
        changes: dict[str, Any] = {"household": household}
        if "accident" in self.payload:
            changes["accident"] = self.payload["accident"]
        copied = current.model_copy(update=changes)
        share_field_sets(copied)  # the case may hold it for long
        return copied

    def _assessed(self) -> Application:
        application = self.application
        if application is None:
            raise LookupError("no application to assess: personal data was destroyed")
        return application

    def assessment(self) -> Assessment:
        """The assessment on the event's date; PolicyNotInForce when L is unknown then."""
        if self._assessment is None:
            self._assessment = assess(self._assessed(), self.policy, self.on)
        return self._assessment

    def verdict(self) -> Verdict:
        """What the assessment concludes (category, reviewing body), without explaining it:
        what deciding needs unless a guard refuses (``eligibility.verdict``)."""
        if self._verdict is None:
            self._verdict = verdict(self._assessed(), self.policy, self.on)
        return self._verdict
