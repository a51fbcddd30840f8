"""The memos of issue 18 answer what the rules answer without them, and miss whenever an input
they depend on changes: the application (an amendment), the policy version (its hash), the
standard in force, the working-day calendar, the length and start of a deadline, the tier
tables of a policy, the multiple and the standard of a limit's texts."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from jiekun.policies.aid_tables import AidPolicy, Tier, TierTable
from jiekun.policies.application import Application, validate_application
from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import SHANGHAI, publicity_elapsed_at
from jiekun.policies.eligibility import HOUSEHOLD_CACHE, LIMIT_TEXTS, assess, limit_texts
from jiekun.policies.memo import BoundedCache, caches_off
from jiekun.policies.policy_file import CalendarYear, Policy
from tests.workflow.builders import with_incomes_times

CASE = Path(__file__).parents[1] / "cases" / "assess" / "01-deep-income-exactly-2L.json"
ON = date(2024, 9, 2)  # L = 1115 (from 2024-07-01)


@pytest.fixture
def application() -> Application:
    raw = json.loads(CASE.read_text("utf-8"))["application"]
    return validate_application(raw, ON)


def _uncached(application: Application, policy: Policy, on: date) -> dict[str, object]:
    with caches_off():
        return assess(application, policy, on).as_json()


def test_the_same_household_under_the_same_standard_is_assessed_once(
        application: Application, policy: Policy) -> None:
    HOUSEHOLD_CACHE.clear()
    first = assess(application, policy, ON)
    later = assess(application, policy, ON + timedelta(days=30))  # same standard in force
    assert (HOUSEHOLD_CACHE.misses, HOUSEHOLD_CACHE.hits) == (1, 1)
    assert first.figures is later.figures  # the remembered comparisons, not recomputed
    assert later.on == ON + timedelta(days=30)  # the day assessed is still the day asked
    assert later.as_json() == _uncached(application, policy, ON + timedelta(days=30))


def test_an_amended_application_misses(application: Application, policy: Policy) -> None:
    HOUSEHOLD_CACHE.clear()
    before = assess(application, policy, ON)
    amended = with_incomes_times(application, 3)
    after = assess(amended, policy, ON)
    assert HOUSEHOLD_CACHE.misses == 2
    assert before.category == "deep" and after.category != "deep"
    assert after.as_json() == _uncached(amended, policy, ON)


def test_a_new_standard_in_force_misses(application: Application, policy: Policy) -> None:
    HOUSEHOLD_CACHE.clear()
    old = assess(application, policy, ON)
    new = assess(application, policy, date(2025, 7, 1))  # 1167 from that day
    assert HOUSEHOLD_CACHE.misses == 2
    assert (old.figures.standard, new.figures.standard) == (Decimal("1115"), Decimal("1167"))
    assert new.as_json() == _uncached(application, policy, date(2025, 7, 1))


def test_a_new_policy_version_misses(application: Application, policy: Policy) -> None:
    HOUSEHOLD_CACHE.clear()
    stricter = policy.model_copy(update={"multipliers": policy.multipliers.model_copy(
        update={"deep_income": Decimal("1.5")})})
    assert stricter.content_hash != policy.content_hash
    assert assess(application, policy, ON).category == "deep"
    assert assess(application, stricter, ON).category != "deep"
    assert HOUSEHOLD_CACHE.misses == 2
    assert assess(application, stricter, ON).as_json() == _uncached(application, stricter, ON)


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache: BoundedCache[int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("b"), cache.get("a"), cache.get("c"), len(cache)) == (None, 1, 3, 2)


def test_working_day_deadlines_are_keyed_by_start_length_and_calendar(policy: Policy) -> None:
    shipped = WorkingCalendar.for_policy(policy)
    started = datetime(2024, 9, 27, 10, tzinfo=SHANGHAI)  # before the National Day week
    five = publicity_elapsed_at(started, 5, shipped)
    assert publicity_elapsed_at(started, 5, shipped) == five  # remembered, same answer
    assert publicity_elapsed_at(started, 7, shipped) > five  # another length
    assert publicity_elapsed_at(started + timedelta(days=3), 5, shipped) > five  # another day
    # another calendar (an operator's year where 2024-09-30 is a holiday too): another answer
    own = WorkingCalendar([CalendarYear(year=2024, holidays=[date(2024, 9, 30)], workdays=[],
                                        source="test")])
    assert publicity_elapsed_at(started, 5, own) == five + timedelta(days=1)
    with caches_off():
        assert publicity_elapsed_at(started, 5, shipped) == five


def _table(item: str, tier: str) -> TierTable:
    return TierTable(item=item, category="deep", tiers=[Tier(id=tier, min=Decimal(1),
                                                             max=Decimal(2))])


def test_tier_tables_are_found_by_key_and_a_new_policy_misses() -> None:
    aid = AidPolicy(tables=[_table("living", "A")])
    found = aid.table("living", "deep", None)
    assert found is not None and found.tiers[0].id == "A"
    assert aid.table("living", "deep", None) is found
    assert aid.table("education", "deep", None) is None  # another key
    changed = aid.model_copy(update={"tables": [_table("living", "B")]})
    other = changed.table("living", "deep", None)
    assert other is not None and other.tiers[0].id == "B"  # not the memo of the old tables
    assert AidPolicy(tables=[_table("living", "C")]).table("living", "deep", None) != found


def test_limit_texts_are_keyed_by_the_multiple_and_the_standard() -> None:
    LIMIT_TEXTS.clear()
    two = limit_texts(Decimal("2"), Decimal("1115"))
    assert two == ("2", "2230.00", "1115.00")
    assert limit_texts(Decimal("2"), Decimal("1115")) is two  # remembered
    assert limit_texts(Decimal("3"), Decimal("1115")) == ("3", "3345.00", "1115.00")
    assert limit_texts(Decimal("2"), Decimal("1167")) == ("2", "2334.00", "1167.00")
    assert limit_texts(Decimal("1.5"), Decimal("1115.50")) == ("1.5", "1673.25", "1115.50")
    assert (LIMIT_TEXTS.hits, LIMIT_TEXTS.misses) == (1, 4)


def test_an_assessment_under_a_new_multiple_or_standard_shows_its_own_limits(
        application: Application, policy: Policy) -> None:
    LIMIT_TEXTS.clear()
    HOUSEHOLD_CACHE.clear()
    limits = {r.id: r.figures["limit"] for r in assess(application, policy, ON).rules
              if "limit" in r.figures}
    assert limits["R-DEEP-INCOME"] == "2230.00"  # 2 × 1115
    stricter = policy.model_copy(update={"multipliers": policy.multipliers.model_copy(
        update={"deep_income": Decimal("1.5")})})
    changed = {r.id: r.figures["limit"] for r in assess(application, stricter, ON).rules
               if "limit" in r.figures}
    assert changed["R-DEEP-INCOME"] == "1672.50"
    later = {r.id: r.figures["limit"] for r in
             assess(application, policy, date(2025, 7, 1)).rules if "limit" in r.figures}
    assert later["R-DEEP-INCOME"] == "2334.00"  # 2 × 1167
    assert assess(application, stricter, ON).as_json() == _uncached(application, stricter, ON)
