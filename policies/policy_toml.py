"""Policy TOML text, written and edited: the operator's yearly changes as new text.

An edit (a minimum living standard, a calendar year) is inserted into the text it changes, so
the published version keeps the file's comments and layout; ``dumps`` writes the text of a
policy built in code (it has no file of its own). Every result is parsed and validated by the
caller (``parse_policy``) before anything is published.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from jiekun.policies.errors import InvalidArgument

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = re.compile(r"^\s*\[")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def value_text(value: Any) -> str:
    """A TOML value: strings as basic strings, dates bare, lists and tables inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes (\\ \" \n \t \uXXXX) are TOML's too
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {value_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _write_table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    for name, value in table.items():
        if not isinstance(value, dict) and not _array_of_tables(value):
            lines.append(f"{_key(name)} = {value_text(value)}")
    for name, value in table.items():
        here = [*path, _key(name)]
        if isinstance(value, dict):
            lines += ["", f"[{'.'.join(here)}]"]
            _write_table(lines, here, value)
        elif _array_of_tables(value):
            for entry in value:
                lines += ["", f"[[{'.'.join(here)}]]"]
                _write_table(lines, here, entry)


def dumps(document: dict[str, Any]) -> str:
    """The TOML text of a document (tables as sections, arrays of tables as ``[[…]]``)."""
    lines: list[str] = []
    _write_table(lines, [], document)
    return "\n".join(lines).lstrip("\n") + "\n"


def _insert_entry(text: str, header: str, block: str) -> str:
    """``block`` (an ``[[header]]`` entry) after the last entry of that array, or at the end
    of the text when it has none: the comments before the next section stay with it."""
    lines = text.splitlines(keepends=True)
    marker = f"[[{header}]]"
    last = max((i for i, line in enumerate(lines) if line.strip() == marker), default=None)
    if last is None:
        return text.rstrip("\n") + "\n\n" + block
    end = next((i for i in range(last + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    while end > last + 1 and (not lines[end - 1].strip()
                              or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    before = "".join(lines[:end]).rstrip("\n") + "\n\n"
    after = "".join(lines[end:]).lstrip("\n")
    return before + block + ("\n" + after if after.strip() else "")


def _drop_empty_inline(text: str, section: str, key: str) -> str:
    """Remove ``key = []`` from ``[section]`` (files before issue 15 had it): appending an
    ``[[section.key]]`` entry after it would not be TOML."""
    lines = text.splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _HEADER.match(line):
            inside = stripped == f"[{section}]"
        elif inside and re.fullmatch(rf"{key}\s*=\s*\[\s*\]\s*(#.*)?", stripped):
            return "".join(lines[:i] + lines[i + 1:])
    return text


def amount_of(text: str, option: str = "--amount") -> Decimal:
    """A positive amount of yuan given as text (never a float)."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        raise InvalidArgument(option, f"must be a positive amount of yuan, e.g. 1200: {text!r}",
                              f"应为正的金额（元），例如 1200：“{text}”")
    return amount


def next_known_until(start: date) -> date:
    """The day before the 1 July after ``start``: Wuxi raises its standard every July."""
    return date(start.year + 1 if start.month >= 7 else start.year, 6, 30)


def with_living_standard(text: str, start: date, amount: Decimal, source: str,
                         known_until: date | None = None) -> str:
    """``text`` with a minimum living standard of ``amount`` from ``start`` and
    ``known_until`` moved to ``known_until`` (default: the day before the next 1 July)."""
    if not source.strip():
        raise InvalidArgument("--source", "name the notice that sets the standard",
                              "请注明发布该标准的文件（--source）")
    raw = tomllib.loads(text)
    entries = raw.get("living_standard", [])
    last = max((e["effective_from"] for e in entries
                if isinstance(e.get("effective_from"), date)), default=None)
    if last is not None and start <= last:
        raise InvalidArgument("--from", f"must be after the last standard's start, "
                                        f"{last.isoformat()}: {start.isoformat()}",
                              f"应晚于最后一条低保标准的生效日期 {last.isoformat()}："
                              f"{start.isoformat()}")
    until = known_until or next_known_until(start)
    if until < start:
        raise InvalidArgument("--known-until", f"is before --from: {until.isoformat()}",
                              f"早于生效日期 --from：{until.isoformat()}")
    block = (f"[[living_standard]]\neffective_from = {start.isoformat()}\n"
             f"amount = {value_text(str(amount))}\nsource = {value_text(source.strip())}\n")
    edited = _insert_entry(text, "living_standard", block)
    edited, count = re.subn(r"(?m)^known_until\s*=\s*[0-9-]+", f"known_until = {until}",
                            edited, count=1)
    if count != 1:
        raise InvalidArgument("known_until", "the policy text has no known_until line",
                              "政策文本中没有 known_until 一行")
    return edited


def _check_days(days: list[date], year: int, option: str, weekend: bool) -> None:
    wrong_year = [d for d in days if d.year != year]
    if wrong_year:
        listed = ", ".join(map(str, wrong_year))
        raise InvalidArgument(option, f"dates outside {year}: {listed}",
                              f"以下日期不在 {year} 年内：{listed}")
    if len(set(days)) != len(days):
        raise InvalidArgument(option, "a date is listed twice", "有日期重复列出")
    wrong = [d for d in days if (d.weekday() >= 5) != weekend]
    if wrong:
        listed = ", ".join(map(str, wrong))
        what_en = "fall on a weekend" if weekend else "fall on a weekday"
        what_zh = "应为周末" if weekend else "应为工作日（周一至周五）"
        raise InvalidArgument(option, f"must {what_en}: {listed}", f"以下日期{what_zh}：{listed}")


def with_calendar_year(text: str, year: int, holidays: list[date], workdays: list[date],
                       source: str) -> str:
    """``text`` with the working-day calendar of ``year``: its official rest days falling on
    weekdays (``holidays``) and adjusted working days falling on weekends (``workdays``)."""
    if not source.strip():
        raise InvalidArgument("--source", "name the State Council notice of the year's "
                                          "holidays", "请注明国务院节假日安排通知（--source）")
    _check_days(holidays, year, "--holidays", weekend=False)
    _check_days(workdays, year, "--workdays", weekend=True)
    raw = tomllib.loads(text)
    known = [e.get("year") for e in raw.get("calendar", {}).get("years", [])]
    if year in known:
        raise InvalidArgument("--year", f"the policy has the calendar of {year} already: "
                                        "change it with `jiekun policy export` and `publish`",
                              f"政策中已有 {year} 年的工作日历：如需修改，请导出后用 "
                              "`jiekun policy publish` 发布")
    block = (f"[[calendar.years]]\nyear = {year}\n"
             f"holidays = {value_text(sorted(holidays))}\n"
             f"workdays = {value_text(sorted(workdays))}\n"
             f"source = {value_text(source.strip())}\n")
    return _insert_entry(_drop_empty_inline(text, "calendar", "years"), "calendar.years", block)


def parse_dates(text: str, option: str, *, weekdays_of_ranges: bool = False) -> list[date]:
    """Dates as a comma- or whitespace-separated list (``2027-01-01,2027-02-08``); a range
    ``2027-02-06..2027-02-12`` stands for every day of it, or with ``weekdays_of_ranges`` (the
    holidays: a notice's "2月6日至12日放假") for its weekdays only."""
    found: list[date] = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        first, _, last = item.partition("..")
        try:
            start = date.fromisoformat(first)
            end = date.fromisoformat(last) if last else start
        except ValueError:
            raise InvalidArgument(option, f"{item!r} is not a date YYYY-MM-DD (or a range "
                                          "A..B)", f"“{item}”不是日期 YYYY-MM-DD（或区间 A..B）"
                                  ) from None
        if end < start:
            raise InvalidArgument(option, f"the range {item} ends before it starts",
                                  f"区间 {item} 的结束日期早于开始日期")
        while start <= end:
            if not (last and weekdays_of_ranges and start.weekday() >= 5):
                found.append(start)
            start += timedelta(days=1)
    return found
