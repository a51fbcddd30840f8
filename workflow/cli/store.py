"""``jiekun db upgrade`` and ``jiekun audit verify``: the store's schema, and the check that
every stored chain and fold is intact."""

from __future__ import annotations

import sys

import click

from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.errors import JiekunError
from jiekun.workflow.audit_parallel import verify_store
from jiekun.workflow.cli.common import (
    EXIT_VIOLATIONS,
    common,
    db_option,
    emit,
    fail,
    open_engine,
    unavailable,
)


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
@db_option
@common
def audit_verify(workers: int | None, db_url: str, fmt: str, policy_file: str | None) -> None:
    """Recompute every chain and re-fold every case; exit 1 naming the first broken record."""
    engine = open_engine(db_url, policy_file, fmt)
    report = verify_store(db_url, engine.decider.policy, workers)
    emit(fmt, report.as_json(), lambda r: (
        f"audit verify: {r['cases']} cases, {r['events']} events: "
        + ("all chains and folds agree" if r["ok"] else
           f"BROKEN — case {r['first_problem']['case']}, event {r['first_problem']['seq']}: "
           f"{r['first_problem']['reason']} ({r['problems']} case(s) broken)")))
    sys.exit(0 if report.ok else EXIT_VIOLATIONS)
