"""Regression: the archive number's date is the Asia/Shanghai date of the event, whatever
offset its time is written in (policies/RULES.md, Time: "All dates are Asia/Shanghai"); the same
history with ``Z`` times replays to the same cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from jiekun.policies.deadlines import SHANGHAI
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

UNION = {"role": "grassroots_union", "org": "gu-prop-a"}
BINHU = {"role": "federation", "org": "binhu"}
SYSTEM = {"role": "system"}
APPLICATION = {
    "applicant": {"name": "王强", "id_number": "320211197903155166", "phone": "13900000001",
                  "union_member": False, "employment": "laid_off"},
    "grassroots_union": "gu-prop-a",
    "unit": {"name": "测试企业", "kind": "enterprise", "region": "滨湖区"},
    "residence": {"region": "滨湖区", "community": "测试社区"},
    "household": {"members": [
        {"name": "王强", "relation": "self", "annual_income": "50000"},
        {"name": "李梅", "relation": "spouse", "annual_income": "10000"}],
        "rigid_expenses": [{"kind": "medical_self_pay", "annual_amount": "10000"}]},
    "accident": None,
    "declared_category": "relative",
}
STEPS = [
    (datetime(2024, 3, 4, 9, 0), "submit", UNION, APPLICATION),
    (datetime(2024, 3, 4, 10, 0), "start_preliminary_review", UNION, None),
    (datetime(2024, 3, 4, 11, 0), "pass_preliminary_review", UNION, None),
    (datetime(2024, 3, 12, 0, 30), "unit_publicity_ended", SYSTEM, None),
    (datetime(2024, 3, 12, 9, 0), "approve", BINHU, None),
    (datetime(2024, 3, 20, 0, 30), "media_publicity_ended", SYSTEM, None),  # 03-19 16:30 UTC
]


def _lines(tz: object) -> list[str]:
    out = []
    for local, trigger, actor, data in STEPS:
        at = local.replace(tzinfo=SHANGHAI).astimezone(tz)  # type: ignore[arg-type]
        line = {"case": "C-1", "at": at.isoformat(), "event": trigger, "actor": actor}
        if data is not None:
            line["data"] = data
        out.append(json.dumps(line, ensure_ascii=False))
    return out


def test_same_instants_in_another_offset_give_the_same_archive_number() -> None:
    decider = Decider()
    shanghai = replay(_lines(SHANGHAI), decider).cases["C-1"].case
    utc = replay(_lines(UTC), decider).cases["C-1"].case
    assert shanghai.state == utc.state == "archived"
    # The archive was opened on 2024-03-20 in Wuxi, whichever offset the file uses.
    assert shanghai.archive_number == "WX-binhu-20240320-C-1"
    assert utc.archive_number == shanghai.archive_number  # fails: WX-binhu-20240319-C-1
