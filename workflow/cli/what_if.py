"""``jiekun simulate-policy``: what a proposed policy would do to the open archive of the
store, changing nothing (the what-if itself is jiekun.workflow.policy_what_if)."""

from __future__ import annotations

from typing import Any

import click

from jiekun.policies.errors import FieldProblem, InvalidInput, PolicyNotInForce
from jiekun.workflow.cli.common import (
    EXIT_INVALID,
    EXIT_POLICY,
    common,
    db_option,
    emit,
    fail,
    open_engine,
    read_policy,
)
from jiekun.workflow.clock import RealClock, today
from jiekun.workflow.policy_what_if import render_text as render_what_if
from jiekun.workflow.policy_what_if import simulate_policy


@click.command("simulate-policy")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="the date to assess on (default: today, Asia/Shanghai)")
@db_option
@common
def simulate_policy_command(as_of: Any, db_url: str, fmt: str, policy_file: str | None) -> None:
    """Re-assess the open archive under --policy FILE (a proposal); change nothing."""
    if policy_file is None:
        fail(fmt, EXIT_INVALID, InvalidInput("options", [FieldProblem(
            "--policy", "name the proposed policy file")]))
    engine = open_engine(db_url, None, fmt)
    proposed = read_policy(policy_file, fmt)
    on = as_of.date() if as_of is not None else today(RealClock())
    try:
        report = simulate_policy(engine, proposed, on)
    except PolicyNotInForce as error:
        fail(fmt, EXIT_POLICY, error)
    emit(fmt, report.as_json(), render_what_if)
