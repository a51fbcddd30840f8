"""workflow/CONTRACT.md §1: every rule of the application's field table, valid and invalid, through
``policies.json_input.loads`` + ``validate_application``; every problem reported by its path."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from jiekun.policies.application import Application, validate_application
from jiekun.policies.errors import InvalidApplication, InvalidInput
from jiekun.policies.json_input import loads

ON = date(2024, 9, 2)
REGIONS = ("梁溪区", "锡山区", "惠山区", "滨湖区", "新吴区", "经开区", "江阴市", "宜兴市")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check(first17: str) -> str:
    """GB 11643-1999, written out here independently: Σ aᵢ·wᵢ mod 11 → 1 0 X 9 8 7 6 5 4 3 2."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def id_born(birth: str) -> str:
    return with_check(f"320211{birth}101")


# workflow/CONTRACT.md §1's example id ends in 0: 320211198503124417 has the wrong check
# character: Σ aᵢ·wᵢ = 232,
# 232 mod 11 = 1 → "0". The example below uses the corrected id.
EXAMPLE_ID = "320211198503124410"


def base() -> dict[str, Any]:
    return {
        "applicant": {"name": "张伟", "id_number": EXAMPLE_ID, "phone": "13912345678",
                      "union_member": False, "employment": "laid_off"},
        "grassroots_union": "gu-binhu-huazhuang",
        "unit": {"name": "无锡某机械厂", "kind": "enterprise", "region": "滨湖区"},
        "residence": {"region": "滨湖区", "community": "华庄街道某社区"},
        "household": {
            "members": [
                {"name": "张伟", "relation": "self", "annual_income": "14400.00"},
                {"name": "李芳", "relation": "spouse", "annual_income": "0"},
            ],
            "rigid_expenses": [{"kind": "medical_self_pay", "annual_amount": "6000.00"}],
        },
        "accident": {"kind": "major_illness", "member": "李芳", "occurred_on": "2024-03-01",
                     "necessary_expenses": "20000", "compensation_received": "5000"},
        "declared_category": "deep",
    }


def text_of(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def validate_text(text: str, on: date | None = ON) -> Application:
    return validate_application(loads(text), on)


def validate(data: dict[str, Any], on: date | None = ON) -> Application:
    return validate_text(text_of(data), on)


def problem_paths(data: dict[str, Any] | str, on: date | None = ON) -> list[str]:
    text = data if isinstance(data, str) else text_of(data)
    with pytest.raises(InvalidApplication) as error:
        validate_text(text, on)
    assert error.value.rule == "E-PAYLOAD"
    assert all(p.message for p in error.value.problems)
    return sorted(p.path for p in error.value.problems)


def set_at(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def delete_at(data: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def test_the_contract_example_is_valid() -> None:
    assert with_check("32021119850312441") == EXAMPLE_ID
    app = validate(base())
    assert app.applicant.id_number == EXAMPLE_ID
    assert app.household.members[0].annual_income == Decimal("14400.00")
    assert app.accident is not None and app.accident.occurred_on == date(2024, 3, 1)


# --- enumerated and simple fields ---------------------------------------------------------------

FIELD_CASES: list[tuple[tuple[str | int, ...], list[Any], list[Any]]] = [
    (("applicant", "employment"),
     ["employed", "laid_off", "migrant_worker", "flexible", "unemployed"],
     ["retired", "Employed", "", None, 1, "laid-off"]),
    (("applicant", "union_member"), [True, False], ["true", "yes", 1, 0, None]),
    (("grassroots_union",), ["gu-binhu-huazhuang", "gu-1"], ["", "   ", None, 5, ["gu"]]),
    (("unit", "kind"), ["enterprise", "city_bureau_company", "city_direct_unit", "other"],
     ["company", "bureau", "", None]),
    (("unit", "region"), list(REGIONS),
     ["无锡市", "binhu", "滨湖区 ", "滨湖", "", None, 1]),
    (("residence", "region"), list(REGIONS),
     ["苏州市", "Liangxi", " 梁溪区", "", None]),
    (("household", "members", 1, "relation"),
     ["spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other"],
     ["friend", "Spouse", "", None]),
    (("household", "rigid_expenses", 0, "kind"),
     ["medical_self_pay", "education", "disability_rehabilitation", "housing",
      "employment_cost", "other"],
     ["food", "medical", "", None]),
    (("accident", "kind"), ["sudden_event", "accidental_injury", "major_illness"],
     ["fire", "illness", "", None]),
    (("accident", "occurred_on"), ["2024-03-01", "2024-02-29", "2020-01-01"],
     ["2024-02-30", "2023-02-29", "2024/03/01", "20240301", "2024-3-1", 20240301, "", None,
      "2024-03-01T00:00:00"]),
    (("declared_category",), ["deep", "relative", "accident"], ["none", "Deep", "", None]),
]


@pytest.mark.parametrize(("path", "value"), [(p, v) for p, good, _ in FIELD_CASES for v in good],
                         ids=str)
def test_valid_field_value(path: tuple[str | int, ...], value: Any) -> None:
    validate(set_at(base(), path, value))


@pytest.mark.parametrize(("path", "value"), [(p, v) for p, _, bad in FIELD_CASES for v in bad],
                         ids=str)
def test_invalid_field_value(path: tuple[str | int, ...], value: Any) -> None:
    assert problem_paths(set_at(base(), path, value)) == [dotted(path)]


def test_unit_and_accident_may_be_null_and_expenses_empty() -> None:
    data = base()
    data["unit"] = None
    data["accident"] = None
    data["household"]["rigid_expenses"] = []
    app = validate(data)
    assert app.unit is None and app.accident is None and app.household.rigid_expenses == []


@pytest.mark.parametrize(("path", "value"), [
    (("unit",), "none"), (("unit",), []), (("accident",), "none"), (("accident",), False),
    (("residence",), None), (("household",), None), (("applicant",), None),
    (("household", "members"), None), (("household", "rigid_expenses"), None),
    (("household", "members"), {"name": "张伟"}),
], ids=str)
def test_objects_and_lists_of_the_wrong_type(path: tuple[str | int, ...], value: Any) -> None:
    assert problem_paths(set_at(base(), path, value)) == [dotted(path)]


def test_not_an_object_at_all() -> None:
    for text in ("[]", "1", '"application"', "null"):
        with pytest.raises(InvalidApplication):
            validate_text(text)


# --- amounts ------------------------------------------------------------------------------------

AMOUNT_PATHS: list[tuple[str | int, ...]] = [
    ("household", "members", 1, "annual_income"),
    ("household", "rigid_expenses", 0, "annual_amount"),
    ("accident", "necessary_expenses"),
    ("accident", "compensation_received"),
]
GOOD_AMOUNTS = [
    ('"14400.00"', "14400.00"), ('"0"', "0"), ('"1.5"', "1.5"), ('"1.50"', "1.5"),
    ('"0.01"', "0.01"), ('"007"', "7"),
    ("0", "0"), ("14400", "14400"), ("1.5", "1.5"), ("1.50", "1.5"), ("1.10", "1.1"),
    ("2.0", "2"), ("0.01", "0.01"), ("1.500", "1.5"),
    ("100000000", "100000000"), ('"100000000"', "100000000"), ('"100000000.00"', "100000000"),
    ("100000000.00", "100000000"),
]
BAD_AMOUNTS = [
    "1.005", '"1.005"', "1e2", "1E2", "1.5e0", '"1e2"', "-1", '"-1"', "-1.5", '"+1"', "true",
    "false", '" 1"', '"1 "', '"1.0.0"', '"1,000"', '""', '"."', '"1."', '".5"', '"NaN"',
    '"Infinity"', "null", "[]", "{}", "100000000.01", '"100000000.01"', "100000001",
    '"１２"', '"0x10"', '"1_000"', '"1\\n"', '"-0"', "-0.0", '"0.001"',
]


@pytest.mark.parametrize("path", AMOUNT_PATHS, ids=dotted)
@pytest.mark.parametrize(("literal", "value"), GOOD_AMOUNTS)
def test_valid_amount(path: tuple[str | int, ...], literal: str, value: str) -> None:
    text = text_of(set_at(base(), path, "@@AMOUNT@@")).replace('"@@AMOUNT@@"', literal)
    app = validate_text(text)
    got: Any = app
    for key in path:
        got = got[key] if isinstance(key, int) else getattr(got, key)
    assert got == Decimal(value)


@pytest.mark.parametrize("path", AMOUNT_PATHS, ids=dotted)
@pytest.mark.parametrize("literal", BAD_AMOUNTS)
def test_invalid_amount(path: tuple[str | int, ...], literal: str) -> None:
    text = text_of(set_at(base(), path, "@@AMOUNT@@")).replace('"@@AMOUNT@@"', literal)
    assert problem_paths(text) == [dotted(path)]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(literal: str) -> None:
    path = ("household", "members", 1, "annual_income")
    text = text_of(set_at(base(), path, "@@AMOUNT@@")).replace('"@@AMOUNT@@"', literal)
    with pytest.raises(InvalidInput):
        validate_text(text)


# --- id numbers ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("id_number", "stored"), [
    (EXAMPLE_ID, EXAMPLE_ID),
    ("11010519491231002X", "11010519491231002X"),   # GB 11643 example, check character X
    ("11010519491231002x", "11010519491231002X"),   # lower-case x accepted, stored upper-case
    (id_born("19000101"), id_born("19000101")),     # the earliest birth date
    (id_born("20000229"), id_born("20000229")),     # 2000 is a leap year
    (id_born("20240902"), id_born("20240902")),     # born on the assessment date
])
def test_valid_id_number(id_number: str, stored: str) -> None:
    app = validate(set_at(base(), ("applicant", "id_number"), id_number))
    assert app.applicant.id_number == stored


def test_check_characters_by_hand() -> None:
    # 1·7+1·9+0+1·5+0+5·4+1·2+9·1+4·6+9·3+1·7+2·9+3·10+1·5+0+0+2·2 = 167; 167 mod 11 = 2 → X
    assert with_check("11010519491231002") == "11010519491231002X"
    # GB 11643 example 44052418800101001: 195 mod 11 = 8 → 4
    assert with_check("44052418800101001") == "440524188001010014"


@pytest.mark.parametrize("id_number", [
    "110105194912310021",          # wrong check character (X expected)
    "11010519491231002Y",
    "320211198503124417",          # wrong check digit (0 expected: workflow/CONTRACT.md §1)
    "32021119850312441x",          # x where 0 is expected
    id_born("19800230"),           # 1980-02-30 does not exist (correct check character)
    id_born("19000229"),           # 1900 is not a leap year
    id_born("19801301"),           # month 13
    id_born("19800100"),           # day 0
    id_born("18991231"),           # before 1900-01-01
    "440524188001010014",          # GB example, valid check character, born 1880
    id_born("20240903"),           # after the assessment date 2024-09-02
    id_born("20991231"),
    "32021119850312441",           # 17 characters
    "3202111985031244100",         # 19 characters
    "",
    "32021A198503124410",
    "３２０２１１１９８５０３１２４４１７",  # full-width digits
    "X20211198503124410",
])
def test_invalid_id_number(id_number: str) -> None:
    assert problem_paths(set_at(base(), ("applicant", "id_number"), id_number)) == [
        "applicant.id_number"]


def test_id_number_as_a_json_number_is_invalid() -> None:
    text = text_of(set_at(base(), ("applicant", "id_number"), "@@ID@@")).replace(
        '"@@ID@@"', EXAMPLE_ID)
    assert problem_paths(text) == ["applicant.id_number"]


def test_birth_after_the_date_depends_on_the_date() -> None:
    data = set_at(base(), ("applicant", "id_number"), id_born("20240903"))
    assert problem_paths(data, date(2024, 9, 2)) == ["applicant.id_number"]
    assert validate(data, date(2024, 9, 3)).applicant.id_number == id_born("20240903")


# --- members ------------------------------------------------------------------------------------

def members(n: int, selves: int = 1) -> list[dict[str, Any]]:
    return [{"name": f"成员{i}", "relation": "self" if i < selves else "child",
             "annual_income": "100"} for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 19, 20])
def test_member_count_valid(n: int) -> None:
    data = set_at(base(), ("household", "members"), members(n))
    data["accident"] = None
    assert len(validate(data).household.members) == n


@pytest.mark.parametrize("n", [0, 21, 30])
def test_member_count_invalid(n: int) -> None:
    data = set_at(base(), ("household", "members"), members(n))
    data["accident"] = None
    assert problem_paths(data) == ["household.members"]


@pytest.mark.parametrize(("n", "selves"), [(1, 0), (2, 0), (2, 2), (20, 3), (5, 5)])
def test_exactly_one_self(n: int, selves: int) -> None:
    data = set_at(base(), ("household", "members"), members(n, selves))
    data["accident"] = None
    assert problem_paths(data) == ["household.members"]


def test_accident_member_must_be_a_member() -> None:
    assert validate(set_at(base(), ("accident", "member"), "张伟")).accident is not None
    assert problem_paths(set_at(base(), ("accident", "member"), "王五")) == ["accident.member"]
    assert problem_paths(set_at(base(), ("accident", "member"), "")) == ["accident.member"]


# --- unknown and missing fields -----------------------------------------------------------------

@pytest.mark.parametrize("where", [
    (), ("applicant",), ("unit",), ("residence",), ("household",),
    ("household", "members", 0), ("household", "members", 1),
    ("household", "rigid_expenses", 0), ("accident",),
], ids=lambda w: dotted(w) or "top")
def test_unknown_field(where: tuple[str | int, ...]) -> None:
    data = set_at(base(), (*where, "extra_note"), "typo")
    assert problem_paths(data) == [dotted((*where, "extra_note"))]


REQUIRED: list[tuple[str | int, ...]] = [
    ("applicant",), ("grassroots_union",), ("unit",), ("residence",), ("household",),
    ("accident",), ("declared_category",),
    ("applicant", "name"), ("applicant", "id_number"), ("applicant", "phone"),
    ("applicant", "union_member"), ("applicant", "employment"),
    ("unit", "name"), ("unit", "kind"), ("unit", "region"),
    ("residence", "region"), ("residence", "community"),
    ("household", "members"), ("household", "rigid_expenses"),
    ("household", "members", 1, "name"), ("household", "members", 1, "relation"),
    ("household", "members", 1, "annual_income"),
    ("household", "rigid_expenses", 0, "kind"), ("household", "rigid_expenses", 0, "annual_amount"),
    ("accident", "kind"), ("accident", "member"), ("accident", "occurred_on"),
    ("accident", "necessary_expenses"), ("accident", "compensation_received"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=dotted)
def test_missing_key(path: tuple[str | int, ...]) -> None:
    assert problem_paths(delete_at(base(), path)) == [dotted(path)]


# --- several problems at once -------------------------------------------------------------------

def test_every_field_problem_is_reported_at_once() -> None:
    data = base()
    data["applicant"]["union_member"] = "yes"
    data["unit"]["region"] = "无锡市"
    data["household"]["members"][0]["relation"] = "me"
    data["household"]["rigid_expenses"][0]["annual_amount"] = "-5"
    data["accident"]["occurred_on"] = "2024-02-30"
    data["declared_category"] = "poor"
    data["extra"] = 1
    del data["residence"]["community"]
    text = text_of(data).replace('"0"', "1e2")  # members[1].annual_income
    assert problem_paths(text) == sorted([
        "applicant.union_member", "unit.region", "household.members[0].relation",
        "household.members[1].annual_income", "household.rigid_expenses[0].annual_amount",
        "accident.occurred_on", "declared_category", "extra", "residence.community",
    ])


def test_every_cross_field_problem_is_reported_at_once() -> None:
    data = base()
    data["applicant"]["id_number"] = id_born("20250101")  # born after 2024-09-02
    data["household"]["members"][1]["relation"] = "self"  # two selves
    data["accident"]["member"] = "王五"                     # not a member
    assert problem_paths(data) == sorted([
        "applicant.id_number", "household.members", "accident.member"])


def test_problem_messages_name_the_path() -> None:
    data = set_at(base(), ("household", "members", 1, "annual_income"), "1.005")
    with pytest.raises(InvalidApplication) as error:
        validate(data)
    assert "household.members[1].annual_income" in str(error.value)


def test_not_json_is_invalid_input() -> None:
    for text in ("{", "", "{'a': 1}", '{"a": 1,}'):
        with pytest.raises(InvalidInput) as error:
            validate_text(text)
        assert error.value.rule == "E-PAYLOAD"
