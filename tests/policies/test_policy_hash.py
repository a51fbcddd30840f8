"""A policy version's hash (issue 15; policies/policy_hash.py): of what the TOML text says, not
of the code's model; the shipped file's hash pinned; the shipped file extended the way its own
comments show; the yearly edits as new text; "does not cover" naming where to fix it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.errors import InvalidArgument, PolicyNotInForce
from jiekun.policies.policy_file import load_policy, parse_policy, shipped_policy_text
from jiekun.policies.policy_hash import LEGACY_SHIPPED_HASH, policy_text_hash
from jiekun.policies.policy_toml import (
    dumps,
    parse_dates,
    with_calendar_year,
    with_living_standard,
)

SHIPPED_HASH = "sha256:ab59ea14d4604ea4cee79f802a2bd3d73f9a1eba0e18c4b25e86a90e5600c562"


def test_the_shipped_files_hash_is_pinned() -> None:
    text = shipped_policy_text()
    assert policy_text_hash(text) == SHIPPED_HASH
    policy = load_policy()
    assert policy.content_hash == SHIPPED_HASH
    # what events decided under it recorded before issue 15 (the model's dump), kept as an alias
    assert policy.legacy_model_hash == LEGACY_SHIPPED_HASH != SHIPPED_HASH


def test_the_hash_is_of_what_the_text_says() -> None:
    text = shipped_policy_text()
    reworded = "# a comment an operator added\n\n" + text.replace(
        "known_until = 2026-06-30", "known_until   =   2026-06-30  # moved every July")
    assert policy_text_hash(reworded) == SHIPPED_HASH
    changed = text.replace("known_until = 2026-06-30", "known_until = 2026-06-29")
    assert policy_text_hash(changed) != SHIPPED_HASH


def test_a_field_the_model_gains_does_not_change_the_hash_of_unchanged_text() -> None:
    """``source`` of a calendar year is new with issue 15: a text without it hashes as it did,
    and the hash never looks at the model (a key the model does not know still hashes)."""
    year = ("\n[[calendar.years]]\nyear = 2027\nholidays = [2027-01-01]\n"
            "workdays = [2027-02-07]\n")
    text = shipped_policy_text() + year
    assert parse_policy(text, "x.toml").content_hash == policy_text_hash(text)
    assert policy_text_hash(text + "future_field = 1\n") != policy_text_hash(text)


def test_the_shipped_file_takes_entries_appended_as_its_comments_show() -> None:
    text = shipped_policy_text() + (
        "\n[[calendar.years]]\nyear = 2027\nholidays = [2027-01-01]\nworkdays = []\n"
        '\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\n'
        'tiers = [{id = "1", min = "800", max = "1200"}]\n')
    policy = parse_policy(text, "extended.toml")
    assert [y.year for y in policy.calendar.years] == [2027]
    assert policy.aid.table("living", "deep", None) is not None
    # and it still says what it said before (the empty arrays were defaults)
    assert load_policy().calendar.years == [] and load_policy().aid.tables == []


def test_add_standard_moves_known_until_to_the_next_june() -> None:
    text = with_living_standard(shipped_policy_text(), date(2026, 7, 1), Decimal("1200"),
                                "锡政发〔2026〕X号")
    policy = parse_policy(text, "x.toml")
    assert policy.known_until == date(2027, 6, 30)
    assert policy.living_standard_on(date(2027, 6, 30)).amount == Decimal("1200")
    assert policy.living_standard_on(date(2026, 6, 30)).amount == Decimal("1167")
    assert "# §1.2: multiples" in text  # the file's comments stay
    explicit = with_living_standard(shipped_policy_text(), date(2026, 7, 1), Decimal("1200"),
                                    "s", date(2026, 12, 31))
    assert parse_policy(explicit, "y.toml").known_until == date(2026, 12, 31)
    with pytest.raises(InvalidArgument) as refused:
        with_living_standard(shipped_policy_text(), date(2025, 7, 1), Decimal("1200"), "s")
    assert refused.value.parameter == "--from"


def test_add_calendar_year_checks_its_dates() -> None:
    holidays = parse_dates("2027-01-01, 2027-02-06..2027-02-12", "--holidays",
                           weekdays_of_ranges=True)
    assert date(2027, 2, 6) not in holidays and date(2027, 2, 8) in holidays  # Sat skipped
    text = with_calendar_year(shipped_policy_text(), 2027, holidays, [date(2027, 2, 20)], "国办")
    [year] = parse_policy(text, "x.toml").calendar.years
    assert (year.year, year.source, year.workdays) == (2027, "国办", [date(2027, 2, 20)])
    for holidays_, workdays, option in (([date(2027, 1, 2)], [], "--holidays"),  # a Saturday
                                        ([], [date(2027, 1, 4)], "--workdays"),  # a Monday
                                        ([date(2028, 1, 3)], [], "--holidays")):
        with pytest.raises(InvalidArgument) as refused:
            with_calendar_year(shipped_policy_text(), 2027, holidays_, workdays, "s")
        assert refused.value.parameter == option
    with pytest.raises(InvalidArgument):
        with_calendar_year(text, 2027, [date(2027, 1, 1)], [], "again")
    with pytest.raises(InvalidArgument):
        parse_dates("2027-13-01", "--holidays")
    # a copy made before issue 15, with its empty `years = []`, is edited as well
    old = shipped_policy_text() + "\n[calendar]\nyears = []\n"
    assert parse_policy(with_calendar_year(old, 2027, [], [], "s"), "o").calendar.years


def test_a_policy_built_in_code_hashes_as_the_text_written_for_it() -> None:
    policy = load_policy().model_copy(update={"title": "a test's own"})
    assert policy.text is None
    assert policy.content_hash == policy_text_hash(dumps(policy.document()))
    assert policy.content_hash != SHIPPED_HASH
    reread = parse_policy(dumps(policy.document()), "d.toml")
    assert reread.content_hash == policy.content_hash and reread.title == "a test's own"


def test_not_covered_names_where_to_fix_it() -> None:
    shipped = load_policy()
    with pytest.raises(PolicyNotInForce) as refused:
        shipped.living_standard_on(date(2026, 7, 1))
    assert "policies/data" not in refused.value.message and "--policy" in refused.value.message
    stored = parse_policy(shipped_policy_text(), "store policy version 3", store_version=3)
    with pytest.raises(PolicyNotInForce) as refused:
        stored.living_standard_on(date(2026, 12, 28))
    message = refused.value.message
    assert "version 3" in message and "jiekun policy add-standard --from 2026-07-01" in message
    assert "jiekun policy add-standard" in refused.value.message_zh
    with pytest.raises(PolicyNotInForce) as refused:
        WorkingCalendar.for_policy(stored).is_workday(date(2027, 1, 4))
    assert "version 3" in refused.value.message
    assert "jiekun policy add-calendar-year --year 2027" in refused.value.message
