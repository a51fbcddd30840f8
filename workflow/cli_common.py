"""What every ``jiekun`` command shares: the group, the common options, exits and output.

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

from jiekun.policies.errors import (
    FieldProblem,
    InvalidInput,
    InvalidPolicyFile,
    JiekunError,
)
from jiekun.policies.policy_file import Policy, load_policy

F = TypeVar("F", bound=Callable[..., Any])
EXIT_VIOLATIONS, EXIT_INVALID, EXIT_POLICY = 1, 2, 3


def _fail(fmt: str, code: int, error: JiekunError) -> NoReturn:
    if fmt == "json":
        problems = [str(p) for p in getattr(error, "problems", [])]
        click.echo(json.dumps({"error": error.rule, "message": error.message,
                               "problems": problems}, ensure_ascii=False), err=True)
    else:
        click.echo(f"jiekun: {error.message}", err=True)
    sys.exit(code)


def common(func: F) -> F:
    func = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="json for machines, text for people")(func)
    return click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
                        default=None, help="policy file (TOML); default: the shipped "
                        "wx-2023-45 policy")(func)


def _policy(policy_file: str | None, fmt: str) -> Policy:
    try:
        return load_policy(policy_file)
    except InvalidPolicyFile as error:
        _fail(fmt, EXIT_INVALID, error)


def _read(path: str, fmt: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        _fail(fmt, EXIT_INVALID, InvalidInput(path, [FieldProblem("", f"cannot read: {error}")]))


def _emit(fmt: str, payload: dict[str, Any], text: Callable[[dict[str, Any]], str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(text(payload))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jiekun")
def main() -> None:
    """jiekun (解困): the case lifecycle of hardship-worker households, Wuxi trade unions
    (锡工办发〔2023〕45号)."""


