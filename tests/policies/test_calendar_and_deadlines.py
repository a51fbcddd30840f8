"""Working days and deadlines (policies/RULES.md, Time: R-PUBLICITY-ELAPSED, month timers).

Expected dates come by hand from the State Council's published schedules:
- Spring Festival 2024: 02-10 (Sat) … 02-17 (Sat) off; Sun 02-04 and Sun 02-18 worked.
- Spring Festival 2025: 01-28 (Tue) … 02-04 (Tue) off; Sun 01-26 and Sat 02-08 worked.
- National Day 2024: 10-01 (Tue) … 10-07 (Mon) off; Sun 09-29 and Sat 10-12 worked.
- National Day 2025: 10-01 (Wed) … 10-08 (Wed) off; Sun 09-28 and Sat 10-11 worked.
A publicity started on day d covers the next k working days after d (d never counts) and has
elapsed from 00:00 Asia/Shanghai of the day after the k-th.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import (
    SHANGHAI,
    add_months,
    local_date,
    months_due,
    publicity_elapsed_at,
    years_due,
)
from jiekun.policies.errors import InvalidArgument, PolicyNotInForce
from jiekun.policies.policy_file import DEFAULT_POLICY_FILE, load_policy

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "policies" / "data" / DEFAULT_POLICY_FILE
EIGHT_HOURS = timedelta(hours=8)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


# --- the published schedules, day by day ------------------------------------------------------

@pytest.mark.parametrize(("off_first", "off_last", "worked"), [
    (date(2024, 2, 10), date(2024, 2, 17), (date(2024, 2, 4), date(2024, 2, 18))),
    (date(2025, 1, 28), date(2025, 2, 4), (date(2025, 1, 26), date(2025, 2, 8))),
    (date(2024, 10, 1), date(2024, 10, 7), (date(2024, 9, 29), date(2024, 10, 12))),
    (date(2025, 10, 1), date(2025, 10, 8), (date(2025, 9, 28), date(2025, 10, 11))),
], ids=["spring-2024", "spring-2025", "national-2024", "national-2025"])
def test_holidays_and_adjusted_working_days(off_first: date, off_last: date,
                                            worked: tuple[date, date],
                                            cal: WorkingCalendar) -> None:
    for day in days(off_first, off_last):
        assert not cal.is_workday(day), day
    for day in worked:
        assert day.weekday() >= 5  # a weekend day, worked by adjustment
        assert cal.is_workday(day), day
    # the day before and the day after the holiday are working days in all four schedules
    # (2024-02-09, 2025-01-27, 2024-09-30, 2025-09-30; 2024-02-18, 2025-02-05, 2024-10-08,
    # 2025-10-09)
    assert cal.is_workday(off_first - timedelta(days=1))
    assert cal.is_workday(off_last + timedelta(days=1))


@pytest.mark.parametrize(("first", "last", "count"), [
    # Feb 2024: 21 weekdays (Thu 1 – Thu 29) − 5 holiday weekdays (12–16) + 2 (Sun 4, Sun 18)
    (date(2024, 2, 1), date(2024, 2, 29), 18),
    # Jan 2025: 23 weekdays − 1 (New Year, Wed 1) − 4 (Tue 28 – Fri 31) + 1 (Sun 26)
    (date(2025, 1, 1), date(2025, 1, 31), 19),
    # Feb 2025: 20 weekdays − 2 (Mon 3, Tue 4) + 1 (Sat 8)
    (date(2025, 2, 1), date(2025, 2, 28), 19),
    # Oct 2024: 23 weekdays − 5 (Tue 1 – Fri 4, Mon 7) + 1 (Sat 12)
    (date(2024, 10, 1), date(2024, 10, 31), 19),
    # Oct 2025: 23 weekdays − 6 (1, 2, 3, 6, 7, 8) + 1 (Sat 11)
    (date(2025, 10, 1), date(2025, 10, 31), 18),
    # the holiday weeks alone
    (date(2024, 2, 10), date(2024, 2, 17), 0),
    # Sat 09-27 … Sun 10-12 (2025): 09-28, 09-29, 09-30, 10-09, 10-10, 10-11
    (date(2025, 9, 27), date(2025, 10, 12), 6),
    # Sat 09-28 … Sun 10-13 (2024): 09-29, 09-30, 10-08, 10-09, 10-10, 10-11, 10-12
    (date(2024, 9, 28), date(2024, 10, 13), 7),
])
def test_working_days_between(first: date, last: date, count: int,
                              cal: WorkingCalendar) -> None:
    assert cal.workdays_between(first, last) == count


@pytest.mark.parametrize(("start", "k", "kth"), [
    # Fri 2024-02-02: Sun 02-04 (1), 05 (2), 06 (3), 07 (4), Thu 08 (5)
    (date(2024, 2, 2), 5, date(2024, 2, 8)),
    # Thu 2024-02-08: Fri 09 (1), holiday 10–17, Sun 18 (2), 19 (3), 20 (4), Wed 21 (5)
    (date(2024, 2, 8), 5, date(2024, 2, 21)),
    # Fri 2025-01-24: Sun 01-26 (1), Mon 27 (2), holiday 28 – 02-04, Wed 02-05 (3)
    (date(2025, 1, 24), 3, date(2025, 2, 5)),
    # … Thu 02-06 (4), Fri 02-07 (5)
    (date(2025, 1, 24), 5, date(2025, 2, 7)),
    # … Sat 02-08 (6) worked
    (date(2025, 1, 24), 6, date(2025, 2, 8)),
    # Fri 2024-09-27: Sun 09-29 (1), Mon 30 (2), holiday 10-01 – 07, Tue 08 (3), 09 (4), Thu 10 (5)
    (date(2024, 9, 27), 5, date(2024, 10, 10)),
    # … Fri 10-11 (6), Sat 10-12 (7) worked
    (date(2024, 9, 27), 7, date(2024, 10, 12)),
    # Fri 2025-09-26: Sun 09-28 (1), 29 (2), 30 (3), holiday 10-01 – 08, Thu 09 (4), Fri 10 (5)
    (date(2025, 9, 26), 5, date(2025, 10, 10)),
    # … Sat 10-11 (6) worked
    (date(2025, 9, 26), 6, date(2025, 10, 11)),
])
def test_nth_working_day_after(start: date, k: int, kth: date, cal: WorkingCalendar) -> None:
    assert cal.nth_workday_after(start, k) == kth


@pytest.mark.parametrize(("started", "k", "elapsed"), [
    # policies/RULES.md: Mon 2024-01-08, k = 5 → 01-09 … 01-15 → elapsed 2024-01-16 00:00+08:00
    (sh(2024, 1, 8, 9, 30), 5, sh(2024, 1, 16)),
    # the start day is a working day and still does not count: k = 1 → 01-09 → from 01-10
    (sh(2024, 1, 8, 0, 0), 1, sh(2024, 1, 10)),
    (sh(2024, 1, 8, 23, 59), 1, sh(2024, 1, 10)),
    # started on a holiday (Sat 2024-02-10): 18 (1), 19, 20, 21, Thu 22 (5) → from Fri 02-23
    (sh(2024, 2, 10, 10), 5, sh(2024, 2, 23)),
    # started on a holiday weekday (Mon 2024-10-07): 08 (1), 09, 10, 11, Sat 12 (5) → from 13
    (sh(2024, 10, 7, 15), 5, sh(2024, 10, 13)),
    # started on an adjusted working day (Sun 2025-01-26): Mon 27 (1), 02-05 (2), 06, 07, Sat 08
    # (5) → from Sun 02-09
    (sh(2025, 1, 26, 11), 5, sh(2025, 2, 9)),
    # started on New Year 2025 (Wed, off): Thu 2 (1), Fri 3 (2), Mon 6, Tue 7, Wed 8 (5) → 9
    (sh(2025, 1, 1, 8), 5, sh(2025, 1, 9)),
])
def test_publicity_elapsed_at(started: datetime, k: int, elapsed: datetime,
                              cal: WorkingCalendar) -> None:
    due = publicity_elapsed_at(started, k, cal)
    assert due == elapsed
    assert due.tzinfo is not None and due.utcoffset() == EIGHT_HOURS
    assert (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0)
    assert due.astimezone(SHANGHAI).date() == elapsed.date()


def test_policy_example_iso_form(cal: WorkingCalendar) -> None:
    due = publicity_elapsed_at(sh(2024, 1, 8, 9, 30), 5, cal)
    assert due.isoformat() == "2024-01-16T00:00:00+08:00"


def test_utc_late_evening_is_the_next_shanghai_day(cal: WorkingCalendar) -> None:
    # 2024-01-08T16:30Z is 2024-01-09 00:30 in Shanghai: the publicity starts on Tue 01-09,
    # covers 10, 11, 12, 15, 16 and has elapsed from Wed 2024-01-17 00:00+08:00.
    started = datetime(2024, 1, 8, 16, 30, tzinfo=UTC)
    assert local_date(started) == date(2024, 1, 9)
    assert publicity_elapsed_at(started, 5, cal) == sh(2024, 1, 17)
    # 15:59Z is still 23:59 on the 8th in Shanghai
    assert publicity_elapsed_at(datetime(2024, 1, 8, 15, 59, tzinfo=UTC), 5, cal) == sh(2024, 1,
                                                                                          16)


def test_naive_times_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(InvalidArgument) as refused:
        publicity_elapsed_at(datetime(2024, 1, 8, 9, 30), 5, cal)
    assert refused.value.code == "E-INPUT"
    with pytest.raises(InvalidArgument):
        months_due(datetime(2024, 1, 8, 9, 30), 6)


# --- years the calendar does not know ----------------------------------------------------------

def test_unknown_year_is_an_error(cal: WorkingCalendar) -> None:
    with pytest.raises(PolicyNotInForce) as error:
        cal.is_workday(date(2027, 1, 4))
    assert error.value.rule == "E-POLICY"
    assert not cal.knows(2027)
    assert cal.knows(2026)
    # a count that crosses from 2026 into 2027 is an error too (Wed 2026-12-30: 31 (1), then 2027)
    with pytest.raises(PolicyNotInForce):
        cal.nth_workday_after(date(2026, 12, 30), 3)
    with pytest.raises(PolicyNotInForce):
        publicity_elapsed_at(sh(2026, 12, 30, 10), 3, cal)
    # but one that ends within 2026 is fine: Thu 2026-12-31
    assert cal.nth_workday_after(date(2026, 12, 30), 1) == date(2026, 12, 31)


OPERATOR_YEARS = """\
[[calendar.years]]
year = 2027
holidays = [2027-01-01, 2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11, 2027-02-12]
workdays = [2027-02-20]

[[calendar.years]]
year = 2025
holidays = [2025-03-03]
"""


@pytest.fixture(scope="module")
def operator_calendar(tmp_path_factory: pytest.TempPathFactory) -> WorkingCalendar:
    text = DEFAULT_FILE.read_text("utf-8")
    # appended as the file's own comment shows (no empty `years = []` in the way: issue 15)
    assert "years = []" not in text
    path = tmp_path_factory.mktemp("policy") / "with-2027.toml"
    path.write_text(text + "\n" + OPERATOR_YEARS, "utf-8")
    policy = load_policy(path)
    assert [entry.year for entry in policy.calendar.years] == [2027, 2025]
    return WorkingCalendar.for_policy(policy)


def test_operator_added_year_becomes_known(operator_calendar: WorkingCalendar) -> None:
    cal = operator_calendar
    assert cal.knows(2027)
    assert not cal.is_workday(date(2027, 1, 1))     # Fri, listed holiday
    assert not cal.is_workday(date(2027, 1, 2))     # Sat
    assert not cal.is_workday(date(2027, 1, 3))     # Sun
    assert cal.is_workday(date(2027, 1, 4))         # Mon
    assert not cal.is_workday(date(2027, 2, 10))    # Wed, listed holiday
    assert cal.is_workday(date(2027, 2, 20))        # Sat, listed working day
    assert not cal.is_workday(date(2027, 2, 21))    # Sun
    # Wed 2026-12-30: Thu 12-31 (1), Fri 01-01 off, weekend, Mon 01-04 (2), Tue 01-05 (3)
    assert cal.nth_workday_after(date(2026, 12, 30), 3) == date(2027, 1, 5)
    assert publicity_elapsed_at(sh(2026, 12, 30, 10), 3, cal) == sh(2027, 1, 6)
    # Fri 2027-02-05: Mon–Fri 8–12 off, 15 (1) … 19 (5), Sat 20 (6) worked
    assert cal.nth_workday_after(date(2027, 2, 5), 6) == date(2027, 2, 20)
    assert not cal.knows(2028)
    with pytest.raises(PolicyNotInForce):
        cal.is_workday(date(2028, 1, 3))


def test_operator_entry_extends_a_library_year(operator_calendar: WorkingCalendar) -> None:
    cal = operator_calendar
    assert not cal.is_workday(date(2025, 3, 3))     # Mon, added by the operator
    assert cal.is_workday(date(2025, 3, 4))
    assert not cal.is_workday(date(2025, 2, 3))     # the library's Spring Festival remains
    assert cal.is_workday(date(2025, 2, 8))         # and its adjusted working day


# --- month timers -------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "months", "due"), [
    (date(2024, 8, 31), 6, date(2025, 2, 28)),
    (date(2023, 8, 31), 6, date(2024, 2, 29)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 3, 31), 1, date(2024, 4, 30)),
    (date(2024, 8, 30), 6, date(2025, 2, 28)),
    (date(2024, 8, 15), 6, date(2025, 2, 15)),
    (date(2024, 7, 31), 12, date(2025, 7, 31)),
    (date(2024, 12, 31), 6, date(2025, 6, 30)),
    (date(2024, 9, 30), 3, date(2024, 12, 30)),
    (date(2024, 2, 29), 120, date(2034, 2, 28)),  # 10 years of retention
])
def test_add_months_clamps_to_month_end(start: date, months: int, due: date) -> None:
    assert add_months(start, months) == due


def test_months_due_is_midnight_shanghai_and_aware() -> None:
    # policies/RULES.md: a relative case archived 2024-08-31 is due for re-check from 2025-02-28
    due = months_due(sh(2024, 8, 31, 16, 45), 6)
    assert due == sh(2025, 2, 28)
    assert due.utcoffset() == EIGHT_HOURS
    assert due.isoformat() == "2025-02-28T00:00:00+08:00"
    assert years_due(sh(2024, 2, 29, 9), 10) == sh(2034, 2, 28)


def test_months_due_from_a_utc_moment_uses_the_shanghai_date() -> None:
    # 2024-08-30T17:00Z is 2024-08-31 01:00 in Shanghai: 6 months later is 2025-02-28
    due = months_due(datetime(2024, 8, 30, 17, 0, tzinfo=UTC), 6)
    assert due == sh(2025, 2, 28)
    # 2024-08-31T15:59Z is still 08-31 23:59 in Shanghai; 16:00Z is 09-01 → 2025-03-01
    assert months_due(datetime(2024, 8, 31, 15, 59, tzinfo=UTC), 6) == sh(2025, 2, 28)
    assert months_due(datetime(2024, 8, 31, 16, 0, tzinfo=UTC), 6) == sh(2025, 3, 1)
