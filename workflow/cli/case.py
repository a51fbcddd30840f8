"""``jiekun case …``: the cases of the durable store (workflow/CONTRACT.md §3): import and export of
histories, submit and fire one command, show, history and list as a reader sees them.

Every command takes ``--db URL`` (default ``$JIEKUN_DB``, else ``sqlite:///jiekun.db``).
Reads are made as ``--as ROLE[:ORG]`` (default ``auditor``), and see what that reader may see.
A refused command (or read) changes nothing and exits as ``common.exit_code`` says: 2, or 3
for E-POLICY, or 4 when the store is unavailable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from jiekun.policies.authorization import Actor
from jiekun.policies.json_input import loads
from jiekun.workflow import render_text
from jiekun.workflow.cli.audit_files import read_checkpoint, read_signer
from jiekun.workflow.cli.common import (
    EXIT_VIOLATIONS,
    TIME_HELP,
    as_option,
    db_option,
    emit,
    open_engine,
    parse_actor,
    read_input,
    read_time,
    store_common,
)
from jiekun.workflow.clock import RealClock
from jiekun.workflow.engine import Engine
from jiekun.workflow.history_view import (
    check_show_personal,
    held_policies,
    history_text,
    history_view,
)
from jiekun.workflow.policy_versions import versions
from jiekun.workflow.proven_export import proven_export
from jiekun.workflow.records import CaseState, Event
from jiekun.workflow.transfer import import_history

_META_PREFIXES = ('{"checkpoint"', '{"policy_version"')  # an export's lines that are not events


def _when(text: str | None, fmt: str) -> datetime:
    return RealClock().now() if text is None else read_time(text, "--at", fmt)


def case_json(case: CaseState) -> dict[str, Any]:
    return {"case": case.case_id, "state": case.state, "version": case.version,
            "category": case.category, "reviewing_body": case.reviewing_body,
            "grassroots_union": case.grassroots_union, "archive_number": case.archive_number,
            "timers": [{"kind": t.kind.value, "due": t.due.isoformat() if t.due else None}
                       for t in case.timers],
            "open_objections": sorted(case.objections_open),
            "last_event_at": case.last_at.isoformat() if case.last_at else None}


def event_json(event: Event) -> dict[str, Any]:
    return {"case": event.case_id, "seq": event.seq, "at": event.at.isoformat(),
            "event": event.trigger, "actor": event.actor, "state": event.derived.state}


@click.group()
def case() -> None:
    """Cases in the durable store."""


@case.command("import")
@click.argument("history", type=click.Path(dir_okay=False, allow_dash=True))
@db_option
@store_common
def case_import(history: str, db_url: str, fmt: str) -> None:
    """Fire every event of HISTORY through the store at its recorded time."""
    engine = open_engine(db_url, fmt)
    report = import_history(engine, read_input(history, fmt).splitlines())
    emit(fmt, report.as_json(), render_text.replay)
    sys.exit(EXIT_VIOLATIONS if report.violations else 0)


@case.command("export")
@click.option("--case", "case_id", default=None, help="only this case")
@click.option("-o", "output", type=click.Path(dir_okay=False), default=None)
@click.option("--against", "against", type=click.Path(dir_okay=False), default=None,
              help="an older checkpoint of this store: the export carries the consistency "
                   "proof from it to its own")
@click.option("--key", "key", type=click.Path(dir_okay=False), default=None,
              help="sign the export's checkpoint with this signer key (`audit keygen`)")
@click.option("--at", "at", default=None, help=f"the checkpoint's time; {TIME_HELP} "
                                               "(default: now)")
@db_option
@store_common
def case_export(case_id: str | None, output: str | None, against: str | None, key: str | None,
                at: str | None, db_url: str, fmt: str) -> None:
    """Write the stored histories as JSON Lines (workflow/CONTRACT.md §2) that prove
    themselves (§2.1): the export's checkpoint first, then each event with what its hash was
    computed from, its chain link, its leaf position and inclusion proof."""
    held = None if against is None else read_checkpoint(against, fmt)
    signer = None if key is None else read_signer(key, fmt)
    engine = open_engine(db_url, fmt)
    lines = proven_export(engine.store, _when(at, fmt), case_id, against=held, signer=signer)
    if output is None:
        for line in lines:
            click.echo(line)
        return
    with Path(output).open("w", encoding="utf-8") as sink:
        count = sum(1 for line in lines
                    if sink.write(line + "\n") and not line.startswith(_META_PREFIXES))
    click.echo(f"{count} events written to {output}", err=True)


def _execute(fmt: str, call: Callable[[], Event]) -> None:
    """Run one command; a refusal escapes to ``common``, which reports it (exit 2, 3 or 4)."""
    event = call()
    emit(fmt, event_json(event), lambda e: f"{e['case']} #{e['seq']} {e['event']} → "
                                          f"{e['state']}")


@case.command("submit")
@click.argument("application", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--case", "case_id", required=True)
@click.option("--actor", "actor", required=True, help="e.g. grassroots_union:gu-001")
@click.option("--at", "at", default=None, help=f"{TIME_HELP} (default: now)")
@click.option("--key", "key", default=None, help="idempotency key")
@db_option
@store_common
def case_submit(application: str, case_id: str, actor: str, at: str | None, key: str | None,
                db_url: str, fmt: str) -> None:
    """Submit APPLICATION (JSON) as a new case."""
    engine = open_engine(db_url, fmt)
    data = loads(read_input(application, fmt), application)
    _execute(fmt, lambda: engine.submit(case_id, data, parse_actor(actor),
                                                _when(at, fmt), idempotency_key=key))


@case.command("fire")
@click.argument("case_id")
@click.argument("trigger")
@click.option("--actor", "actor", required=True, help="e.g. federation:wuxi-city, system")
@click.option("--data", "data", default=None, help="the payload: JSON, or @FILE")
@click.option("--at", "at", default=None, help=f"{TIME_HELP} (default: now)")
@click.option("--expected-version", type=int, default=None)
@click.option("--key", "key", default=None, help="idempotency key")
@db_option
@store_common
def case_fire(case_id: str, trigger: str, actor: str, data: str | None, at: str | None,
              expected_version: int | None, key: str | None, db_url: str, fmt: str) -> None:
    """Fire TRIGGER on CASE_ID."""
    engine = open_engine(db_url, fmt)
    payload: Any = {}
    if data is not None:
        payload = loads(read_input(data[1:], fmt) if data.startswith("@") else data, "--data")
    _execute(fmt, lambda: engine.fire(case_id, trigger, parse_actor(actor),
                                              _when(at, fmt), payload,
                                              expected_version=expected_version,
                                              idempotency_key=key))


AS_OF_HELP = f"the case as it stood then: {TIME_HELP}"


@case.command("show")
@click.argument("case_id")
@click.option("--as-of", "as_of", default=None, help=AS_OF_HELP)
@as_option
@db_option
@store_common
def case_show(case_id: str, as_of: str | None, reader: str, db_url: str, fmt: str) -> None:
    """The case now, or with --as-of as it stood then (the fold of its events up to then;
    state null when it had no event yet)."""
    engine = open_engine(db_url, fmt)
    if as_of is None:
        found = engine.case(case_id, parse_actor(reader))  # E-NOT-FOUND, E-ACTOR: exit 2
        body = case_json(found)
    else:
        when = read_time(as_of, "--as-of", fmt)
        then = engine.state_as_of(case_id, when, parse_actor(reader))
        body = {**case_json(then or CaseState(case_id)), "as_of": when.isoformat()}
    emit(fmt, body, lambda c: "\n".join(f"{k}: {v}" for k, v in c.items()))


@case.command("history")
@click.argument("case_id")
@click.option("--show-personal", is_flag=True, default=False,
              help="show personal data (payload fields marked personal, a worker's id "
                   "number) instead of ***: only to an auditor, the case's own grassroots "
                   "union, its reviewing federation or wuxi-city, or the worker whose case it "
                   "is; anyone else is refused (E-ACTOR, exit 2)")
@as_option
@db_option
@store_common
def case_history(case_id: str, show_personal: bool, reader: str, db_url: str, fmt: str) -> None:
    """The case's events, for people: time (+08:00), who acted, the trigger and the state it
    led to (Chinese and English), the payload (personal data masked as *** unless
    --show-personal), what the engine derived (category, reviewing body, archive number,
    timers started and their due times), the policy (id@hash) and the rule results that
    decided it (rule id, clause, figures, passed): not stored, so recomputed by re-folding the
    case under the event's policy, or saying why they could not be. --format json: a list of
    objects with the same content."""
    engine = open_engine(db_url, fmt)
    who = parse_actor(reader)
    found = engine.case(case_id, who)  # E-NOT-FOUND, E-ACTOR: exit 2
    if show_personal:
        check_show_personal(who, found, case_id)
    rows = history_view(engine.decider.lifecycle, engine.history(case_id, who), show_personal,
                        engine.decider, held_policies(versions(engine.store)))
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        click.echo(history_text(rows))


@case.command("list")
@click.option("--state", default=None)
@click.option("--body", default=None, help="reviewing body")
@click.option("--as-of", "as_of", default=None,
              help=f"the cases as they stood then ({TIME_HELP}); each readable case's history "
                   "is folded up to then, one case at a time: fine for the lists of a command "
                   "line, slow for a whole large store")
@as_option
@db_option
@store_common
def case_list(state: str | None, body: str | None, as_of: str | None, reader: str,
              db_url: str, fmt: str) -> None:
    """Cases by state and reviewing body, as far as the reader may see (with --as-of: their
    state, category and body then; cases with no event by then are left out)."""
    engine = open_engine(db_url, fmt)
    who = parse_actor(reader)
    if as_of is None:
        rows = engine.cases(who, state=state, reviewing_body=body)
    else:
        rows = _cases_as_of(engine, who, read_time(as_of, "--as-of", fmt), state, body)
    emit(fmt, {"cases": rows}, lambda out: "\n".join(
        f"{r['case_id']:<12} {r['state']:<20} {r['category'] or '—':<9} "
        f"{r['reviewing_body'] or '—'}" for r in out["cases"]) or "(no case)")


def _cases_as_of(engine: Engine, reader: Actor, when: datetime, state: str | None,
                 body: str | None) -> list[dict[str, object]]:
    """Each case the reader may read now, folded up to ``when`` (one read per case)."""
    rows: list[dict[str, object]] = []
    for row in engine.cases(reader):
        then = engine.state_as_of(str(row["case_id"]), when, reader)
        if then is None or then.state is None:
            continue
        if (state is not None and then.state != state) or (
                body is not None and then.reviewing_body != body):
            continue
        rows.append({"case_id": then.case_id, "state": then.state, "category": then.category,
                     "reviewing_body": then.reviewing_body,
                     "grassroots_union": then.grassroots_union, "version": then.version})
    return rows
