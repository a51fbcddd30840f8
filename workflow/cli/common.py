"""What the ``jiekun`` commands share: the common options, exit codes, reading input and the
policy, opening the store, and writing the result or the error.

Exit codes: 0 done (``replay``: no violation), 1 violations or tampering found, 2 invalid input
(nothing changed), 3 the policy does not cover a date. Errors go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import (
    FieldProblem,
    InvalidInput,
    InvalidPolicyFile,
    JiekunError,
)
from jiekun.policies.policy_file import Policy, load_policy
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])
EXIT_VIOLATIONS, EXIT_INVALID, EXIT_POLICY = 1, 2, 3

db_option = click.option("--db", "db_url", envvar="JIEKUN_DB", default="sqlite:///jiekun.db",
                         show_default=True, help="SQLAlchemy URL of the store ($JIEKUN_DB)")
as_option = click.option("--as", "reader", default="auditor", show_default=True,
                         help="read as ROLE[:ORG]")


def fail(fmt: str, code: int, error: JiekunError) -> NoReturn:
    """Write ``error`` to stderr (a JSON object under ``--format json``) and exit with ``code``."""
    if fmt == "json":
        problems = [str(p) for p in getattr(error, "problems", [])]
        click.echo(json.dumps({"error": error.rule, "message": error.message,
                               "problems": problems}, ensure_ascii=False), err=True)
    else:
        click.echo(f"jiekun: {error.message}", err=True)
    sys.exit(code)


def common(func: F) -> F:
    """The options every command reading a policy takes: ``--format`` and ``--policy``."""
    func = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="json for machines, text for people")(func)
    return click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
                        default=None, help="policy file (TOML); default: the shipped "
                        "wx-2023-45 policy")(func)


def read_policy(policy_file: str | None, fmt: str) -> Policy:
    """The policy of ``--policy`` (the shipped one when None); exit 2 if the file is invalid."""
    try:
        return load_policy(policy_file)
    except InvalidPolicyFile as error:
        fail(fmt, EXIT_INVALID, error)


def read_input(path: str, fmt: str) -> str:
    """The text of ``path`` (``-``: stdin); exit 2 if it cannot be read."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(fmt, EXIT_INVALID, InvalidInput(path, [FieldProblem("", f"cannot read: {error}")]))


def emit(fmt: str, payload: dict[str, Any], text: Callable[[dict[str, Any]], str]) -> None:
    """Write ``payload`` to stdout: as JSON, or as ``text`` renders it for people."""
    if fmt == "json":
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(text(payload))


def parse_actor(text: str) -> Actor:
    """``system``, ``auditor``, ``worker:ID``, ``federation:ORG``, ``grassroots_union:ORG``."""
    role, _, who = text.partition(":")
    if role == "worker":
        return Actor(role, id_number=who or None)
    return Actor(role, org=who or None)


def open_engine(db_url: str, policy_file: str | None, fmt: str) -> Engine:
    """The durable engine on ``--db`` under ``--policy``; exit 2 if either cannot be opened."""
    try:
        return Engine.open(db_url, decider=Decider(read_policy(policy_file, fmt)))
    except JiekunError as error:
        fail(fmt, EXIT_INVALID, error)
