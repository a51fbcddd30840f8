"""Cases for the store's tests: applications, actors, and the timelines of the worked histories
(tests/cases/histories 01 and 05, whose times the expected reports vouch for)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text

from jiekun.persistence.schema import metadata
from jiekun.policies.authorization import Actor
from jiekun.policies.resident_id import check_character
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import Event

HISTORIES = Path(__file__).resolve().parents[1] / "cases" / "histories"
GU = "gu-test-001"
SYSTEM = Actor("system")
CITY = Actor("federation", org="wuxi-city")
XINWU = Actor("federation", org="xinwu")
AUDITOR = Actor("auditor")


def at(text_: str) -> datetime:
    moment = datetime.fromisoformat(text_)
    assert moment.utcoffset() is not None
    return moment


def resident_id(n: int) -> str:
    """A valid 18-character id (born 1979-03-15), distinct for each n < 1000."""
    first17 = f"32021119790315{n:03d}"
    return first17 + check_character(first17)


def union(org: str = GU) -> Actor:
    return Actor("grassroots_union", org=org)


def worker(id_number: str) -> Actor:
    return Actor("worker", id_number=id_number)


def deep_application(id_number: str, org: str = GU) -> dict[str, Any]:
    """History 01's household: 12,000 a year for two = 500 a month each, under L = 1095 in
    January 2024 → deep; deep cases are reviewed by wuxi-city."""
    return {
        "applicant": {"name": "成员0", "id_number": id_number, "phone": "13900000001",
                      "union_member": True, "employment": "employed"},
        "grassroots_union": org,
        "unit": {"name": "测试企业", "kind": "enterprise", "region": "滨湖区"},
        "residence": {"region": "滨湖区", "community": "测试社区"},
        "household": {"members": [
            {"name": "成员0", "relation": "self", "annual_income": "12000"},
            {"name": "成员1", "relation": "spouse", "annual_income": "0"}],
            "rigid_expenses": []},
        "accident": None,
        "declared_category": "deep",
    }


def relative_application(id_number: str, org: str = GU) -> dict[str, Any]:
    """History 05's household in 新吴区: relative, reviewed by xinwu."""
    app = deep_application(id_number, org)
    app["unit"]["region"] = app["residence"]["region"] = "新吴区"
    app["household"] = {"members": [
        {"name": "成员0", "relation": "self", "annual_income": "40000"},
        {"name": "成员1", "relation": "spouse", "annual_income": "20000"}],
        "rigid_expenses": [{"kind": "medical_self_pay", "annual_amount": "10000"}]}
    app["declared_category"] = "relative"
    return app


# The steps to an archived case, with the times of history 01 (deep, approved by wuxi-city)
# and history 05 (relative, approved by xinwu): their expected reports say every step applies.
DEEP_STEPS = [
    ("start_preliminary_review", "union", "2024-01-08T10:00:00+08:00"),
    ("pass_preliminary_review", "union", "2024-01-08T11:00:00+08:00"),
    ("unit_publicity_ended", "system", "2024-01-16T00:05:00+08:00"),
    ("approve", "federation", "2024-01-17T09:00:00+08:00"),
    ("media_publicity_ended", "system", "2024-01-25T00:10:00+08:00"),
]
DEEP_SUBMIT = "2024-01-08T09:00:00+08:00"
RELATIVE_STEPS = [
    ("start_preliminary_review", "union", "2024-03-04T10:00:00+08:00"),
    ("pass_preliminary_review", "union", "2024-03-04T11:00:00+08:00"),
    ("unit_publicity_ended", "system", "2024-03-12T00:05:00+08:00"),
    ("approve", "federation", "2024-03-13T09:00:00+08:00"),
    ("media_publicity_ended", "system", "2024-03-21T00:10:00+08:00"),
]
RELATIVE_SUBMIT = "2024-03-04T09:00:00+08:00"


def drive(engine: Engine, case_id: str, *, relative: bool, n: int, steps: int,
          org: str = GU) -> list[Event]:
    """Submit case ``case_id`` (applicant ``resident_id(n)``) and fire the first ``steps`` steps
    of its timeline."""
    application = (relative_application if relative else deep_application)(resident_id(n), org)
    events = [engine.submit(case_id, application, union(org),
                            at(RELATIVE_SUBMIT if relative else DEEP_SUBMIT))]
    federation = XINWU if relative else CITY
    actors = {"union": union(org), "system": SYSTEM, "federation": federation}
    for trigger, who, when in (RELATIVE_STEPS if relative else DEEP_STEPS)[:steps]:
        events.append(engine.fire(case_id, trigger, actors[who], at(when)))
    return events


def history_lines(*names: str) -> list[str]:
    lines: list[str] = []
    for name in names:
        lines += [line for line in (HISTORIES / name).read_text("utf-8").splitlines()
                  if line.strip()]
    return lines


def expected_report(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HISTORIES / name).with_suffix(".expected.json")
                                        .read_text("utf-8"))
    return loaded


def report_subset(expected: dict[str, Any], cases: dict[str, Any]) -> dict[str, Any]:
    """The fields an expected report lists (as tests/test_worked_cases.py compares them)."""
    got: dict[str, Any] = {}
    for case_id, fields in expected.items():
        out = cases[case_id]
        got[case_id] = {k: out[k] for k in fields}
        if out["violation"] is not None and "violation" in fields:
            got[case_id]["violation"] = {k: out["violation"][k] for k in ("line", "rule")}
    return got


def dump_tables(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store, in a stable order (for 'nothing changed')."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in metadata.sorted_tables:
        rows = connection.execute(select(table)).all()
        out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def count(connection: Connection, table: str, where: str = "", **params: Any) -> int:
    query = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return int(connection.execute(text(query), params).scalar_one())
