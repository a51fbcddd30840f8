"""``jiekun simulate-policy``: what a proposed policy would do to the open archive of the
store, changing nothing (the what-if itself is jiekun.workflow.policy_what_if)."""

from __future__ import annotations

from typing import Any

import click

from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.field_texts import MISSING
from jiekun.workflow.cli.common import (
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
    """Re-assess the open archive, and the rejected, withdrawn-after-review and exited
    households on their last application, under --policy FILE (a proposal) against the
    store's current version, by category move and region; change nothing."""
    if policy_file is None:
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--policy", "name the proposed policy file", "请用 --policy 指定拟议的政策文件",
            MISSING)]))
    engine = open_engine(db_url, fmt)
    proposed = read_policy(policy_file, fmt)
    on = as_of.date() if as_of is not None else today(RealClock())
    report = simulate_policy(engine, proposed, on)  # E-POLICY: exit 3, reported by ``common``
    emit(fmt, report.as_json(), render_what_if)
