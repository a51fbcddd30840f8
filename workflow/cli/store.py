"""``jiekun db upgrade``, ``jiekun audit verify`` and ``audit checkpoint``: the store's schema,
the check that every stored chain and fold is intact, and the Merkle checkpoints of its log
(workflow/checkpoint.py) an auditor keeps outside the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.errors import FieldProblem, InvalidInput, JiekunError
from jiekun.workflow.audit_parallel import verify_store
from jiekun.workflow.checkpoint import BlockIndex, Checkpoint, take_checkpoint, verify_against
from jiekun.workflow.cli.common import (
    EXIT_VIOLATIONS,
    TIME_HELP,
    as_option,
    common,
    db_option,
    emit,
    fail,
    open_engine,
    parse_actor,
    read_time,
    unavailable,
)
from jiekun.workflow.clock import RealClock


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@db_option
def db_upgrade(db_url: str) -> None:
    """Create or migrate the store's schema to this version of jiekun."""
    try:
        revision = upgrade(make_engine(db_url))
    except JiekunError as error:  # a URL of another database: exit 2
        fail("text", error)
    except Exception as error:  # the driver's own error (unreachable, refused): exit 4
        fail("text", unavailable(db_url, error))
    click.echo(f"schema at revision {revision}")


@click.group()
def audit() -> None:
    """Audits of the store."""


@audit.command("verify")
@click.option("--workers", type=int, default=None,
              help="processes (default: one per core; large stores only)")
@click.option("--against", "against", type=click.Path(dir_okay=False), default=None,
              help="a checkpoint taken earlier (`audit checkpoint`): the store must still hold "
                   "its log as a prefix; its block index is read from CHECKPOINT.index")
@db_option
@common
def audit_verify(workers: int | None, against: str | None, db_url: str, fmt: str,
                 policy_file: str | None) -> None:
    """Recompute every chain and re-fold every case; exit 1 naming the first broken record
    (and, with --against, every place the log differs from the checkpoint's)."""
    engine = open_engine(db_url, policy_file, fmt)
    held = None
    if against is not None:
        held = verify_against(engine.store, _checkpoint(against, fmt))
    report = verify_store(db_url, engine.decider.policy, workers)
    result = report.as_json()
    if held is not None:
        result["against"] = held.as_json()
    emit(fmt, result, _verified_text)
    sys.exit(0 if report.ok and (held is None or held.ok) else EXIT_VIOLATIONS)


def _verified_text(r: dict[str, Any]) -> str:
    lines = [f"audit verify: {r['cases']} cases, {r['events']} events: "
             + ("all chains and folds agree" if r["ok"] else
                f"BROKEN — {r['problems']} case(s):")]
    lines += [f"  case {p['case']}, event {p['seq']}: {p['reason']}" for p in r["broken"]]
    held = r.get("against")
    if held is not None:
        mark = held["checkpoint"]
        lines.append(f"against the checkpoint of {mark['time']} ({mark['size']} events): "
                     + (f"the log holds it as a prefix (now {held['size']} events, "
                        "consistency proof verified)" if held["ok"] else "BROKEN"))
        lines += [f"  {f['kind']}: {f['message']}" for f in held["findings"]]
    return "\n".join(lines)


def _checkpoint(path: str, fmt: str) -> Checkpoint:
    try:
        text = Path(path).read_text("utf-8")
        index_path = Path(path + ".index")
        index = (BlockIndex.from_json(json.loads(index_path.read_text("utf-8")))
                 if index_path.exists() else None)
    except (OSError, ValueError) as error:
        fail(fmt, InvalidInput(path, [FieldProblem("", f"cannot read the checkpoint: {error}",
                                                    f"无法读取检查点文件：{error}")]))
    return Checkpoint.from_text(text, index)


@audit.command("checkpoint")
@click.option("-o", "output", type=click.Path(dir_okay=False), required=True,
              help="the checkpoint (a signed-note text); its block index goes to OUTPUT.index")
@db_option
@common
def audit_checkpoint(output: str, db_url: str, fmt: str, policy_file: str | None) -> None:
    """The store's log now: size and Merkle root (RFC 9162) of every event in commit order.
    Keep it outside the store; `audit verify --against` proves the store still holds it."""
    engine = open_engine(db_url, policy_file, fmt)
    mark = take_checkpoint(engine.store, RealClock().now())
    Path(output).write_text(mark.to_text(), "utf-8")
    if mark.index is not None:
        Path(output + ".index").write_text(json.dumps(mark.index.as_json()), "utf-8")
    emit(fmt, mark.as_json(), lambda r: f"checkpoint: {r['size']} events, root {r['root']} "
                                        f"({r['origin']}, {r['time']}) → {output}")


@audit.command("attempts")
@click.option("--case", "case_id", default=None, help="only the attempts on this case")
@click.option("--actor", "actor", default=None,
              help="only the attempts of ROLE:ORG (worker:ID: matched by its digest)")
@click.option("--since", default=None,
              help="only commands dated at or after this time; " + TIME_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@as_option
@db_option
@common
def audit_attempts(case_id: str | None, actor: str | None, since: str | None, limit: int,
                   reader: str, db_url: str, fmt: str, policy_file: str | None) -> None:
    """Refused commands (issue 16), oldest first: when, case, actor, trigger and the refusal's
    code; no payload. An auditor reads them all; others their own organisation's attempts
    and those on the cases they may read."""
    engine = open_engine(db_url, policy_file, fmt)
    rows = engine.attempts(parse_actor(reader), case_id=case_id,
                           actor=None if actor is None else parse_actor(actor),
                           since=None if since is None else read_time(since, "--since", fmt),
                           limit=limit)
    shown = [{**row, "at": row["at"].isoformat(), "recorded_at": row["recorded_at"].isoformat()}
             for row in rows]
    emit(fmt, {"attempts": shown}, _attempts_text)


def _attempts_text(r: dict[str, Any]) -> str:
    lines = [f"audit attempts: {len(r['attempts'])} refused command(s)"]
    lines += [f"  #{a['position']} {a['at']} case {a['case_id']} {a['trigger']} by "
              f"{a['actor_role']}{':' + str(a['actor_org']) if a['actor_org'] else ''}: "
              f"{a['code']}" for a in r["attempts"]]
    return "\n".join(lines)
