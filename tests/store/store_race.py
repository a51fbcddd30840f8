"""One of the racing processes of test_store_concurrency.py (a module of its own so that the
spawned processes import only what they need)."""

from __future__ import annotations

import traceback
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import ConcurrencyConflict, JiekunError

# The setup leaves every case in preliminary_review at version 2 (submit, start).
SETUP_VERSION = 2
AT = "2024-01-09T10:00:00+08:00"
COMMANDS: list[tuple[str, str, dict[str, str]]] = [
    ("pass_preliminary_review", "union", {}),
    ("reject_preliminary", "union", {"reason": "收入材料不实"}),
    ("request_supplement", "union", {"reason": "补充收入证明"}),
    ("withdraw", "worker", {}),
    ("start_preliminary_review", "union", {}),  # valid again only after a supplement
]


def plan(process: int, k: int) -> list[tuple[str, str, dict[str, str], int | None]]:
    """The commands process ``process`` sends to the k-th case: two different ones, the
    first with the version it saw at the start when the process number is odd."""
    first, second = COMMANDS[(process + k) % 5], COMMANDS[(process + k + 2) % 5]
    expected = SETUP_VERSION if process % 2 else None
    return [(*first, expected), (*second, None)]


def race(url: str, process: int, cases: list[tuple[str, str]], union_org: str,
         barrier: Any, results: Any) -> None:
    """Fire the plan on every case (same order in every process, so they collide); report
    every outcome."""
    try:
        from datetime import datetime

        from jiekun.workflow.engine import Engine

        engine = Engine.open(url)
        when = datetime.fromisoformat(AT)
        sent = 0
        accepted: list[tuple[str, int, str]] = []
        conflicts = 0
        refusals: dict[str, int] = {}
        unexpected: list[str] = []
        barrier.wait(timeout=120)
        for k, (case_id, applicant) in enumerate(cases):
            for trigger, who, data, expected in plan(process, k):
                actor = (Actor("worker", id_number=applicant) if who == "worker"
                         else Actor("grassroots_union", org=union_org))
                sent += 1
                try:
                    event = engine.fire(case_id, trigger, actor, when, data,
                                        expected_version=expected)
                except ConcurrencyConflict:
                    conflicts += 1
                except JiekunError as refusal:
                    refusals[refusal.rule] = refusals.get(refusal.rule, 0) + 1
                except Exception as error:  # never silence: the test fails on any of these
                    unexpected.append(f"{case_id} {trigger}: {error!r}")
                else:
                    accepted.append((event.case_id, event.seq, event.trigger))
        engine.store.engine.dispose()
        results.put({"process": process, "sent": sent, "accepted": accepted,
                     "conflicts": conflicts, "refusals": refusals, "unexpected": unexpected})
    except BaseException:
        results.put({"process": process, "crash": traceback.format_exc()})
