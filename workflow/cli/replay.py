"""``jiekun replay``: a history file checked in memory against the lifecycle and the policy."""

from __future__ import annotations

import sys

import click

from jiekun.workflow import render_text
from jiekun.workflow.cli.common import EXIT_VIOLATIONS, common, emit, read_input, read_policy
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay as run_replay


@click.command()
@click.argument("history", type=click.Path(dir_okay=False, allow_dash=True))
@common
def replay(history: str, fmt: str, policy_file: str | None) -> None:
    """Replay HISTORY (JSON Lines) in memory, checking every guard, actor and timer. Each
    event is decided under the policy version the file names for it (an export's version
    lines), else the shipped policy; --policy FILE decides every event under FILE instead."""
    decider = Decider(read_policy(policy_file, fmt))
    # a malformed line, or a version line whose text does not give its hash, is InvalidInput:
    # exit 2, reported by ``common``
    report = run_replay(read_input(history, fmt).splitlines(), decider,
                        file_versions=policy_file is None)
    emit(fmt, report.as_json(), render_text.replay)
    sys.exit(EXIT_VIOLATIONS if report.violations else 0)
