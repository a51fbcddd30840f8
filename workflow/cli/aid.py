"""``jiekun aid report``: the aid granted from the store, totalled per item, category and
reviewing body."""

from __future__ import annotations

import click

from jiekun.workflow.aid_report import aid_report
from jiekun.workflow.aid_report import render_text as render_aid
from jiekun.workflow.cli.common import db_option, emit, open_engine, store_common


@click.group()
def aid() -> None:
    """Classified aid (§2 of the notice)."""


@aid.command("report")
@click.option("--year", default=None, help="calendar year, e.g. 2025")
@click.option("--body", default=None, help="reviewing body")
@click.option("--case", "case_id", default=None)
@db_option
@store_common
def aid_report_command(year: str | None, body: str | None, case_id: str | None, db_url: str,
                       fmt: str) -> None:
    """Aid granted: totals per item, category and reviewing body."""
    engine = open_engine(db_url, fmt)
    emit(fmt, aid_report(engine, year, body, case_id), render_aid)
