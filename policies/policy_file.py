"""The policy file: every value the rules use, with its source, validated at load.

TOML (``tomllib`` is in the standard library) read into pydantic models. A policy's identity in
events is its id plus the hash of what its TOML text says (``policies/policy_hash.py``): two
texts that say the same thing hash the same, a changed value is visible in every event decided
under it, and a field the model gains later does not change the hash of unchanged text.

A policy read from a store (``workflow/policy_versions.py``) knows its version there, and its
"does not cover" refusals name that version and the ``jiekun policy …`` command that fixes it;
one read from a file names the file.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from jiekun.policies.aid_tables import AidPolicy
from jiekun.policies.application import problem_lines, problem_lines_zh, problems_of
from jiekun.policies.errors import InvalidPolicyFile, PolicyNotInForce
from jiekun.policies.field_texts import BilingualValueError
from jiekun.policies.policy_hash import document_hash

DEFAULT_POLICY_FILE = "wx-2023-45.toml"
SHIPPED_LABEL = f"policies/data/{DEFAULT_POLICY_FILE}"


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
    source: str = ""  # the State Council's notice the dates come from

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
    calendar: CalendarData = CalendarData()
    aid: AidPolicy = AidPolicy()
    assumptions: dict[str, str] = {}
    file: str = ""
    # The TOML text it was read from (None: built in code), and its version in a store.
    _text: str | None = PrivateAttr(default=None)
    _store_version: int | None = PrivateAttr(default=None)

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

    @property
    def text(self) -> str | None:
        """The TOML text this policy was read from (None: it was built in code)."""
        return self._text

    @property
    def store_version(self) -> int | None:
        """Its version number in the store it was read from (None: read from a file)."""
        return self._store_version

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """A copy; one with ``update`` says something else than the text it was read from,
        so it keeps neither that text nor its hash."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._text = None
            copy._store_version = None
            copy.__dict__.pop("content_hash", None)
            copy.__dict__.pop("legacy_model_hash", None)
        return copy

    def document(self) -> dict[str, Any]:
        """What this policy says as a TOML document (amounts as strings, defaults left out):
        the text ``policies/policy_toml.py`` writes for a policy built in code."""
        document: dict[str, Any] = _document(self.model_dump(
            mode="python", exclude={"file"}, exclude_defaults=True, exclude_none=True))
        return document

    @cached_property
    def content_hash(self) -> str:
        """Recorded in every event: the hash of its TOML text (``policy_text_hash``), or of
        the document it says when built in code; computed once (the model is frozen)."""
        if self._text is not None:
            return document_hash(tomllib.loads(self._text))
        return document_hash(self.document())

    @cached_property
    def legacy_model_hash(self) -> str:
        """The hash events recorded before issue 15: of the validated model's JSON dump. It
        changes whenever the model gains a field; kept only to recognise old events."""
        content = self.model_dump(mode="json", exclude={"file"})
        content["calendar"] = {"years": [{k: v for k, v in year.items() if k != "source"}
                                         for year in content["calendar"]["years"]]}
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def where(self) -> str:
        """Where this policy comes from, for a message: its store version, or its file."""
        if self._store_version is not None:
            return f"the store's policy version {self._store_version} ({self.id})"
        return self.file or self.id

    @property
    def where_zh(self) -> str:
        """``where`` in Chinese."""
        if self._store_version is not None:
            return f"数据库中的政策版本 {self._store_version}（{self.id}）"
        return self.file or self.id

    def standard_hint(self, on: date) -> tuple[str, str]:
        """How an operator adds the minimum living standard in force on ``on`` (en, zh)."""
        start = date(on.year if on.month >= 7 else on.year - 1, 7, 1).isoformat()
        if self._store_version is not None:
            command = (f"jiekun policy add-standard --from {start} --amount AMOUNT "
                       "--source SOURCE")
            return (f"{self.where} does not know it: publish it with `{command}`",
                    f"{self.where_zh}尚未录入：请管理员运行 `{command}` 发布")
        if self.file in ("", SHIPPED_LABEL):
            return (f"the shipped policy {self.id} does not know it: pass --policy FILE, a copy "
                    f"with a [[living_standard]] entry from {start} added (`jiekun policy export "
                    "-o FILE` writes a store's current version)",
                    f"随程序发布的政策 {self.id} 尚未录入：请用 --policy 指定补充了 {start} 起"
                    "低保标准的政策文件副本（`jiekun policy export -o FILE` 可导出数据库现行版本）")
        return (f"add a [[living_standard]] entry from {start} to {self.file}",
                f"请在 {self.file} 中补充 {start} 起的低保标准（[[living_standard]]）")

    def calendar_hint(self, year: int) -> tuple[str, str]:
        """How an operator adds the working-day calendar of ``year`` (en, zh)."""
        if self._store_version is not None:
            command = (f"jiekun policy add-calendar-year --year {year} --holidays DATES "
                       "--workdays DATES --source SOURCE")
            return (f"{self.where} does not know it: publish it with `{command}`",
                    f"{self.where_zh}尚未录入：请管理员运行 `{command}` 发布")
        if self.file in ("", SHIPPED_LABEL):
            return (f"the shipped policy {self.id} does not know it: pass --policy FILE, a copy "
                    f"with a [[calendar.years]] entry for {year} added (`jiekun policy export "
                    "-o FILE` writes a store's current version)",
                    f"随程序发布的政策 {self.id} 尚未录入：请用 --policy 指定补充了 {year} 年"
                    "工作日历的政策文件副本（`jiekun policy export -o FILE` 可导出数据库现行版本）")
        return (f"add a [[calendar.years]] entry for {year} to {self.file}",
                f"请在 {self.file} 中补充 {year} 年的工作日历（[[calendar.years]]）")

    def living_standard_on(self, on: date) -> LivingStandard:
        """L in force on ``on``; PolicyNotInForce rather than reusing an old value."""
        if on < self.effective_from:
            took_effect = self.effective_from.isoformat()
            raise PolicyNotInForce(on, f"before {self.id} took effect on {took_effect}",
                                   f"政策 {self.id} 自 {took_effect} 起施行，此前的日期不适用")
        if on > self.known_until:
            fix_en, fix_zh = self.standard_hint(on)
            raise PolicyNotInForce(on, f"the minimum living standard is known only until "
                                       f"{self.known_until.isoformat()}: {fix_en}",
                                   f"低保标准只录入到 {self.known_until.isoformat()}，"
                                   f"{on.isoformat()} 适用的标准在{fix_zh}")
        entries = [e for e in self.living_standard if e.effective_from <= on]
        if not entries:
            first, where = self.living_standard[0].effective_from, self.where
            raise PolicyNotInForce(on, f"no minimum living standard before {first} in {where}",
                                   f"{where} 中没有 {first} 之前的低保标准")
        return entries[-1]


def _document(value: Any) -> Any:
    """A model dump as TOML values: amounts (Decimal) as strings, as policy files write them."""
    if isinstance(value, dict):
        return {k: _document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_document(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def parse_policy(text: str, file: str, *, store_version: int | None = None) -> Policy:
    """The policy a TOML text says (InvalidPolicyFile naming ``file`` and each field when it
    is not valid); ``store_version``: its version number in the store it was read from."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicyFile(f"{file}: not TOML: {error}",
                                message_zh=f"政策文件 {file} 不是有效的 TOML 格式") from None
    try:
        policy = Policy.model_validate({**raw, "file": file})
    except ValidationError as error:
        problems = problems_of(error)
        raise InvalidPolicyFile(problem_lines(f"{file}: invalid policy:", problems),
                                message_zh=problem_lines_zh(f"政策文件 {file} 内容有误：",
                                                            problems)) from None
    policy._text = text
    policy._store_version = store_version
    return policy


def shipped_policy_text() -> str:
    """The text of the default policy shipped with jiekun."""
    data = resources.files("jiekun.policies").joinpath("data", DEFAULT_POLICY_FILE)
    return data.read_text("utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in ``path``, or the default policy shipped with jiekun."""
    if path is None:
        return parse_policy(shipped_policy_text(), SHIPPED_LABEL)
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise InvalidPolicyFile(f"{path}: cannot read: {error.strerror}",
                                message_zh=f"无法读取政策文件 {path}") from None
    return parse_policy(text, str(path))
