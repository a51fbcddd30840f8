"""The policy file: every value the rules use, with its source, validated at load.

TOML (``tomllib`` is in the standard library) read into pydantic models. A policy's identity in
events is its id plus a hash of its validated content, so two files that say the same thing
hash the same and a changed value is visible in every event decided under it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from jiekun.policies.aid_tables import AidPolicy
from jiekun.policies.application import problem_lines, problem_lines_zh, problems_of
from jiekun.policies.errors import InvalidPolicyFile, PolicyNotInForce
from jiekun.policies.field_texts import BilingualValueError

DEFAULT_POLICY_FILE = "wx-2023-45.toml"


def _decimal_text(value: object) -> object:
    if isinstance(value, float | bool):
        raise BilingualValueError("write amounts as strings, e.g. \"1167\"",
                                  "金额请写成文字，例如 \"1167\"")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LivingStandard(_Strict):
    effective_from: date
    amount: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    source: str = Field(min_length=1)


class Multipliers(_Strict):
    deep_income: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    deep_net: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    relative_income: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    relative_net: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    accident_income: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]
    accident_net: Annotated[Decimal, BeforeValidator(_decimal_text), Field(gt=0)]


class Durations(_Strict):
    recheck_months_deep: int = Field(ge=1)
    recheck_months_relative: int = Field(ge=1)
    recheck_months_accident: int = Field(ge=1)
    phase_out_max_months: int = Field(ge=1)
    retention_years: int = Field(ge=1)
    retention_years_rejected_withdrawn: int = Field(ge=1)
    unit_publicity_working_days: int = Field(ge=1)
    media_publicity_working_days: int = Field(ge=1)
    exit_publicity_working_days: int = Field(ge=1)

    def recheck_months(self, category: str) -> int:
        months: int = getattr(self, f"recheck_months_{category}")
        return months

    def working_days(self, publicity: str) -> int:
        """The length of the ``unit``/``media``/``exit`` publicity (its timer kind's name)."""
        days: int = getattr(self, f"{publicity}_working_days")
        return days


class Retention(_Strict):
    destroy_personal_data: bool


class CalendarYear(_Strict):
    year: int = Field(ge=1949, le=2200)
    holidays: list[date] = []
    workdays: list[date] = []

    @model_validator(mode="after")
    def _dates_in_year(self) -> CalendarYear:
        wrong = [d for d in (*self.holidays, *self.workdays) if d.year != self.year]
        if wrong:
            listed = ", ".join(map(str, wrong))
            raise BilingualValueError(f"dates outside {self.year}: {listed}",
                                      f"以下日期不在 {self.year} 年内：{listed}")
        return self


class CalendarData(_Strict):
    years: list[CalendarYear] = []


class Policy(_Strict):
    id: str = Field(min_length=1)
    title: str
    source: str
    effective_from: date
    known_until: date
    living_standard: list[LivingStandard] = Field(min_length=1)
    multipliers: Multipliers
    durations: Durations
    retention: Retention
    calendar: CalendarData
    aid: AidPolicy = AidPolicy()
    assumptions: dict[str, str] = {}
    file: str = ""

    @model_validator(mode="after")
    def _table_in_order(self) -> Policy:
        starts = [entry.effective_from for entry in self.living_standard]
        if starts != sorted(set(starts)):
            raise BilingualValueError(
                "living_standard entries must be in increasing effective_from order",
                "低保标准（living_standard）须按生效日期（effective_from）从早到晚排列")
        if self.known_until < starts[-1]:
            raise BilingualValueError("known_until is before the last living_standard entry",
                                      "known_until 早于最后一条低保标准的生效日期")
        return self

    @cached_property
    def content_hash(self) -> str:
        """Recorded in every event: computed once (the model is frozen)."""
        content = self.model_dump(mode="json", exclude={"file"})
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def living_standard_on(self, on: date) -> LivingStandard:
        """L in force on ``on``; PolicyNotInForce rather than reusing an old value."""
        where = self.file or self.id
        if on < self.effective_from:
            took_effect = self.effective_from.isoformat()
            raise PolicyNotInForce(on, f"before {self.id} took effect on {took_effect}",
                                   f"政策 {self.id} 自 {took_effect} 起施行，此前的日期不适用")
        if on > self.known_until:
            raise PolicyNotInForce(on, f"the minimum living standard is known only until "
                                       f"{self.known_until.isoformat()}: add the value in force "
                                       f"on {on.isoformat()} to {where}",
                                   f"低保标准只录入到 {self.known_until.isoformat()}，"
                                   f"请管理员在 {where} 中补充 {on.isoformat()} 适用的标准")
        entries = [e for e in self.living_standard if e.effective_from <= on]
        if not entries:
            first = self.living_standard[0].effective_from
            raise PolicyNotInForce(on, f"no minimum living standard before {first} in {where}",
                                   f"{where} 中没有 {first} 之前的低保标准")
        return entries[-1]


def parse_policy(text: str, file: str) -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicyFile(f"{file}: not TOML: {error}",
                                message_zh=f"政策文件 {file} 不是有效的 TOML 格式") from None
    try:
        return Policy.model_validate({**raw, "file": file})
    except ValidationError as error:
        problems = problems_of(error)
        raise InvalidPolicyFile(problem_lines(f"{file}: invalid policy:", problems),
                                message_zh=problem_lines_zh(f"政策文件 {file} 内容有误：",
                                                            problems)) from None


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in ``path``, or the default policy shipped with jiekun."""
    if path is None:
        data = resources.files("jiekun.policies").joinpath("data", DEFAULT_POLICY_FILE)
        text = data.read_text("utf-8")
        return parse_policy(text, f"policies/data/{DEFAULT_POLICY_FILE}")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise InvalidPolicyFile(f"{path}: cannot read: {error.strerror}",
                                message_zh=f"无法读取政策文件 {path}") from None
    return parse_policy(text, str(path))
