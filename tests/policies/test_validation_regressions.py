"""Regressions: cross-field problems listed with field problems at once; ``-0`` refused."""

from __future__ import annotations

from tests.policies.test_application_validation import base, id_born, problem_paths, text_of


def test_cross_field_problems_are_listed_with_field_problems() -> None:
    # workflow/CONTRACT.md §1: "An invalid application is refused as a whole with every problem
    # listed by
    # its path". Two selves, an accident member who is not a member and a birth date after the
    # assessment date are dropped as soon as any per-field problem exists.
    data = base()
    data["household"]["members"][1]["relation"] = "self"     # two selves
    data["accident"]["member"] = "王五"                       # not a member
    data["applicant"]["id_number"] = id_born("20250101")     # born after 2024-09-02
    data["unit"]["region"] = "无锡市"                          # a per-field problem
    assert problem_paths(data) == sorted([
        "household.members", "accident.member", "applicant.id_number", "unit.region"])


def test_negative_zero_integer_is_not_an_amount() -> None:
    # workflow/CONTRACT.md §1: amounts are judged as written in the JSON text; "signs → invalid".
    # "-0.0" and the string "-0" are refused, but the JSON integer -0 is accepted as 0
    # (json parses it to int 0 before parse_amount sees it).
    data = base()
    data["household"]["members"][1]["annual_income"] = "@@"
    text = text_of(data).replace('"@@"', "-0")
    assert problem_paths(text) == ["household.members[1].annual_income"]
