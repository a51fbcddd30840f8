"""The ``jiekun`` command line (workflow/CONTRACT.md §3): the ``main`` group and every command
on it. Each command family lives in its own module; shared options and helpers are in ``common``.

Exit codes: 0 done (``replay``: no violation), 1 violations or tampering found, 2 invalid input
or a refused command, 3 the policy does not cover a date, 4 the store or a key is unavailable
(``common.exit_code``). Errors go to stderr, with their code and both texts.
"""

from __future__ import annotations

import click

from jiekun.workflow.cli.aid import aid
from jiekun.workflow.cli.assess import assess
from jiekun.workflow.cli.audit_report import audit_report
from jiekun.workflow.cli.case import case
from jiekun.workflow.cli.demo import demo
from jiekun.workflow.cli.diagram import diagram
from jiekun.workflow.cli.handbook import handbook
from jiekun.workflow.cli.keys import keys
from jiekun.workflow.cli.policy import policy
from jiekun.workflow.cli.replay import replay
from jiekun.workflow.cli.report import report
from jiekun.workflow.cli.scheduler import scheduler
from jiekun.workflow.cli.store import audit, db
from jiekun.workflow.cli.what_if import simulate_policy_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jiekun")
def main() -> None:
    """jiekun (解困): the case lifecycle of hardship-worker households, Wuxi trade unions
    (锡工办发〔2023〕45号)."""


main.add_command(assess)
main.add_command(replay)
main.add_command(db)
main.add_command(case)
main.add_command(audit)
audit.add_command(audit_report)
main.add_command(simulate_policy_command)
main.add_command(aid)
main.add_command(diagram)
main.add_command(handbook)
main.add_command(report)
main.add_command(demo)
main.add_command(scheduler)
main.add_command(policy)
main.add_command(keys)
