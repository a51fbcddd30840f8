"""Tier tables of classified aid (§2 of the notice), as policy data.

Living and education tiers are one table for the city (锡工发〔2021〕22号); medical tiers are
set by each district federation (医疗救助标准由各区总工会制定): one table per reviewing body.
A table lists its tiers in order, the first the highest. The shipped policy has the structure
and no amounts: jiekun never invents official amounts; an operator adds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from jiekun.policies.field_texts import BilingualValueError
from jiekun.policies.memo import caching

AidItem = Literal["living", "education", "medical", "training", "job_referral", "legal_aid"]
AID_ITEMS: tuple[str, ...] = ("living", "education", "medical", "training", "job_referral",
                              "legal_aid")
PAID_ITEMS: tuple[str, ...] = ("living", "education", "medical")
ITEM_LABELS = {"living": "生活救助", "education": "子女助学", "medical": "医疗救助",
               "training": "职业培训", "job_referral": "职业介绍", "legal_aid": "法律援助"}


def _text_amount(value: object) -> object:
    if isinstance(value, float | bool):
        raise BilingualValueError('write amounts as strings, e.g. "800"',
                                  '金额请写成文字，例如 "800"')
    return value


Money = Annotated[Decimal, BeforeValidator(_text_amount), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    id: str = Field(min_length=1)
    min: Money
    max: Money

    @model_validator(mode="after")
    def _range(self) -> Tier:
        if self.min > self.max:
            raise BilingualValueError(f"tier {self.id}: min is above max",
                                      f"档次 {self.id} 的下限（min）高于上限（max）")
        return self


class TierTable(_Strict):
    item: AidItem
    category: Literal["deep", "relative", "accident"]
    cause: str | None = None  # e.g. an accident kind, where the operator distinguishes causes
    body: str | None = None  # medical tables: the reviewing body whose table it is
    illustrative: bool = False  # demo data, not official amounts
    source: str = ""
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> TierTable:
        if self.item == "medical" and self.body is None:
            raise BilingualValueError("a medical table belongs to one reviewing body: set body",
                                      "医疗救助分档表属于某一审核单位：请填写 body")
        if self.item in ("living", "education") and self.body is not None:
            raise BilingualValueError(f"the {self.item} table is one for the city: no body",
                                      f"{ITEM_LABELS[self.item]}分档表全市统一：不应填写 body")
        if self.item not in PAID_ITEMS:
            raise BilingualValueError(f"{self.item} is not paid in tiers",
                                      f"{ITEM_LABELS[self.item]}不按档次发放")
        ids = [t.id for t in self.tiers]
        if len(set(ids)) != len(ids):
            raise BilingualValueError("tier ids must be unique within a table",
                                      "同一分档表内档次编号（id）不能重复")
        return self

    def rank(self, tier_id: str) -> int | None:
        """0 for the highest tier."""
        return next((i for i, t in enumerate(self.tiers) if t.id == tier_id), None)


# How many (item, category, body, cause) answers one policy remembers: the keys come from a
# closed set in practice (items × categories × reviewing bodies × accident kinds).
TABLE_MEMO_SIZE = 1024


class AidPolicy(_Strict):
    tables: list[TierTable] = []

    @cached_property
    def table_memo(self) -> dict[tuple[str, str, str | None, str | None], TierTable | None]:
        """The answers of ``table`` so far, by its arguments: each grant asks up to three
        times (R-AID-TIER, R-NO-ARBITRARY-CUT, the recorded rank). The model is frozen, so an
        answer never changes; a new policy version is a new object with its own memo."""
        return {}

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """A copy; one with ``update`` may hold other tables, so it starts a memo of its own."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy.__dict__.pop("table_memo", None)
        return copy

    def table(self, item: str, category: str, body: str | None,
              cause: str | None = None) -> TierTable | None:
        """The table for a grant: a cause-specific one first, then the general one."""
        key = (item, category, body, cause)
        memo = self.table_memo
        if key in memo and caching():
            return memo[key]
        found = self._search(item, category, body, cause)
        if len(memo) >= TABLE_MEMO_SIZE:
            memo.clear()
        memo[key] = found
        return found

    def _search(self, item: str, category: str, body: str | None,
                cause: str | None) -> TierTable | None:
        candidates = [t for t in self.tables if t.item == item and t.category == category
                      and (item != "medical" or t.body == body)]
        specific = [t for t in candidates if cause is not None and t.cause == cause]
        general = [t for t in candidates if t.cause is None]
        found = specific or general
        return found[0] if found else None
