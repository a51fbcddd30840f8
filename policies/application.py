"""The application of workflow/CONTRACT.md §1 as pydantic v2 models, and its validation.

Unknown fields are an error (a typo must not pass silently); every problem is reported by its
path as workflow/CONTRACT.md writes it (``household.members[1].annual_income``). Amounts go
through
``policies.money.parse_amount`` so that they are judged as written, never through float.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from jiekun.policies.errors import FieldProblem, InvalidApplication
from jiekun.policies.field_texts import BilingualValueError, pydantic_code, pydantic_zh
from jiekun.policies.money import NumberLiteral, parse_amount
from jiekun.policies.resident_id import birth_date, normalize_id

Region = Literal["梁溪区", "锡山区", "惠山区", "滨湖区", "新吴区", "经开区", "江阴市", "宜兴市"]
REGIONS: tuple[str, ...] = typing.get_args(Region)
Employment = Literal["employed", "laid_off", "migrant_worker", "flexible", "unemployed"]
UnitKind = Literal["enterprise", "city_bureau_company", "city_direct_unit", "other"]
Relation = Literal["self", "spouse", "child", "parent", "sibling", "grandparent", "grandchild",
                   "other"]
ExpenseKind = Literal["medical_self_pay", "education", "disability_rehabilitation", "housing",
                      "employment_cost", "other"]
AccidentKind = Literal["sudden_event", "accidental_injury", "major_illness"]
Category = Literal["deep", "relative", "accident"]
CATEGORIES: tuple[Category, ...] = ("deep", "relative", "accident")


def _plain_text(value: object) -> object:
    # The JSON loader hands number literals over as a str subclass; they are not text.
    if isinstance(value, NumberLiteral) or not isinstance(value, str):
        raise BilingualValueError("must be a string", "应为文字")
    if not value.strip():
        raise BilingualValueError("must not be empty", "不能为空")
    return value


def _strict_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise BilingualValueError("must be true or false", "应为 true 或 false")
    return value


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        return value
    if isinstance(value, NumberLiteral) or not isinstance(value, str) or len(value) != 10:
        raise BilingualValueError("must be a date YYYY-MM-DD", "应为日期（YYYY-MM-DD）")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BilingualValueError(f"{value!r} is not a calendar date YYYY-MM-DD",
                                  f"{value} 不是有效的日期（YYYY-MM-DD）") from None


def _id_number(value: object) -> object:
    if isinstance(value, NumberLiteral) or not isinstance(value, str):
        raise BilingualValueError("must be a string of 18 characters",
                                  "应为 18 位身份证号码（写成文字）")
    return normalize_id(value)


def _plain_enum(value: object) -> object:
    if isinstance(value, NumberLiteral):
        raise BilingualValueError("must be a string", "应为文字")
    return value


Text = Annotated[str, BeforeValidator(_plain_text)]
Flag = Annotated[bool, BeforeValidator(_strict_bool)]
Amount = Annotated[Decimal, BeforeValidator(parse_amount)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IdNumber = Annotated[str, BeforeValidator(_id_number)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Applicant(_Model):
    name: Text
    id_number: IdNumber
    phone: Text
    union_member: Flag
    employment: Annotated[Employment, BeforeValidator(_plain_enum)]


class Unit(_Model):
    name: Text
    kind: Annotated[UnitKind, BeforeValidator(_plain_enum)]
    region: Annotated[Region, BeforeValidator(_plain_enum)]


class Residence(_Model):
    region: Annotated[Region, BeforeValidator(_plain_enum)]
    community: Text


class Member(_Model):
    name: Text
    relation: Annotated[Relation, BeforeValidator(_plain_enum)]
    annual_income: Amount


class RigidExpense(_Model):
    kind: Annotated[ExpenseKind, BeforeValidator(_plain_enum)]
    annual_amount: Amount


class Household(_Model):
    members: Annotated[list[Member], Field(min_length=1, max_length=20)]
    rigid_expenses: list[RigidExpense]


class Accident(_Model):
    kind: Annotated[AccidentKind, BeforeValidator(_plain_enum)]
    member: Text
    occurred_on: IsoDate
    necessary_expenses: Amount
    compensation_received: Amount


class Application(_Model):
    applicant: Applicant
    grassroots_union: Text
    unit: Unit | None
    residence: Residence
    household: Household
    accident: Accident | None
    declared_category: Annotated[Category, BeforeValidator(_plain_enum)]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def format_path(loc: Sequence[int | str], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def problems_of(error: ValidationError, prefix: str = "") -> list[FieldProblem]:
    problems = []
    for item in error.errors():
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        problems.append(FieldProblem(format_path(loc, prefix), message, pydantic_zh(item),
                                     pydantic_code(item)))
    return problems


def problem_lines(head: str, problems: Sequence[FieldProblem]) -> str:
    """``head`` and one indented line per problem (a policy file's refusal)."""
    return "\n".join([head, *(f"  {p}" for p in problems)])


def problem_lines_zh(head: str, problems: Sequence[FieldProblem]) -> str:
    return "\n".join([head, *(f"  {p.text_zh}" for p in problems)])


M = TypeVar("M", bound=BaseModel)

# model class → (its one set of field names, None when it is not frozen; the fields that
# may hold models, alone or in a list)
_PLANS: dict[type[BaseModel], tuple[set[str] | None, tuple[str, ...]]] = {}


def _holds_models(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in typing.get_args(annotation))


def _plan(cls: type[BaseModel]) -> tuple[set[str] | None, tuple[str, ...]]:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = (
            set(cls.model_fields) if cls.model_config.get("frozen") else None,
            tuple(name for name, info in cls.model_fields.items()
                  if _holds_models(info.annotation)))
    return plan


def share_field_sets(model: BaseModel) -> None:
    """Let every frozen model in this tree whose fields were all given (always, once an
    application is validated: each field is required) hold its class's one set of field
    names instead of a set of its own. pydantic keeps that set per instance
    (``__pydantic_fields_set__``, 216–472 B: ~40% of a validated application, which a
    replay of a long history holds for every open case); it changes it only on a copy it has made
    (``model_copy``) or on assignment, which a frozen model refuses.
    A tree copied with a new part (``model_copy``) is walked down to that part only.
    ``tests/workflow/test_replay_memory.py`` holds copies, dumps and equality unchanged."""
    plan = _PLANS.get(model.__class__)
    shared, children = plan if plan is not None else _plan(model.__class__)
    given = model.__pydantic_fields_set__
    if given is shared:
        return  # shared here already, so was everything below it (children go first)
    values = model.__dict__
    for name in children:
        value = values.get(name)
        if value is None:
            continue
        # a tuple of types, not ``list | tuple``: isinstance is twice as fast with it
        if isinstance(value, (list, tuple)):
            for item in value:
                share_field_sets(item)
        else:
            share_field_sets(value)
    # the set given is a subset of the fields: as many as there are fields means all of them
    if shared is not None and len(given) == len(shared):
        object.__setattr__(model, "__pydantic_fields_set__", shared)


def validate_model(model: type[M], data: object,
                   prefix: str) -> tuple[M | None, list[FieldProblem]]:
    if not isinstance(data, Mapping):
        return None, [FieldProblem(prefix, "must be an object", "应为对象")]
    try:
        validated = model.model_validate(data)
    except ValidationError as error:
        return None, problems_of(error, prefix)
    share_field_sets(validated)
    return validated, []


def household_problems(household: Household, accident: Accident | None,
                       prefix: str = "") -> list[FieldProblem]:
    """Cross-field rules pydantic cannot say per field."""
    where = f"{prefix}." if prefix else ""
    problems = []
    selves = sum(1 for m in household.members if m.relation == "self")
    if selves != 1:
        problems.append(_selves_problem(f"{where}household.members", selves))
    if accident is not None and accident.member not in {m.name for m in household.members}:
        problems.append(_stranger_problem(f"{where}accident.member", accident.member))
    return problems


def _selves_problem(path: str, selves: int) -> FieldProblem:
    return FieldProblem(path, f"exactly one member with relation self, found {selves}",
                        f"家庭成员中须有且只有一位与申请人关系为本人（self），现有 {selves} 位")


def _stranger_problem(path: str, member: object) -> FieldProblem:
    return FieldProblem(path, f"{member!r} is not a member of the household",
                        f"“{member}”不是该家庭的成员")


def validate_application(data: object, on: date | None = None) -> Application:
    """The application, or InvalidApplication listing every problem by path.

    ``on`` is the assessment (or event) date: the birth date in the id may not be after it.
    """
    application, problems = validate_model(Application, data, "")
    if application is None:
        reported = {p.path for p in problems}
        extra = _raw_cross_field_problems(data, on)
        raise InvalidApplication(problems + [p for p in extra if p.path not in reported])
    problems = household_problems(application.household, application.accident)
    problems += _birth_problem(application.applicant.id_number, on)
    if problems:
        raise InvalidApplication(problems)
    return application


def _birth_problem(id_number: str, on: date | None) -> list[FieldProblem]:
    born = birth_date(id_number)
    if on is not None and born > on:
        return [FieldProblem("applicant.id_number",
                             f"the birth date {born.isoformat()} is after {on.isoformat()}",
                             f"身份证号码中的出生日期 {born.isoformat()} 晚于 {on.isoformat()}")]
    return []


def _raw_cross_field_problems(data: object, on: date | None) -> list[FieldProblem]:
    """The cross-field checks, on whatever parts of an invalid application are readable, so
    that every problem is listed at once."""
    if not isinstance(data, Mapping):
        return []
    problems: list[FieldProblem] = []
    household, accident = data.get("household"), data.get("accident")
    members = household.get("members") if isinstance(household, Mapping) else None
    rows = [m for m in members if isinstance(m, Mapping)] if isinstance(members, list) else []
    # Only where the parts compared are themselves valid: a missing name or an unknown
    # relation is already reported, and must not be reported again as a consequence.
    if rows and len(rows) == len(members or []):
        relations = [m.get("relation") for m in rows]
        selves = relations.count("self")
        if selves != 1 and all(r in typing.get_args(Relation) for r in relations):
            problems.append(_selves_problem("household.members", selves))
        names = [m.get("name") for m in rows]
        if (isinstance(accident, Mapping) and all(isinstance(n, str) and n for n in names)
                and isinstance(accident.get("member"), str)
                and accident.get("member") not in names):
            problems.append(_stranger_problem("accident.member", accident.get("member")))
    applicant = data.get("applicant")
    id_number = applicant.get("id_number") if isinstance(applicant, Mapping) else None
    if isinstance(id_number, str) and not isinstance(id_number, NumberLiteral):
        with contextlib.suppress(ValueError):  # an invalid id is reported by its field check
            problems += _birth_problem(normalize_id(id_number), on)
    return problems
