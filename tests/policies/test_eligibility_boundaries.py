"""policies/RULES.md §1.2 at its boundaries: every rule exactly at its threshold and one cent
either side,
for households of 1 to 20 members, under L = 1115 (in force on 2024-09-02).

Thresholds for the whole household over the 12-month window, Y = m·L·12·n (L = 1115):
  1·L·12 = 13380    2·L·12 = 26760    3·L·12 = 40140    4·L·12 = 53520   (per member)
Inclusive rules (≤: 不超过, 以内) pass at the threshold, strict rules (<: 低于) fail there.
The cent of each ±0.01 sits on one member (the applicant); the others have round amounts.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from jiekun.policies.application import validate_application
from jiekun.policies.eligibility import Assessment, assess
from jiekun.policies.errors import PolicyNotInForce
from jiekun.policies.money import display
from jiekun.policies.policy_file import Policy

ON = date(2024, 9, 2)  # L = 1115 (from 2024-07-01)
CENT = Decimal("0.01")
SIZES = range(1, 21)
DELTAS = (Decimal("-0.01"), Decimal("0"), Decimal("0.01"))
RULE_IDS = ("R-DEEP-INCOME", "R-DEEP-NET", "R-REL-INCOME", "R-REL-NET",
            "R-ACC-EVENT", "R-ACC-INCOME", "R-ACC-NET")
RELATIONS = ("spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other")


def _amount(value: Decimal) -> str:
    assert value >= 0, value
    return str(value.quantize(CENT))


def application(per_member: Decimal = Decimal(0), n: int = 1, extra: Decimal = Decimal(0),
                rigid: Decimal | None = None, accident: dict[str, Any] | None = None,
                declared: str = "deep", union_member: bool = True,
                employment: str = "employed") -> dict[str, Any]:
    """n members with ``per_member`` each; the applicant has ``extra`` on top (the odd cent)."""
    members = [{"name": "王芳", "relation": "self", "annual_income": _amount(per_member + extra)}]
    members += [{"name": f"成员{i}", "relation": RELATIONS[i % len(RELATIONS)],
                 "annual_income": _amount(per_member)} for i in range(1, n)]
    expenses = [] if rigid is None else [{"kind": "medical_self_pay",
                                         "annual_amount": _amount(rigid)}]
    return {
        "applicant": {"name": "王芳", "id_number": "320211198001011010", "phone": "13900000000",
                      "union_member": union_member, "employment": employment},
        "grassroots_union": "gu-test-001",
        "unit": {"name": "测试单位", "kind": "enterprise", "region": "滨湖区"},
        "residence": {"region": "滨湖区", "community": "测试社区"},
        "household": {"members": members, "rigid_expenses": expenses},
        "accident": accident,
        "declared_category": declared,
    }


def accident_of(expenses: Decimal, compensation: Decimal = Decimal(0),
                occurred_on: date = date(2024, 3, 1)) -> dict[str, Any]:
    return {"kind": "major_illness", "member": "王芳", "occurred_on": occurred_on.isoformat(),
            "necessary_expenses": _amount(expenses),
            "compensation_received": _amount(compensation)}


def run(data: dict[str, Any], policy: Policy, on: date = ON) -> Assessment:
    return assess(validate_application(data, on), policy, on)


def result(assessment: Assessment, rule_id: str) -> Any:
    found = [r for r in assessment.rules if r.id == rule_id]
    assert len(found) == 1, [r.id for r in assessment.rules]
    return found[0]


def test_every_rule_is_listed_once(policy: Policy) -> None:
    a = run(application(Decimal(0)), policy)
    assert sorted(r.id for r in a.rules) == sorted(RULE_IDS)
    assert all(r.citation == "§1.2" for r in a.rules)


# --- the six income rules at the threshold and one cent either side ---------------------------

@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_deep_income_at_most_2L(n: int, delta: Decimal, policy: Policy) -> None:
    # Y = 26760·n + δ; E = 26760·n so that N = δ/12n < L (the net rules all pass):
    # deep iff Y ≤ 2L·12·n, i.e. δ ≤ 0; otherwise relative (I ≈ 2L ≤ 3L, N ≈ 0 ≤ 2L).
    a = run(application(Decimal(26760), n, delta, rigid=Decimal(26760 * n)), policy)
    passed = delta <= 0
    rule = result(a, "R-DEEP-INCOME")
    assert rule.passed is passed
    assert "2230.00" in rule.figures.values()  # the limit 2 × 1115
    assert result(a, "R-DEEP-NET").passed
    assert a.qualifies == {"deep": passed, "relative": True, "accident": False}
    assert a.category == ("deep" if passed else "relative")


@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_deep_net_below_L(n: int, delta: Decimal, policy: Policy) -> None:
    # Y = 13380·n + δ, E = 0: N = L + δ/12n; deep net iff N < L, i.e. δ < 0 (strict: 低于).
    # Otherwise relative: I = N ≈ L ≤ 3L and ≤ 2L.
    a = run(application(Decimal(13380), n, delta), policy)
    passed = delta < 0
    rule = result(a, "R-DEEP-NET")
    assert rule.passed is passed
    assert "1115.00" in rule.figures.values()
    assert result(a, "R-DEEP-INCOME").passed
    assert a.qualifies == {"deep": passed, "relative": True, "accident": False}
    assert a.category == ("deep" if passed else "relative")


@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_relative_income_at_most_3L(n: int, delta: Decimal, policy: Policy) -> None:
    # Y = 40140·n + δ, E = 40140·n (N = δ/12n): deep fails on income (3L > 2L);
    # relative iff I ≤ 3L, i.e. δ ≤ 0; no accident declared, so otherwise no category.
    a = run(application(Decimal(40140), n, delta, rigid=Decimal(40140 * n),
                        declared="relative"), policy)
    passed = delta <= 0
    rule = result(a, "R-REL-INCOME")
    assert rule.passed is passed
    assert "3345.00" in rule.figures.values()
    assert result(a, "R-REL-NET").passed
    assert not result(a, "R-DEEP-INCOME").passed
    assert a.qualifies == {"deep": False, "relative": passed, "accident": False}
    assert a.category == ("relative" if passed else None)
    assert a.reviewing_body == ("binhu" if passed else None)


@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_relative_net_at_most_2L(n: int, delta: Decimal, policy: Policy) -> None:
    # Y = 26760·n + δ, E = 0: N = 2L + δ/12n; deep net fails (N ≥ L);
    # relative iff N ≤ 2L, i.e. δ ≤ 0 (以内 is inclusive). An accident with A = 1000 is declared:
    # I ≤ 4L and N_a = (Y − 1000)/12n < 3L, so the household falls through to accident.
    acc = accident_of(Decimal(1000))
    a = run(application(Decimal(26760), n, delta, accident=acc, declared="relative"), policy)
    passed = delta <= 0
    rule = result(a, "R-REL-NET")
    assert rule.passed is passed
    assert "2230.00" in rule.figures.values()
    assert result(a, "R-REL-INCOME").passed
    assert not result(a, "R-DEEP-NET").passed
    assert a.qualifies == {"deep": False, "relative": passed, "accident": True}
    assert a.category == ("relative" if passed else "accident")


@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_accident_income_at_most_4L(n: int, delta: Decimal, policy: Policy) -> None:
    # Y = 53520·n + δ, accident cost A = 26760·n so N_a = 2L + δ/12n < 3L;
    # accident iff I ≤ 4L, i.e. δ ≤ 0. Relative fails on income (4L > 3L).
    acc = accident_of(Decimal(26760 * n))
    a = run(application(Decimal(53520), n, delta, accident=acc, declared="accident"), policy)
    passed = delta <= 0
    rule = result(a, "R-ACC-INCOME")
    assert rule.passed is passed
    assert "4460.00" in rule.figures.values()
    assert result(a, "R-ACC-NET").passed and result(a, "R-ACC-EVENT").passed
    assert a.qualifies == {"deep": False, "relative": False, "accident": passed}
    assert a.category == ("accident" if passed else None)


@pytest.mark.parametrize("delta", DELTAS, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_accident_net_below_3L_after_the_accident_cost_only(n: int, delta: Decimal,
                                                            policy: Policy) -> None:
    # Y = 40140·n + 5000 + δ; A = 8000 − 3000 = 5000, so Y − A = 40140·n + δ:
    # N_a < 3L iff δ < 0 (低于 is strict). A rigid expenditure E = 1000 is declared and must NOT
    # be deducted from N_a (policies/RULES.md §1.2, N_a): were it deducted, δ = 0 and δ = +0.01
    # would pass. I = 3L + (5000 + δ)/12n > 3L: relative fails; I ≤ 4L: accident income passes.
    acc = accident_of(Decimal(8000), Decimal(3000))
    a = run(application(Decimal(40140), n, Decimal(5000) + delta, rigid=Decimal(1000),
                        accident=acc, declared="accident"), policy)
    passed = delta < 0
    rule = result(a, "R-ACC-NET")
    assert rule.passed is passed
    assert "3345.00" in rule.figures.values()
    assert result(a, "R-ACC-INCOME").passed and result(a, "R-ACC-EVENT").passed
    assert not result(a, "R-REL-INCOME").passed
    assert a.qualifies == {"deep": False, "relative": False, "accident": passed}
    assert a.category == ("accident" if passed else None)
    # N_a = (40140·n + δ) / 12n = 3345 + δ/12n, displayed to the cent: 3345.00 for every n
    assert a.as_json()["per_capita_net_income_after_accident"] == "3345.00"


@pytest.mark.parametrize("offset", (-1, 0, 1))
@pytest.mark.parametrize("n", SIZES)
def test_accident_event_not_after_the_assessment_date(n: int, offset: int,
                                                      policy: Policy) -> None:
    # Y = 40200·n: I = 3350 > 3L = 3345 (relative fails), ≤ 4L; A = 1200·n: N_a = 3250 < 3345.
    # The accident counts when it occurred on or before the assessment date.
    acc = accident_of(Decimal(1200 * n), occurred_on=ON + timedelta(days=offset))
    a = run(application(Decimal(40200), n, accident=acc, declared="accident"), policy)
    passed = offset <= 0
    assert result(a, "R-ACC-EVENT").passed is passed
    assert result(a, "R-ACC-INCOME").passed and result(a, "R-ACC-NET").passed
    assert a.qualifies == {"deep": False, "relative": False, "accident": passed}
    assert a.category == ("accident" if passed else None)


def test_no_accident_declared_fails_every_accident_rule_that_needs_one(policy: Policy) -> None:
    a = run(application(Decimal(40200)), policy)
    assert not result(a, "R-ACC-EVENT").passed
    assert not result(a, "R-ACC-NET").passed
    assert a.as_json()["per_capita_net_income_after_accident"] is None


def test_compensation_above_cost_gives_zero_accident_cost(policy: Policy) -> None:
    # A = max(0, 1000 − 5000) = 0: N_a = Y/12 = 3345 exactly, which is not < 3L.
    a = run(application(Decimal(40140), accident=accident_of(Decimal(1000), Decimal(5000)),
                        declared="accident"), policy)
    assert a.as_json()["per_capita_net_income_after_accident"] == "3345.00"
    assert not result(a, "R-ACC-NET").passed


# --- the order deep → relative → accident ------------------------------------------------------

@pytest.mark.parametrize(("income", "rigid", "accident", "qualifies", "category"), [
    # Y = 12000, n = 1: I = N = 1000 (deep, relative, accident all qualify) → deep
    (Decimal(12000), None, accident_of(Decimal(100)), (True, True, True), "deep"),
    # Y = 20000: I = N = 1666.67 ≥ L: relative and accident → relative
    (Decimal(20000), None, accident_of(Decimal(100)), (False, True, True), "relative"),
    # Y = 12000, no accident: deep and relative → deep
    (Decimal(12000), None, None, (True, True, False), "deep"),
    # Y = 40200: I = 3350 > 3L; A = 1200: N_a = 3250 < 3L → accident only
    (Decimal(40200), None, accident_of(Decimal(1200)), (False, False, True), "accident"),
    # Y = 53520.01: I > 4L → nothing
    (Decimal("53520.01"), None, accident_of(Decimal(50000)), (False, False, False), None),
    # Y = 30000, E = 20000: I = 2500 > 2L fails deep though N = 833.33 < L → relative
    (Decimal(30000), Decimal(20000), None, (False, True, False), "relative"),
])
def test_first_qualifying_category_in_order(income: Decimal, rigid: Decimal | None,
                                            accident: dict[str, Any] | None,
                                            qualifies: tuple[bool, bool, bool],
                                            category: str | None, policy: Policy) -> None:
    a = run(application(income, rigid=rigid, accident=accident), policy)
    assert a.qualifies == dict(zip(("deep", "relative", "accident"), qualifies, strict=True))
    assert a.category == category
    out = a.as_json()
    assert out["category"] == category
    if category is None:
        assert out["reviewing_body"] is None
    else:
        assert out["reviewing_body"]["code"] == ("wuxi-city" if category == "deep" else "binhu")


# --- the minimum living standard in force, switching on 1 July ---------------------------------

@pytest.mark.parametrize(("on", "amount"), [
    (date(2023, 11, 3), Decimal(1095)),
    (date(2024, 6, 30), Decimal(1095)),
    (date(2024, 7, 1), Decimal(1115)),
    (date(2025, 6, 30), Decimal(1115)),
    (date(2025, 7, 1), Decimal(1167)),
    (date(2026, 6, 30), Decimal(1167)),
])
def test_living_standard_on(on: date, amount: Decimal, policy: Policy) -> None:
    assert policy.living_standard_on(on).amount == amount
    a = run(application(Decimal(0)), policy, on)
    assert a.as_json()["living_standard"] == f"{amount}.00"


@pytest.mark.parametrize(("on", "income", "passed"), [
    # n = 1, E = Y. Until 2024-06-30 L = 1095: 2·1095·12 = 26280, so 26760 (2·1115·12) fails
    (date(2024, 6, 30), Decimal(26280), True),
    (date(2024, 6, 30), Decimal("26280.01"), False),
    (date(2024, 6, 30), Decimal(26760), False),
    (date(2024, 7, 1), Decimal(26760), True),    # 2·1115·12 = 26760
    (date(2024, 7, 1), Decimal("26760.01"), False),
    (date(2025, 6, 30), Decimal(28008), False),  # 2·1167·12 = 28008 > 26760
    (date(2025, 7, 1), Decimal(28008), True),
    (date(2025, 7, 1), Decimal("28008.01"), False),
])
def test_standard_used_is_the_one_in_force_that_day(on: date, income: Decimal, passed: bool,
                                                    policy: Policy) -> None:
    a = run(application(income, rigid=income), policy, on)
    assert result(a, "R-DEEP-INCOME").passed is passed


@pytest.mark.parametrize("on", [date(2023, 11, 2), date(2023, 7, 1), date(2020, 1, 1),
                                date(2026, 7, 1), date(2027, 1, 1)])
def test_outside_the_policy_is_an_error(on: date, policy: Policy) -> None:
    with pytest.raises(PolicyNotInForce) as error:
        policy.living_standard_on(on)
    assert error.value.rule == "E-POLICY"
    with pytest.raises(PolicyNotInForce):
        run(application(Decimal(0)), policy, on)


# --- display: two decimals, half away from zero, negatives, zero ------------------------------

@pytest.mark.parametrize(("value", "shown"), [
    (Fraction(0), "0.00"),
    (Decimal("0"), "0.00"),
    (Fraction(1, 200), "0.01"),         # 0.005 → 0.01
    (Fraction(-1, 200), "-0.01"),       # −0.005 → −0.01 (away from zero)
    (Fraction(499, 100000), "0.00"),    # 0.00499
    (Fraction(-499, 100000), "0.00"),   # rounds to zero: no "-0.00"
    (Decimal("-125.5"), "-125.50"),
    (Decimal("2.345"), "2.35"),
    (Decimal("-2.345"), "-2.35"),
    (Decimal("2.3449"), "2.34"),
    (Fraction(100, 36), "2.78"),        # 2.777…
    (Fraction(-100, 36), "-2.78"),
    (Decimal("1115"), "1115.00"),
    (Decimal("100000000"), "100000000.00"),
])
def test_display(value: Fraction | Decimal, shown: str) -> None:
    assert display(value) == shown


@pytest.mark.parametrize(("n", "income", "rigid", "i_shown", "n_shown"), [
    (1, Decimal("1200.06"), None, "100.01", "100.01"),          # 1200.06/12 = 100.005
    (1, Decimal(0), Decimal("1200.06"), "0.00", "-100.01"),      # −100.005 away from zero
    (1, Decimal(0), Decimal(1506), "0.00", "-125.50"),           # −1506/12
    (1, Decimal(0), None, "0.00", "0.00"),
    (3, Decimal("0.06"), None, "0.01", "0.01"),                  # 0.18/36 = 0.005
    (3, Decimal(0), Decimal("0.17"), "0.00", "0.00"),            # −0.17/36 = −0.0047
])
def test_figures_as_displayed(n: int, income: Decimal, rigid: Decimal | None, i_shown: str,
                              n_shown: str, policy: Policy) -> None:
    # ``income`` is per member: Y = n·income
    out = run(application(income, n, rigid=rigid), policy).as_json()
    assert out["per_capita_income"] == i_shown
    assert out["per_capita_net_income"] == n_shown
    assert out["living_standard"] == "1115.00"


def test_negative_net_income_after_accident_is_shown_negative(policy: Policy) -> None:
    # Y = 0, A = 1506 − 0: N_a = −1506/12 = −125.50
    out = run(application(Decimal(0), accident=accident_of(Decimal(1506))), policy).as_json()
    assert out["per_capita_net_income_after_accident"] == "-125.50"


# --- what never changes the result -------------------------------------------------------------

def _without_notes(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k != "notes"}


@pytest.mark.parametrize(("income", "assessed"), [
    (Decimal(12000), "deep"), (Decimal(20000), "relative"), (Decimal(60000), None)])
def test_declared_category_never_changes_the_result(income: Decimal, assessed: str | None,
                                                    policy: Policy) -> None:
    outs = {}
    for declared in ("deep", "relative", "accident"):
        out = run(application(income, declared=declared), policy).as_json()
        outs[declared] = out
        assert out["category"] == assessed
        if declared == assessed:
            assert out["notes"] == []
        else:
            assert len(out["notes"]) == 1 and declared in out["notes"][0]
    first = _without_notes(outs["deep"])
    assert all(_without_notes(o) == first for o in outs.values())


@pytest.mark.parametrize("income", [Decimal(12000), Decimal(26760), Decimal(40140),
                                    Decimal("40140.01")])
def test_membership_and_employment_never_change_the_result(income: Decimal,
                                                           policy: Policy) -> None:
    # R-NONEXCL: non-members, laid-off and migrant workers are assessed like anyone else
    baseline = run(application(income), policy).as_json()
    for member in (True, False):
        for employment in ("employed", "laid_off", "migrant_worker", "flexible", "unemployed"):
            out = run(application(income, union_member=member, employment=employment),
                      policy).as_json()
            assert out == baseline, (member, employment)
