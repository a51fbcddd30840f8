"""``jiekun diagram``: the lifecycle, or one case's path over it, from the same definition
the engine runs. The format follows the output's extension (SVG, PNG, PDF or DOT).
``path_steps``, a case's events as the path diagram takes them, serves ``jiekun demo`` too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from jiekun.diagrams import (
    Diagram,
    PathStep,
    case_path_diagram,
    lifecycle_diagram,
    render,
    to_dot,
)
from jiekun.diagrams.guard_names import guard_names
from jiekun.diagrams.labels import check_lang
from jiekun.diagrams.page_plan import OVERVIEW, plan_pages
from jiekun.diagrams.page_render import PAGES, write_pages
from jiekun.diagrams.views import PHASES
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.field_texts import MISSING
from jiekun.states import Role
from jiekun.states.lifecycle import ROLE_LABELS
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


def acting(actor: dict[str, str], lang: str = "zh") -> str:
    """Who acted, as a path's step shows it: the organisation (``wuxi-city``, ``xinwu``,
    ``gu-test-001``), else the role's name (a worker's id number is personal data)."""
    if actor.get("org"):
        return actor["org"]
    role = ROLE_LABELS.get(Role(actor["role"])) if actor.get("role") in set(Role) else None
    if role is None:
        return actor.get("role", "?")
    return role.zh if lang == "zh" else role.en


def path_steps(events: Sequence[Event], lang: str = "zh") -> list[PathStep]:
    """The transitions a case took, each with its source state and who acted, from its
    applied events."""
    steps, source = [], None
    for event in events:
        steps.append(PathStep(event.trigger, source, event.derived.state, event.at,
                              acting(event.actor, lang)))
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
    return open_engine(db_url, fmt).history(case_id, parse_actor(reader))


@click.command()
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--page", type=click.Choice(sorted(PAGES)), default=None,
              help="lay out for A4 or A3 portrait or a 16:9 slide: no text under 8 pt, guards "
                   "named and keyed in a legend, split into pages where one cannot hold it")
@click.option("--phase", type=click.Choice([*PHASES, OVERVIEW]), default=None,
              help="with --page: only this phase, or the overview alone")
@click.option("--guards", is_flag=True, help="show the guard rule ids on the edges")
@click.option("--case", "case_id", default=None, help="draw this case's path")
@click.option("--history", default=None, type=click.Path(dir_okay=False),
              help="take the case from this history file instead of the store")
@click.option("-o", "output", default=None, type=click.Path(dir_okay=False),
              help="SVG, PNG, PDF or DOT by extension (default: DOT on stdout)")
@as_option
@db_option
@common
def diagram(lang: str, page: str | None, phase: str | None, guards: bool, case_id: str | None,
            history: str | None, output: str | None, reader: str, db_url: str, fmt: str,
            policy_file: str | None) -> None:
    """Draw the lifecycle, or one case's path (--case, from --history or the store)."""
    decider = Decider(read_policy(policy_file, fmt))
    lengths = decider.policy.durations.model_dump()
    if history is not None and case_id is None:
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--case", "required with --history", "使用 --history 时必须指定 --case", MISSING)]))
    if phase is not None and page is None:
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--phase", "needs --page", "使用 --phase 时必须指定 --page", MISSING)]))
    show_guards = guards or page is not None
    if case_id is None:
        picture = lifecycle_diagram(decider.lifecycle, lang, show_guards, lengths)
    else:
        events = _case_events(history, case_id, db_url, reader, decider, fmt)
        picture = case_path_diagram(decider.lifecycle, path_steps(events, lang), lang,
                                    show_guards, lengths=lengths, title=f"{case_id}")
    if page is not None:
        _on_pages(picture, decider, page, phase, lang, output, fmt)
        return
    if output is None:
        click.echo(to_dot(picture))
        return
    try:
        written = render(picture, Path(output))
    except ValueError as error:
        fail(fmt, InvalidInput("-o", [FieldProblem(
            "-o", str(error), "无法写出该文件：请使用 .svg、.png、.pdf 或 .dot 文件名")]))
    click.echo(f"written {written}", err=True)


def _on_pages(picture: Diagram, decider: Decider, page: str, phase: str | None, lang: str,
              output: str | None, fmt: str) -> None:
    """``--page``: the pages the picture needs, written as one file (several pages: a PDF)."""
    size = PAGES[page]
    names = guard_names(decider.policy, check_lang(lang))
    try:
        planned = plan_pages(picture, decider.lifecycle, size, names, phase)
        if output is None:
            click.echo("\n".join(p.laid.graph.source for p in planned))
            return
        write_pages([(p.diagram, p.laid) for p in planned], size, names, Path(output))
    except ValueError as error:  # PageTooSmall, or several pages for a PNG or SVG
        fail(fmt, InvalidInput("-o", [FieldProblem(
            "-o", str(error),
            "无法在该页面上清晰排版：请换用更大的页面、指定 --phase 或输出 .pdf")]))
    smallest = min(p.laid.fit.smallest_pt for p in planned)
    click.echo(f"written {output}: {len(planned)} page(s) {page}, smallest text "
               f"{smallest:.1f} pt", err=True)
