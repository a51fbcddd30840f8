"""policies/RULES.md §1.1 routing (every category × region × unit kind, unit null by
residence, the two
written interpretations) and who may read a case (workflow/CONTRACT.md §2, actors)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from jiekun.policies.application import Application, validate_application
from jiekun.policies.authorization import Actor, Parties, may_read
from jiekun.policies.eligibility import assess
from jiekun.policies.policy_file import Policy
from jiekun.policies.routing import BODY_NAMES, reviewing_body

ON = date(2024, 9, 2)
REGIONS = ("梁溪区", "锡山区", "惠山区", "滨湖区", "新吴区", "经开区", "江阴市", "宜兴市")
DISTRICT = {"梁溪区": "liangxi", "锡山区": "xishan", "惠山区": "huishan", "滨湖区": "binhu",
            "新吴区": "xinwu", "经开区": "wuxi-city", "江阴市": "jiangyin", "宜兴市": "yixing"}
UNIT_KINDS = ("enterprise", "other", "city_bureau_company", "city_direct_unit", None)
FEDERATIONS = ("wuxi-city", "liangxi", "xishan", "huishan", "binhu", "xinwu", "jiangyin",
               "yixing")
APPLICANT_ID = "11010519491231002X"


def expected_body(category: str, location: str, kind: str | None) -> str:
    """The §1.1 table, written out. ``location`` is the unit's region, or the residence's."""
    if category == "deep":
        # any location except 江阴/宜兴 → the city; those two cities review their own deep
        # cases, whatever the unit kind (interpretation 1)
        return {"江阴市": "jiangyin", "宜兴市": "yixing"}.get(location, "wuxi-city")
    # relative / accident: 经开区 or a city bureau / direct unit → the city (the unit kind wins,
    # also in 江阴/宜兴: interpretation 2); otherwise the location's federation
    if kind in ("city_bureau_company", "city_direct_unit"):
        return "wuxi-city"
    return DISTRICT[location]


# Households per category under L = 1115, n = 1, no rigid expenses:
#   deep:     Y = 12000 → I = N = 1000 < L
#   relative: Y = 20000 → I = N = 1666.67 ≥ L, ≤ 2L
#   accident: Y = 40200 → I = 3350 > 3L = 3345; A = 1200 → N_a = 3250 < 3L
HOUSEHOLDS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "deep": ("12000", None),
    "relative": ("20000", None),
    "accident": ("40200", {"kind": "accidental_injury", "member": "王芳",
                           "occurred_on": "2024-05-01", "necessary_expenses": "1500",
                           "compensation_received": "300"}),
}


def application(category: str, unit_region: str | None, kind: str | None,
                residence: str) -> Application:
    income, accident = HOUSEHOLDS[category]
    unit = None if kind is None else {"name": "某单位", "kind": kind, "region": unit_region}
    data = {
        "applicant": {"name": "王芳", "id_number": APPLICANT_ID, "phone": "13900000000",
                      "union_member": False, "employment": "flexible"},
        "grassroots_union": "gu-test-001",
        "unit": unit,
        "residence": {"region": residence, "community": "某社区"},
        "household": {"members": [{"name": "王芳", "relation": "self",
                                   "annual_income": income}],
                      "rigid_expenses": []},
        "accident": accident,
        "declared_category": category,
    }
    return validate_application(data, ON)


def _other_region(region: str) -> str:
    # a residence that would route differently from the unit's region for every category
    return "宜兴市" if region != "宜兴市" else "梁溪区"


TABLE = [(c, r, k) for c in ("deep", "relative", "accident") for r in REGIONS for k in UNIT_KINDS]


@pytest.mark.parametrize(("category", "region", "kind"), TABLE, ids=str)
def test_routing_table(category: str, region: str, kind: str | None, policy: Policy) -> None:
    if kind is None:
        # no unit: the residence's region decides
        app = application(category, None, None, region)
    else:
        # with a unit: the unit's region decides, never the residence's
        app = application(category, region, kind, _other_region(region))
    expected = expected_body(category, region, kind)
    assert reviewing_body(category, app) == expected
    assessed = assess(app, policy, ON)
    assert assessed.category == category
    assert assessed.reviewing_body == expected
    assert assessed.as_json()["reviewing_body"] == {"code": expected,
                                                    "name": BODY_NAMES[expected]}


@pytest.mark.parametrize(("category", "region", "kind", "body"), [
    # interpretation 1: deep at a city bureau / direct unit located in 江阴/宜兴 → that city
    ("deep", "江阴市", "city_bureau_company", "jiangyin"),
    ("deep", "江阴市", "city_direct_unit", "jiangyin"),
    ("deep", "宜兴市", "city_bureau_company", "yixing"),
    ("deep", "宜兴市", "city_direct_unit", "yixing"),
    # interpretation 2: relative / accident at such a unit in 江阴/宜兴 → the city
    ("relative", "江阴市", "city_bureau_company", "wuxi-city"),
    ("relative", "宜兴市", "city_direct_unit", "wuxi-city"),
    ("accident", "江阴市", "city_direct_unit", "wuxi-city"),
    ("accident", "宜兴市", "city_bureau_company", "wuxi-city"),
    # 经开区 with or without a unit → the city, for every category
    ("relative", "经开区", "enterprise", "wuxi-city"),
    ("accident", "经开区", None, "wuxi-city"),
    ("deep", "经开区", None, "wuxi-city"),
    # a deep case in a district goes to the city, not the district
    ("deep", "滨湖区", "enterprise", "wuxi-city"),
    ("deep", "梁溪区", None, "wuxi-city"),
    ("relative", "梁溪区", None, "liangxi"),
    ("accident", "新吴区", "other", "xinwu"),
])
def test_written_interpretations(category: str, region: str, kind: str | None, body: str,
                                 policy: Policy) -> None:
    app = (application(category, None, None, region) if kind is None
           else application(category, region, kind, "滨湖区"))
    assert reviewing_body(category, app) == body
    assert assess(app, policy, ON).reviewing_body == body


def test_unit_region_beats_residence(policy: Policy) -> None:
    # unit in 梁溪区, living in 宜兴市
    assert reviewing_body("relative", application("relative", "梁溪区", "enterprise", "宜兴市")) \
        == "liangxi"
    assert reviewing_body("deep", application("deep", "梁溪区", "enterprise", "宜兴市")) \
        == "wuxi-city"
    # unit in 江阴市, living in 梁溪区
    assert reviewing_body("deep", application("deep", "江阴市", "other", "梁溪区")) == "jiangyin"
    assert reviewing_body("accident", application("accident", "江阴市", "other", "梁溪区")) \
        == "jiangyin"


def test_no_category_no_reviewing_body(policy: Policy) -> None:
    app = application("deep", "江阴市", "enterprise", "江阴市")
    data = app.as_json()
    data["household"]["members"][0]["annual_income"] = "60000"  # I = 5000 > 4L
    assessed = assess(validate_application(data, ON), policy, ON)
    assert assessed.category is None
    assert assessed.reviewing_body is None
    assert assessed.as_json()["reviewing_body"] is None


# --- who may read a case ------------------------------------------------------------------------

PARTIES = Parties(applicant_id=APPLICANT_ID, grassroots_union="gu-test-001",
                  reviewing_body="binhu")


@pytest.mark.parametrize("org", FEDERATIONS)
def test_federation_reads_the_cases_it_reviews_and_the_city_all(org: str) -> None:
    assert may_read(Actor("federation", org), PARTIES) is (org in ("binhu", "wuxi-city"))


@pytest.mark.parametrize("body", FEDERATIONS)
def test_wuxi_city_reads_every_case(body: str) -> None:
    parties = Parties(APPLICANT_ID, "gu-test-001", body)
    assert may_read(Actor("federation", "wuxi-city"), parties)
    assert may_read(Actor("federation", body), parties)
    others = [f for f in FEDERATIONS if f not in (body, "wuxi-city")]
    assert not any(may_read(Actor("federation", f), parties) for f in others)


def test_federation_before_a_reviewing_body_is_assigned() -> None:
    parties = Parties(APPLICANT_ID, "gu-test-001", None)
    assert may_read(Actor("federation", "wuxi-city"), parties)
    assert not may_read(Actor("federation", "binhu"), parties)
    assert not may_read(Actor("federation"), parties)


def test_federation_org_must_be_a_federation_or_the_body() -> None:
    assert not may_read(Actor("federation", "gu-test-001"), PARTIES)
    assert not may_read(Actor("federation", None), PARTIES)


@pytest.mark.parametrize(("org", "allowed"), [
    ("gu-test-001", True), ("gu-test-002", False), ("binhu", False), ("wuxi-city", False),
    (None, False), ("GU-TEST-001", False),
])
def test_grassroots_union_reads_its_own(org: str | None, allowed: bool) -> None:
    assert may_read(Actor("grassroots_union", org), PARTIES) is allowed


@pytest.mark.parametrize(("id_number", "allowed"), [
    (APPLICANT_ID, True),
    ("11010519491231002x", True),      # the same id written with a lower-case x
    ("440524190001010014", False),     # another person
    (None, False),
])
def test_worker_reads_their_own(id_number: str | None, allowed: bool) -> None:
    assert may_read(Actor("worker", id_number=id_number), PARTIES) is allowed


def test_worker_org_is_not_an_identity() -> None:
    assert not may_read(Actor("worker", org="gu-test-001"), PARTIES)


@pytest.mark.parametrize("parties", [
    PARTIES, Parties(None, None, None), Parties("440524190001010014", "gu-x", "yixing")])
def test_auditor_reads_everything(parties: Parties) -> None:
    assert may_read(Actor("auditor"), parties)
    assert may_read(Actor("auditor", "audit-office"), parties)


@pytest.mark.parametrize("role", ["public", "Auditor", "", "admin"])
def test_unknown_roles_read_nothing(role: str) -> None:
    assert not may_read(Actor(role, "wuxi-city", APPLICANT_ID), PARTIES)
