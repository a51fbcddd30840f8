"""``jiekun assess``: one application assessed in memory, nothing stored."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from jiekun.policies.application import validate_application
from jiekun.policies.eligibility import assess as assess_household
from jiekun.policies.json_input import loads
from jiekun.workflow import render_text
from jiekun.workflow.cli.common import common, emit, read_input, read_policy
from jiekun.workflow.clock import RealClock, today


@click.command()
@click.argument("application", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="assessment date YYYY-MM-DD (default: today, Asia/Shanghai)")
@common
def assess(application: str, as_of: Any, fmt: str, policy_file: str | None) -> None:
    """Assess APPLICATION (a JSON file, - for stdin) without storing anything.

    Exit 2 for an invalid application (whatever its date), 3 when the policy does not cover
    the date (``common`` reports both)."""
    policy = read_policy(policy_file, fmt)
    on: date = as_of.date() if as_of is not None else today(RealClock())
    valid = validate_application(loads(read_input(application, fmt), application), on)
    emit(fmt, assess_household(valid, policy, on).as_json(), render_text.assessment)
