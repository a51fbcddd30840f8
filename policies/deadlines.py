"""Deadline arithmetic in Asia/Shanghai: publicity in working days, timers in calendar months.

A publicity started on day d covers the next k working days after d and has elapsed from 00:00
of the day after the k-th. A month timer is due from 00:00 of the date that many calendar
months later, clamped to the end of a shorter month (08-31 + 6 months = 02-28 or 02-29).
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.errors import InvalidArgument

SHANGHAI = ZoneInfo("Asia/Shanghai")


def require_aware(moment: datetime, what: str = "time") -> datetime:
    """``moment`` when it is timezone-aware; InvalidArgument naming ``what`` otherwise."""
    if not isinstance(moment, datetime):
        raise InvalidArgument(what, f"must be a timezone-aware datetime, not {moment!r}",
                              "应为带时区的时间（例如 +08:00）")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidArgument(what, f"must be timezone-aware (e.g. +08:00): "
                                    f"{moment.isoformat()} has no offset",
                              f"时间 {moment.isoformat()} 没有注明时区，请加上时区（例如 +08:00）")
    return moment


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware moment."""
    if moment.__class__ is datetime and moment.tzinfo is SHANGHAI:
        return moment.date()  # aware, and in Shanghai already: asked several times an event
    return require_aware(moment).astimezone(SHANGHAI).date()


@functools.lru_cache(maxsize=4096)
def start_of_day(day: date) -> datetime:
    """00:00 of ``day`` in Asia/Shanghai (a pure function of the day: remembered, bounded)."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_due(started: datetime, months: int) -> datetime:
    return start_of_day(add_months(local_date(started), months))


def years_due(started: datetime, years: int) -> datetime:
    return months_due(started, 12 * years)


def publicity_elapsed_at(started: datetime, working_days: int,
                         workdays: WorkingCalendar) -> datetime:
    last = workdays.nth_workday_after(local_date(started), working_days)
    return start_of_day(last + timedelta(days=1))
