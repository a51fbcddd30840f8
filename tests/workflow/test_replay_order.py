"""workflow/CONTRACT.md §2–3: time must not go backwards within a case (E-ORDER, checked first), the
other cases go on, order is per case when cases interleave, and blank lines are ignored while
line numbers keep counting them."""

from __future__ import annotations

from pathlib import Path

from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

CASES = Path(__file__).parents[1] / "cases" / "histories"


def _lines(name: str) -> list[str]:
    return [line for line in (CASES / name).read_text("utf-8").splitlines() if line.strip()]


def test_time_going_backwards_is_e_order_and_the_other_cases_go_on(decider: Decider) -> None:
    c1 = _lines("01-deep-happy-path-to-archive.jsonl")  # 6 lines, C-1
    c4 = _lines("04-objections-in-unit-publicity.jsonl")[:5]  # C-4 to rejected
    # C-1's third line moved back to before its second: 2024-01-08T11:00 → 09:30, i.e.
    # before start_preliminary_review at 10:00 (and it is a guard-free pass otherwise).
    backwards = c1[2].replace("2024-01-08T11:00:00+08:00", "2024-01-08T09:30:00+08:00")
    # interleaved: C-1 line, C-4 lines, the backward line at file line 8, C-4's last
    lines = [c1[0], c1[1], *c4[:4], "", backwards, c4[4], *c1[3:]]
    report = replay(lines, decider).as_json()
    c1_report = report["cases"]["C-1"]
    assert c1_report["violation"]["rule"] == "E-ORDER"
    assert c1_report["violation"]["line"] == 8  # the blank line 7 still counts
    assert (c1_report["state"], c1_report["events_applied"]) == ("preliminary_review", 2)
    assert report["cases"]["C-4"]["state"] == "rejected"
    assert report["cases"]["C-4"]["violation"] is None and report["violations"] == 1


def test_e_order_comes_before_every_other_check(decider: Decider) -> None:
    c1 = _lines("01-deep-happy-path-to-archive.jsonl")
    # a trigger not allowed in the state, by a wrong actor, and earlier in time: E-ORDER wins
    bad = ('{"case": "C-1", "at": "2024-01-01T00:00:00+08:00", "event": "approve", '
           '"actor": {"role": "auditor"}}')
    report = replay([*c1[:2], bad], decider).as_json()
    assert report["cases"]["C-1"]["violation"]["rule"] == "E-ORDER"


def test_equal_times_are_not_backwards(decider: Decider) -> None:
    c1 = _lines("01-deep-happy-path-to-archive.jsonl")
    same = c1[1].replace("2024-01-08T10:00:00+08:00", "2024-01-08T09:00:00+08:00")
    report = replay([c1[0], same], decider).as_json()
    assert report["cases"]["C-1"]["violation"] is None
    assert report["cases"]["C-1"]["state"] == "preliminary_review"
