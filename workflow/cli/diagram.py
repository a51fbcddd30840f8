"""``jiekun diagram``: the lifecycle, or one case's path over it, from the same definition
the engine runs. The format follows the output's extension (SVG, PNG, PDF or DOT).
``path_steps``, a case's events as the path diagram takes them, serves ``jiekun demo`` too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from jiekun.diagrams import PathStep, case_path_diagram, lifecycle_diagram, render, to_dot
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.field_texts import MISSING
from jiekun.workflow.cli.common import (
    as_option,
    common,
    db_option,
    fail,
    open_engine,
    parse_actor,
    read_input,
    read_policy,
)
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import Event
from jiekun.workflow.replay import replay


def path_steps(events: Sequence[Event]) -> list[PathStep]:
    """The transitions a case took, each with its source state, from its applied events."""
    steps, source = [], None
    for event in events:
        steps.append(PathStep(event.trigger, source, event.derived.state, event.at))
        source = event.derived.state
    return steps


def _case_events(history: str | None, case_id: str, db_url: str, reader: str,
                 decider: Decider, fmt: str) -> list[Event]:
    """The case's events from the history file, else from the store (a case the store does
    not hold: CaseNotFound, exit 2, reported by ``common``)."""
    if history is not None:
        report = replay(read_input(history, fmt).splitlines(), decider)
        if case_id not in report.cases:
            fail(fmt, InvalidInput(history, [FieldProblem(
                "--case", f"no case {case_id} in the history", f"历史记录中没有案件 {case_id}")]))
        return report.cases[case_id].events
    return open_engine(db_url, None, fmt, decider).history(case_id, parse_actor(reader))


@click.command()
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--guards", is_flag=True, help="show the guard rule ids on the edges")
@click.option("--case", "case_id", default=None, help="draw this case's path")
@click.option("--history", default=None, type=click.Path(dir_okay=False),
              help="take the case from this history file instead of the store")
@click.option("-o", "output", default=None, type=click.Path(dir_okay=False),
              help="SVG, PNG, PDF or DOT by extension (default: DOT on stdout)")
@as_option
@db_option
@common
def diagram(lang: str, guards: bool, case_id: str | None, history: str | None,
            output: str | None, reader: str, db_url: str, fmt: str,
            policy_file: str | None) -> None:
    """Draw the lifecycle, or one case's path (--case, from --history or the store)."""
    decider = Decider(read_policy(policy_file, fmt))
    lengths = decider.policy.durations.model_dump()
    if history is not None and case_id is None:
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--case", "required with --history", "使用 --history 时必须指定 --case", MISSING)]))
    if case_id is None:
        picture = lifecycle_diagram(decider.lifecycle, lang, guards, lengths)
    else:
        events = _case_events(history, case_id, db_url, reader, decider, fmt)
        picture = case_path_diagram(decider.lifecycle, path_steps(events), lang, guards,
                                    lengths=lengths, title=f"{case_id}")
    if output is None:
        click.echo(to_dot(picture))
        return
    try:
        written = render(picture, Path(output))
    except ValueError as error:
        fail(fmt, InvalidInput("-o", [FieldProblem(
            "-o", str(error), "无法写出该文件：请使用 .svg、.png、.pdf 或 .dot 文件名")]))
    click.echo(f"written {written}", err=True)
