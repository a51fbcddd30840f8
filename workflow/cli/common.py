"""What the ``jiekun`` commands share: the common options, exit codes, reading input and the
policy, opening the store, and writing the result or the error.

Exit codes (workflow/CONTRACT.md §3): 0 done (``replay``: no violation), 1 violations or
tampering found, 2 invalid input or a refused command, 3 the policy does not cover a date,
4 the store or a key is unavailable. A refusal goes to stderr with its code and both texts;
nothing was changed.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from jiekun.policies.authorization import Actor
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import (
    UNAVAILABLE,
    FieldProblem,
    InvalidInput,
    InvalidPolicyFile,
    JiekunError,
    StoreUnavailable,
)
from jiekun.policies.policy_file import Policy, load_policy
from jiekun.workflow.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])
EXIT_VIOLATIONS, EXIT_INVALID, EXIT_POLICY, EXIT_UNAVAILABLE = 1, 2, 3, 4

db_option = click.option("--db", "db_url", envvar="JIEKUN_DB", default="sqlite:///jiekun.db",
                         show_default=True, help="SQLAlchemy URL of the store ($JIEKUN_DB)")
as_option = click.option("--as", "reader", default="auditor", show_default=True,
                         help="read as ROLE[:ORG]")


def exit_code(error: JiekunError) -> int:
    """The exit code of a refusal: 3 the policy does not cover a date (E-POLICY), 4 a store or
    key unavailable, 1 a history found tampered (E-TAMPERED), else 2 — invalid input and every
    other refused command (a guard's rule, E-TRANSITION, E-ACTOR, E-ORDER, E-NOT-FOUND, …)."""
    if error.code == "E-POLICY":
        return EXIT_POLICY
    if error.code in UNAVAILABLE:
        return EXIT_UNAVAILABLE
    if error.code == "E-TAMPERED":
        return EXIT_VIOLATIONS
    return EXIT_INVALID


def fail(fmt: str, error: JiekunError) -> NoReturn:
    """Write ``error`` to stderr and exit with its code (``exit_code``): a line with the code
    and the Chinese text, then the English text; under ``--format json`` its ``as_json()``
    with the contract's older keys (``error``, ``message``, ``problems``) kept."""
    if fmt == "json":
        body = {"error": error.code, "message": error.message_en, "problems": [],
                **error.as_json()}
        click.echo(json.dumps(body, ensure_ascii=False), err=True)
    else:
        click.echo(f"jiekun: {error.code} {error.message_zh}\n{error.message_en}", err=True)
    sys.exit(exit_code(error))


def _reported(func: F) -> F:
    """Any refusal a command lets escape is written and exits as ``fail`` says."""
    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JiekunError as error:
            fail(kwargs.get("fmt", "text"), error)
    return command  # type: ignore[return-value]


def store_common(func: F) -> F:
    """The option every command on the store takes: ``--format``; a refusal the command does
    not handle itself is reported (``fail``). No ``--policy``: the store decides under its
    current policy version (``jiekun policy``; workflow/CONTRACT.md §3)."""
    func = _reported(func)
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                        default="text", show_default=True,
                        help="json for machines, text for people")(func)


def common(func: F) -> F:
    """The options every in-memory command reading a policy file takes (``assess``,
    ``replay``, ``diagram``, the what-if): ``--format`` and ``--policy``; a refusal the
    command does not handle itself is reported (``fail``)."""
    func = store_common(func)
    return click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
                        default=None, help="policy file (TOML); default: the shipped "
                        "wx-2023-45 policy")(func)


def read_policy(policy_file: str | None, fmt: str) -> Policy:
    """The policy of ``--policy`` (the shipped one when None); exit 2 if the file is invalid."""
    try:
        return load_policy(policy_file)
    except InvalidPolicyFile as error:
        fail(fmt, error)


def read_input(path: str, fmt: str) -> str:
    """The text of ``path`` (``-``: stdin); exit 2 if it cannot be read."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(fmt, InvalidInput(path, [FieldProblem("", f"cannot read: {error}",
                                                   f"无法读取：{error}")]))


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


def open_engine(db_url: str, fmt: str) -> Engine:
    """The durable engine on ``--db``, deciding under the store's current policy version (a
    command never publishes a policy by opening the store: ``jiekun policy publish`` does). A
    store that is missing, behind or unreachable exits 4 (E-SCHEMA, E-BUSY); a URL that is
    invalid, 2."""
    try:
        return Engine.open(db_url)
    except JiekunError as error:
        fail(fmt, error)
    except Exception as error:  # the driver's own error (unreachable, refused): no traceback
        fail(fmt, unavailable(db_url, error))


def unavailable(db_url: str, error: Exception) -> StoreUnavailable:
    """What the database said when it could not be opened (the command line cannot name
    the driver's exception types: only persistence/ imports SQLAlchemy)."""
    said = str(error).strip().splitlines()
    return StoreUnavailable(hide_password(db_url), said[0] if said else type(error).__name__)


def hide_password(url: str) -> str:
    """``postgresql://user:***@host/db``: a URL fit for a message."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not (sep and at and ":" in credentials):
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


TIME_HELP = ("ISO 8601 date or time; without an offset it is read in Asia/Shanghai "
             "(2024-09-02T09:00 = 2024-09-02T09:00+08:00)")


def read_time(text: str, option: str, fmt: str) -> datetime:
    """A time given on the command line: an offset if it has one, else Asia/Shanghai (the
    zone of every date of the notice); a date alone is its midnight."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(fmt, InvalidInput(option, [FieldProblem(
            option, f"{text!r} is not an ISO 8601 date or time",
            f"“{text}”不是 ISO 8601 日期或时间（例如 2024-09-02T10:00）")]))
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=SHANGHAI)
