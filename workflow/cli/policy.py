"""``jiekun policy show | history | add-standard | add-calendar-year | publish | export |
diff``: the store's policy versions (issue 15; workflow/policy_versions.py).

Each command that publishes validates the new text first, publishes it as the store's next
version (current at once for every engine and scheduler on the store) and prints what changed;
on any error, and when the text says what the current version says ("no change"), it exits 2
and changes nothing.
"""

from __future__ import annotations

import difflib
import getpass
import os
from datetime import date
from pathlib import Path
from typing import Any

import click

from jiekun.policies.errors import FieldProblem, InvalidArgument, InvalidInput
from jiekun.policies.policy_toml import (
    amount_of,
    parse_dates,
    with_calendar_year,
    with_living_standard,
)
from jiekun.workflow import policy_versions
from jiekun.workflow.cli.common import (
    db_option,
    emit,
    fail,
    open_engine,
    read_input,
    store_common,
)
from jiekun.workflow.clock import RealClock
from jiekun.workflow.engine import Engine
from jiekun.workflow.policy_versions import PolicyVersion, Publication

by_option = click.option("--by", "by", default=None,
                         help="who publishes it (default: $JIEKUN_OPERATOR, else the login)")
note_option = click.option("--note", default="", help="why: recorded with the version")


def _operator(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("JIEKUN_OPERATOR") or getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "operator"


def _version(engine: Engine, number: int | None, fmt: str) -> PolicyVersion:
    held = (policy_versions.current(engine.store) if number is None
            else policy_versions.version(engine.store, number))
    if held is None:
        fail(fmt, InvalidArgument("--version", f"the store has no policy version {number}",
                                  f"数据库中没有政策版本 {number}"))
    return held


def _text_of(held: PolicyVersion, fmt: str) -> str:
    if held.toml is None:
        fail(fmt, InvalidArgument("--version", f"version {held.version} was registered from "
                                               "old events: the store never held its text",
                                  f"政策版本 {held.version} 由旧事件登记，数据库中没有其文本"))
    return held.toml


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(option, f"{text!r} is not a date YYYY-MM-DD",
                              f"“{text}”不是日期 YYYY-MM-DD") from None


def _dates(value: str, option: str, fmt: str, *, weekdays_of_ranges: bool = False
           ) -> list[date]:
    text = read_input(value[1:], fmt) if value.startswith("@") else value
    return parse_dates(text, option, weekdays_of_ranges=weekdays_of_ranges)


def _published(engine: Engine, text: str, by: str | None, note: str, fmt: str,
               source: str) -> None:
    before = policy_versions.current(engine.store)
    done = policy_versions.publish(engine.store, text, by=_operator(by), at=RealClock().now(),
                                   note=note, source=source)
    changes = policy_versions.document_changes(before.toml, text)
    emit(fmt, _publication_json(done, changes), _publication_text)


def _publication_json(done: Publication, changes: list[str]) -> dict[str, Any]:
    return {"published": done.version.as_json(),
            "previous": None if done.previous is None else done.previous.version,
            "changes": changes,
            "dated_timers": [{"case": c, "timer": k, "due": d.isoformat()}
                             for c, k, d in done.dated],
            "still_waiting": done.still_waiting}


def _publication_text(r: dict[str, Any]) -> str:
    v = r["published"]
    lines = [f"published policy version {v['version']} ({v['id']}, {v['hash']}), current "
             f"from now on; it replaces version {r['previous']}", "changes:"]
    lines += [f"  {c}" for c in r["changes"]] or ["  (none in values)"]
    lines += [f"timer of {t['case']} ({t['timer']}) was waiting for its calendar year: due "
              f"{t['due']}" for t in r["dated_timers"]]
    if r["still_waiting"]:
        lines.append(f"still waiting for a calendar year: {', '.join(r['still_waiting'])}")
    return "\n".join(lines)


@click.group()
def policy() -> None:
    """The store's policy versions: show, history, and publishing new ones."""


@policy.command("show")
@click.option("--version", "number", type=int, default=None,
              help="version number (default: the current one)")
@db_option
@store_common
def policy_show(number: int | None, db_url: str, fmt: str) -> None:
    """A version of the store's policy (default: the current one) and its TOML text."""
    engine = open_engine(db_url, fmt)
    held = _version(engine, number, fmt)
    current = policy_versions.current(engine.store).version
    body = {**held.as_json(with_text=True), "current": held.version == current}
    policy_ = held.policy
    if policy_ is not None:
        body["known_until"] = policy_.known_until.isoformat()
        body["living_standard"] = [{"effective_from": e.effective_from.isoformat(),
                                    "amount": str(e.amount), "source": e.source}
                                   for e in policy_.living_standard]
        body["calendar_years"] = [y.year for y in policy_.calendar.years]
    emit(fmt, body, _show_text)


def _show_text(r: dict[str, Any]) -> str:
    head = (f"policy version {r['version']}{' (current)' if r['current'] else ''}: {r['id']} "
            f"{r['hash']}\npublished {r['published_at']} by {r['published_by']}"
            + (f": {r['note']}" if r["note"] else ""))
    if r.get("known_until"):
        head += f"\nminimum living standard known until {r['known_until']}"
    return head + "\n\n" + (r["toml"] or "(the store never held this version's text)")


@policy.command("history")
@db_option
@store_common
def policy_history(db_url: str, fmt: str) -> None:
    """Every version published to the store, oldest first; the current one marked."""
    engine = open_engine(db_url, fmt)
    held = policy_versions.versions(engine.store)
    current = policy_versions.current(engine.store).version
    rows = [{**v.as_json(), "current": v.version == current} for v in held]
    emit(fmt, {"versions": rows}, lambda r: "\n".join(
        f"{'*' if v['current'] else ' '} {v['version']:>3}  {v['published_at']}  {v['id']:<16} "
        f"{v['hash'][:19]}…  {v['published_by']}" + (f": {v['note']}" if v["note"] else "")
        for v in r["versions"]))


@policy.command("add-standard")
@click.option("--from", "start", required=True, help="the date it takes effect, YYYY-MM-DD")
@click.option("--amount", required=True, help="yuan per person per month, e.g. 1200")
@click.option("--source", required=True, help="the notice that sets it")
@click.option("--known-until", "known_until", default=None,
              help="last day the standard is known (default: the day before the next 1 July)")
@note_option
@by_option
@db_option
@store_common
def policy_add_standard(start: str, amount: str, source: str, known_until: str | None,
                        note: str, by: str | None, db_url: str, fmt: str) -> None:
    """Publish the current version plus a minimum living standard (低保) from --from."""
    engine = open_engine(db_url, fmt)
    held = policy_versions.current(engine.store)
    until = None if known_until is None else _day(known_until, "--known-until")
    text = with_living_standard(_text_of(held, fmt), _day(start, "--from"),
                                amount_of(amount), source, until)
    _published(engine, text, by, note or f"minimum living standard {amount} from {start}", fmt,
               "add-standard")


@policy.command("add-calendar-year")
@click.option("--year", type=int, required=True)
@click.option("--holidays", required=True,
              help="official rest days falling on weekdays: YYYY-MM-DD, comma-separated; a "
                   "range A..B stands for its weekdays; @FILE reads them from a file")
@click.option("--workdays", default="", show_default=False,
              help="adjusted working days falling on weekends, as --holidays (none: '')")
@click.option("--source", required=True, help="the State Council's notice of the year")
@note_option
@by_option
@db_option
@store_common
def policy_add_calendar_year(year: int, holidays: str, workdays: str, source: str, note: str,
                             by: str | None, db_url: str, fmt: str) -> None:
    """Publish the current version plus the working-day calendar of --year; timers waiting
    for that year are dated in the same transaction."""
    engine = open_engine(db_url, fmt)
    held = policy_versions.current(engine.store)
    text = with_calendar_year(_text_of(held, fmt), year,
                              _dates(holidays, "--holidays", fmt, weekdays_of_ranges=True),
                              _dates(workdays, "--workdays", fmt), source)
    _published(engine, text, by, note or f"working-day calendar of {year}", fmt,
               "add-calendar-year")


@policy.command("publish")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@note_option
@by_option
@db_option
@store_common
def policy_publish(file: str, note: str, by: str | None, db_url: str, fmt: str) -> None:
    """Publish FILE (a whole policy, TOML) as the store's next version: aid tier tables,
    durations, anything the other commands do not edit."""
    engine = open_engine(db_url, fmt)
    if not note.strip():
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--note", "say why this version is published", "请用 --note 说明发布原因")]))
    _published(engine, read_input(file, fmt), by, note, fmt, file)


@policy.command("export")
@click.option("--version", "number", type=int, default=None,
              help="version number (default: the current one)")
@click.option("-o", "output", type=click.Path(dir_okay=False), required=True)
@db_option
@store_common
def policy_export(number: int | None, output: str, db_url: str, fmt: str) -> None:
    """Write a version's TOML text to a file (to edit and `publish`, or to pass to
    `assess`, `replay` or `simulate-policy --policy`)."""
    engine = open_engine(db_url, fmt)
    held = _version(engine, number, fmt)
    Path(output).write_text(_text_of(held, fmt), "utf-8")
    emit(fmt, {**held.as_json(), "written": output},
         lambda r: f"policy version {r['version']} ({r['id']}, {r['hash']}) → {output}")


@policy.command("diff")
@click.argument("first", type=int)
@click.argument("second", type=int)
@db_option
@store_common
def policy_diff(first: int, second: int, db_url: str, fmt: str) -> None:
    """What version SECOND says differently from version FIRST (values), and the text diff."""
    engine = open_engine(db_url, fmt)
    a, b = _version(engine, first, fmt), _version(engine, second, fmt)
    text_a, text_b = _text_of(a, fmt), _text_of(b, fmt)
    body = {"from": a.as_json(), "to": b.as_json(),
            "changes": policy_versions.document_changes(text_a, text_b),
            "diff": "".join(difflib.unified_diff(
                text_a.splitlines(keepends=True), text_b.splitlines(keepends=True),
                f"version {first}", f"version {second}"))}
    emit(fmt, body, lambda r: "\n".join([f"version {first} → version {second}:",
                                         *(f"  {c}" for c in r["changes"]),
                                         "", r["diff"]]) if r["changes"] or r["diff"]
         else f"versions {first} and {second} say the same")
