"""Payload validation from the field specs of states/ (E-PAYLOAD): one validator per field type.

Unknown keys are an error, like in the application: a typo must not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from jiekun.policies.aid_tables import AID_ITEMS, ITEM_LABELS
from jiekun.policies.application import (
    Accident,
    Household,
    household_problems,
    validate_application,
    validate_model,
)
from jiekun.policies.errors import FieldProblem, InvalidApplication, InvalidPayload
from jiekun.policies.field_texts import MISSING, UNKNOWN_FIELD, zh_of
from jiekun.policies.money import NumberLiteral, parse_amount
from jiekun.states import FieldType, TriggerDef

CANCEL_REASONS = ("false_information", "deceased", "moved_out", "other")
_PERIOD = re.compile(r"(19|20)[0-9]{2}(-(0[1-9]|1[0-2]))?")

Validator = Callable[[str, object, date], tuple[object, list[FieldProblem]]]


def _text(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if isinstance(value, NumberLiteral) or not isinstance(value, str) or not value.strip():
        return None, [FieldProblem(name, "must be a non-empty string", "应为非空的文字")]
    return value, []


def _application(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    try:
        return validate_application(value, on), []
    except InvalidApplication as error:
        return None, [p.at(f"{name}.{p.path}" if p.path else name) for p in error.problems]


def _household(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    return validate_model(Household, value, name)


def _accident(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if value is None:
        return None, []
    return validate_model(Accident, value, name)


def _months(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None, [FieldProblem(name, "must be a whole number of months, at least 1",
                                   "应为整数月数，至少 1 个月")]
    return value, []


def _cancel_reason(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if value not in CANCEL_REASONS:
        return None, [FieldProblem(name, f"must be one of {', '.join(CANCEL_REASONS)}",
                                   f"应为以下之一：{'、'.join(CANCEL_REASONS)}")]
    return value, []


def _aid_item(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if value not in AID_ITEMS:
        return None, [FieldProblem(name, f"must be one of {', '.join(AID_ITEMS)}", "应为以下之一："
                                   + "、".join(f"{i}（{ITEM_LABELS[i]}）" for i in AID_ITEMS))]
    return value, []


def _amount(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    try:
        return parse_amount(value), []
    except ValueError as error:
        return None, [FieldProblem(name, str(error), zh_of(error))]


def _period(name: str, value: object, on: date) -> tuple[object, list[FieldProblem]]:
    if not isinstance(value, str) or isinstance(value, NumberLiteral) or not _PERIOD.fullmatch(
            value):
        return None, [FieldProblem(name, "must be a year YYYY or a month YYYY-MM",
                                   "应为年份 YYYY 或月份 YYYY-MM")]
    return value, []


VALIDATORS: dict[FieldType, Validator] = {
    FieldType.AID_ITEM: _aid_item,
    FieldType.AMOUNT: _amount,
    FieldType.PERIOD: _period,
    FieldType.TEXT: _text,
    FieldType.APPLICATION: _application,
    FieldType.HOUSEHOLD: _household,
    FieldType.ACCIDENT: _accident,
    FieldType.MONTHS: _months,
    FieldType.CANCEL_REASON: _cancel_reason,
}


def is_application_payload(trigger: TriggerDef) -> bool:
    fields = trigger.payload
    return len(fields) == 1 and fields[0].type == FieldType.APPLICATION


def validate_payload(trigger: TriggerDef, data: Mapping[str, Any] | None,
                     on: date) -> dict[str, Any]:
    """The payload with typed values; InvalidPayload naming every bad field."""
    raw = {} if data is None else data
    # a dict, as nearly always, without asking the Mapping ABC (a microsecond per event)
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise InvalidPayload(trigger.name, [FieldProblem("data", "must be an object", "应为对象")])
    if is_application_payload(trigger):
        # workflow/CONTRACT.md §2: submit's and amend_application's data is the application.
        application, found = _application("data", raw, on)
        if found:
            raise InvalidPayload(trigger.name, found)
        return {"application": application}
    problems: list[FieldProblem] = []
    known = {f.name for f in trigger.payload}
    problems += [FieldProblem(f"data.{k}", "unknown field",
                              "不认识的字段（可能拼写有误），请删除或更正", UNKNOWN_FIELD)
                 for k in raw if k not in known]
    values: dict[str, Any] = {}
    for spec in trigger.payload:
        if spec.name not in raw:
            if spec.required:
                problems.append(FieldProblem(f"data.{spec.name}", "required field is missing",
                                             "缺少必填项", MISSING))
            continue
        value, found = VALIDATORS[spec.type](f"data.{spec.name}", raw[spec.name], on)
        problems += found
        values[spec.name] = value
    if not problems and isinstance(values.get("household"), Household):
        accident = values.get("accident")
        problems += household_problems(values["household"],
                                       accident if isinstance(accident, Accident) else None,
                                       "data")
    if problems:
        raise InvalidPayload(trigger.name, problems)
    return values
