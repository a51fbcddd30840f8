"""The ``jiekun`` command line (CONTRACT.md §3).

Exit codes: 0 done (``replay``: no violation), 1 violations or tampering found, 2 invalid input
(nothing changed), 3 the policy does not cover a date. Errors go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from policies.application import validate_application
from policies.eligibility import assess as assess_household
from policies.errors import (
    FieldProblem,
    InvalidInput,
    InvalidPolicyFile,
    JiekunError,
    PolicyNotInForce,
)
from policies.json_input import loads
from policies.policy_file import Policy, load_policy
from workflow import render_text
from workflow.clock import RealClock, today
from workflow.decider import Decider
from workflow.replay import replay as run_replay

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


@main.command()
@click.argument("application", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="assessment date YYYY-MM-DD (default: today, Asia/Shanghai)")
@common
def assess(application: str, as_of: Any, fmt: str, policy_file: str | None) -> None:
    """Assess APPLICATION (a JSON file, - for stdin) without storing anything."""
    policy = _policy(policy_file, fmt)
    on: date = as_of.date() if as_of is not None else today(RealClock())
    try:
        valid = validate_application(loads(_read(application, fmt), application), on)
        result = assess_household(valid, policy, on).as_json()
    except InvalidInput as error:
        _fail(fmt, EXIT_INVALID, error)
    except PolicyNotInForce as error:
        _fail(fmt, EXIT_POLICY, error)
    _emit(fmt, result, render_text.assessment)


@main.command()
@click.argument("history", type=click.Path(dir_okay=False, allow_dash=True))
@common
def replay(history: str, fmt: str, policy_file: str | None) -> None:
    """Replay HISTORY (JSON Lines) in memory, checking every guard, actor and timer."""
    decider = Decider(_policy(policy_file, fmt))
    try:
        report = run_replay(_read(history, fmt).splitlines(), decider)
    except InvalidInput as error:
        _fail(fmt, EXIT_INVALID, error)
    _emit(fmt, report.as_json(), render_text.replay)
    sys.exit(EXIT_VIOLATIONS if report.violations else 0)


def _register() -> None:
    # The store's commands live in their own module; importing it attaches them to ``main``.
    import workflow.cli_store  # noqa: F401


_register()

if __name__ == "__main__":
    main()
