"""The checks of a public call's arguments: what a host passes in is refused with
InvalidArgument (E-INPUT) naming the parameter, before anything is read or written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import require_aware
from jiekun.policies.errors import InvalidArgument
from jiekun.workflow.records import Command

CASE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def case_id(value: object, parameter: str = "case_id") -> str:
    """A case id: 1–64 characters of ``[A-Za-z0-9._-]`` (it names files, URLs and rows)."""
    if not isinstance(value, str) or CASE_ID.fullmatch(value) is None:
        raise InvalidArgument(parameter, f"a case id is 1–64 characters of A–Z, a–z, 0–9, "
                                         f"'.', '_' or '-', not {str(value)[:80]!r}",
                              "案件编号须为 1–64 个字母、数字或 . _ - 字符")
    return value


def aware(value: object, parameter: str) -> datetime:
    """A timezone-aware datetime (a naive one would be read in the server's zone)."""
    return require_aware(value, parameter)  # type: ignore[arg-type]


def optional_aware(value: object, parameter: str) -> datetime | None:
    return None if value is None else aware(value, parameter)


def count(value: object, parameter: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(parameter, f"must be an integer ≥ {minimum}, not {value!r}",
                              f"须为不小于 {minimum} 的整数")
    return value


def command(value: Command, expected_version: object) -> None:
    """A command as a host builds it: its case id, trigger, actor, time, payload and key."""
    case_id(value.case_id)
    if not isinstance(value.trigger, str):
        raise InvalidArgument("trigger", f"a trigger name, not {value.trigger!r}",
                              "须为操作名称")
    if not isinstance(value.actor, Actor):
        raise InvalidArgument("actor", f"an Actor(role, org=…, id_number=…), not "
                                       f"{value.actor!r}", "须为操作人（角色与单位）")
    aware(value.at, "at")
    if not isinstance(value.data, Mapping):
        raise InvalidArgument("data", f"the payload is a JSON object (a dict), not "
                                      f"{type(value.data).__name__}", "操作数据须为 JSON 对象")
    key = value.idempotency_key
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
        raise InvalidArgument("idempotency_key", "a string of 1–200 characters",
                              "幂等键须为 1–200 个字符的字符串")
    if expected_version is not None:
        count(expected_version, "expected_version")
