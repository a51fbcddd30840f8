"""``jiekun replay``: a history file checked in memory against the lifecycle and the policy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jiekun.workflow import render_text
from jiekun.workflow.cli.common import EXIT_VIOLATIONS, common, emit, read_input, read_policy
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import ReplayReport
from jiekun.workflow.replay import replay as run_replay
from jiekun.workflow.replay_parallel import PARALLEL_FROM_BYTES, file_lines, replay_lines


def _replayed(history: str, fmt: str, decider: Decider, file_versions: bool) -> ReplayReport:
    """A file from ``PARALLEL_FROM_BYTES`` on is streamed and judged on every core; stdin and
    smaller files are read whole and judged here (the same report either way)."""
    if history != "-":
        try:
            large = Path(history).stat().st_size >= PARALLEL_FROM_BYTES
        except OSError:
            large = False  # read_input names what is wrong with it
        if large:
            try:
                return replay_lines(file_lines(history), decider, file_versions=file_versions)
            except (OSError, UnicodeDecodeError):
                pass  # read_input reports it as it reports any file it cannot read
    return run_replay(read_input(history, fmt).splitlines(), decider,
                      file_versions=file_versions)


@click.command()
@click.argument("history", type=click.Path(dir_okay=False, allow_dash=True))
@common
def replay(history: str, fmt: str, policy_file: str | None) -> None:
    """Replay HISTORY (JSON Lines) in memory, checking every guard, actor and timer. Each
    event is decided under the policy version the file names for it (an export's version
    lines), else the shipped policy; --policy FILE decides every event under FILE instead.
    A file of 2 MB or more is judged on every core (cases sharded by applicant)."""
    decider = Decider(read_policy(policy_file, fmt))
    # a malformed line, or a version line whose text does not give its hash, is InvalidInput:
    # exit 2, reported by ``common``
    report = _replayed(history, fmt, decider, policy_file is None)
    emit(fmt, report.as_json(), render_text.replay)
    sys.exit(EXIT_VIOLATIONS if report.violations else 0)
