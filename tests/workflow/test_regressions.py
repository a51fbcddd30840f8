"""Regressions found by the trigger tests: retention after a readmission from exit, and a
new household that drops the accident's member."""

from __future__ import annotations

import pytest

from jiekun.policies.application import validate_application
from jiekun.policies.errors import InvalidPayload
from jiekun.states import TimerKind
from jiekun.workflow.decider import Decider
from tests.workflow.builders import at, drive_to, fed, household, union, worker


def _readmitted_after_exit(decider: Decider):
    # exited 2024-12-20 02:05 (retention due 2034-12-20); relapse, readmitted to review
    d = drive_to(decider, "re_entered", came_from="exited")
    d.fire("readmit", fed("binhu"), {"household": household("relative")},
           when=at(2025, 3, 3, 9))
    return d


def test_rejection_after_readmission_keeps_ten_years_from_the_decision(decider):
    # policies/RULES.md R-RETENTION: rejected applications are kept 10 years from the decision
    d = _readmitted_after_exit(decider)
    d.fire("reject_preliminary", union(), {"reason": "x"}, when=at(2025, 3, 4, 9))
    assert d.due(TimerKind.RETENTION) == at(2035, 3, 4)


def test_withdrawal_after_readmission_keeps_ten_years_from_the_decision(decider):
    d = _readmitted_after_exit(decider)
    d.fire("withdraw", worker(), when=at(2025, 3, 4, 9))
    assert d.due(TimerKind.RETENTION) == at(2035, 3, 4)


def test_cancel_after_re_archival_keeps_ten_years_from_the_cancellation(decider):
    # policies/RULES.md, Time: retention runs from "the date of the cancellation"
    d = _readmitted_after_exit(decider)
    d.fire("pass_preliminary_review", union())
    d.fire_timer("unit_publicity_ended", TimerKind.UNIT_PUBLICITY)
    d.fire("approve", fed("binhu"))
    d.fire_timer("media_publicity_ended", TimerKind.MEDIA_PUBLICITY)
    d.fire("cancel", fed("binhu"), {"reason": "deceased"}, when=at(2025, 6, 2, 9))
    assert d.due(TimerKind.RETENTION) == at(2035, 6, 2)


def test_new_household_without_the_accident_member_is_e_payload(decider):
    # workflow/CONTRACT.md §1: accident.member is the name of a member; §2: a payload household
    # replaces application.household, an absent `accident` key keeps the application's accident
    d = drive_to(decider, "under_recheck", "accident")  # accident of member 李梅
    h = household("accident")
    h["members"][1]["name"] = "张三"  # 李梅 is no longer a member
    with pytest.raises(InvalidPayload):
        d.fire("confirm_eligibility", fed("binhu"), {"household": h})
    # the case keeps an application that workflow/CONTRACT.md §1 accepts
    assert d.case is not None and d.case.application is not None
    validate_application(d.case.application.as_json())
