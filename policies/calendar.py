"""Working days: mainland China official holidays and adjusted working days.

Data from chinesecalendar (its years) plus the years an operator adds in the policy file. A date
in a year neither knows is an error, never a guess. chinesecalendar's ``is_workday`` rescans its
tables on every call (workflow/DESIGN.md, chinesecalendar: ~53k calls/s), so each
year is computed once into a set.
Its ``find_workday`` rolls forward before counting, which is not the publicity rule of
policies/RULES.md (R-PUBLICITY-ELAPSED); the rule is written here on top of ``is_workday``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import chinese_calendar

from jiekun.policies.errors import PolicyNotInForce
from jiekun.policies.memo import BoundedCache
from jiekun.policies.policy_file import CalendarYear, Policy


def _library_year(year: int) -> frozenset[date] | None:
    """The working days of ``year`` by chinesecalendar, or None when it has no data for it."""
    day = date(year, 1, 1)
    workdays = set()
    try:
        while day.year == year:
            if chinese_calendar.is_workday(day):
                workdays.add(day)
            day += timedelta(days=1)
    except NotImplementedError:
        return None
    return frozenset(workdays)


def _operator_year(entry: CalendarYear, base: frozenset[date] | None) -> frozenset[date]:
    if base is None:  # a year the library does not know: weekends off unless listed
        day, days = date(entry.year, 1, 1), set()
        while day.year == entry.year:
            if day.weekday() < 5:
                days.add(day)
            day += timedelta(days=1)
    else:
        days = set(base)
    return frozenset((days - set(entry.holidays)) | set(entry.workdays))


Hint = Callable[[int], tuple[str, str]]


def _file_hint(year: int) -> tuple[str, str]:
    return ("add its holidays and adjusted working days to the policy ([[calendar.years]])",
            "请管理员在政策中补充该年的节假日和调休上班日（[[calendar.years]]）")


class WorkingCalendar:
    """Working days of the years chinesecalendar knows and those a policy adds. ``hint``
    says, for a year neither knows, how an operator adds it (English, Chinese)."""

    def __init__(self, extra_years: list[CalendarYear] | tuple[CalendarYear, ...] = (),
                 hint: Hint = _file_hint) -> None:
        self._extra = {entry.year: entry for entry in extra_years}
        self._years: dict[int, frozenset[date] | None] = {}
        self._hint = hint
        # (start, count) → the count-th working day after start: a publicity's end, asked
        # again by each guard and firing that reads the timer; per calendar, so a policy with
        # other holidays (another calendar) never shares an answer. Bounded.
        self._after: BoundedCache[date] = BoundedCache(4096)

    @classmethod
    def for_policy(cls, policy: Policy) -> WorkingCalendar:
        """The calendar of ``policy``; its refusals name the policy's store version or file."""
        return cls(policy.calendar.years, policy.calendar_hint)

    def _workdays(self, year: int) -> frozenset[date]:
        if year not in self._years:
            base = _library_year(year)
            entry = self._extra.get(year)
            self._years[year] = _operator_year(entry, base) if entry else base
        days = self._years[year]
        if days is None:
            fix_en, fix_zh = self._hint(year)
            raise PolicyNotInForce(date(year, 1, 1), f"the working-day calendar of {year} is "
                                   f"unknown: {fix_en}",
                                   f"{year} 年的工作日历（节假日和调休上班日）{fix_zh}")
        return days

    def knows(self, year: int) -> bool:
        try:
            self._workdays(year)
        except PolicyNotInForce:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        return day in self._workdays(day.year)

    def nth_workday_after(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself does not count);
        PolicyNotInForce (not remembered) when a year on the way is unknown."""
        key = (start, count)
        found = self._after.get(key)
        if found is not None:
            return found
        day, seen = start, 0
        while seen < count:
            day += timedelta(days=1)
            if self.is_workday(day):
                seen += 1
        return self._after.put(key, day)

    def workdays_between(self, first: date, last: date) -> int:
        """Working days in ``first`` … ``last``, both included."""
        count, day = 0, first
        while day <= last:
            count += self.is_workday(day)
            day += timedelta(days=1)
        return count
