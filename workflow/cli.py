"""The ``jiekun`` command line (CONTRACT.md §3): ``assess`` and ``replay`` here; the store's,
the diagram's commands in their modules, attached to the same group when imported below.

Exit codes: 0 done (``replay``: no violation), 1 violations or tampering found, 2 invalid input
(nothing changed), 3 the policy does not cover a date. Errors go to stderr.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

import jiekun.scheduler.cli
import jiekun.workflow.cli_demo
import jiekun.workflow.cli_diagram
import jiekun.workflow.cli_store  # noqa: F401
from jiekun.policies.application import validate_application
from jiekun.policies.eligibility import assess as assess_household
from jiekun.policies.errors import InvalidInput, PolicyNotInForce
from jiekun.policies.json_input import loads
from jiekun.workflow import render_text
from jiekun.workflow.cli_common import (
    EXIT_INVALID,
    EXIT_POLICY,
    EXIT_VIOLATIONS,
    _emit,
    _fail,
    _policy,
    _read,
    common,
    main,
)
from jiekun.workflow.clock import RealClock, today
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay as run_replay

__all__ = ["main"]


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

if __name__ == "__main__":
    main()
