"""``jiekun report year``: the yearly report of a federation from the store
(``jiekun.workflow.year_report``), as text, JSON or CSV (stdout without ``-o``) or a
spreadsheet (``--format xlsx -o FILE.xlsx``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jiekun.policies.errors import FieldProblem, InvalidInput, JiekunError
from jiekun.workflow.cli.common import db_option, fail, open_engine
from jiekun.workflow.year_report import render_csv, render_text, write_xlsx, year_report


@click.group()
def report() -> None:
    """Reports a federation files."""


@report.command("year")
@click.option("--year", "year", required=True, type=int, help="calendar year, e.g. 2025")
@click.option("--body", default=None, help="one reviewing body (e.g. xinwu)")
@click.option("--format", "kind", type=click.Choice(["text", "json", "csv", "xlsx"]),
              default="text", show_default=True)
@click.option("-o", "output", default=None, type=click.Path(dir_okay=False),
              help="write to this file (required for xlsx)")
@db_option
def year_command(year: int, body: str | None, kind: str, output: str | None,
                 db_url: str) -> None:
    """Per reviewing body and category: households on file at the start and end of the year,
    entered, re-checked, phase-out, exited, re-entered, cancelled; aid per item; the medical
    cap. Amounts from illustrative tier tables are marked on every line."""
    if kind == "xlsx" and output is None:
        fail("text", InvalidInput("options", [FieldProblem(
            "-o", "--format xlsx needs -o FILE.xlsx", "xlsx 格式须用 -o 指定文件")]))
    engine = open_engine(db_url, "text")
    try:
        found = year_report(engine, year, body)
    except ValueError as error:
        fail("text", InvalidInput("options", [FieldProblem("--year", str(error),
                                                            "年份无效")]))
    except JiekunError as error:
        fail("text", error)
    finally:
        engine.close()
    if kind == "xlsx":
        assert output is not None
        write_xlsx(found, Path(output))
        click.echo(f"written {output}", err=True)
        return
    text = {"json": lambda: json.dumps(found, ensure_ascii=False, indent=2),
            "csv": lambda: render_csv(found), "text": lambda: render_text(found)}[kind]()
    if output is None:
        click.echo(text)
    else:
        Path(output).write_text(text + ("" if text.endswith("\n") else "\n"), "utf-8")
        click.echo(f"written {output}", err=True)
