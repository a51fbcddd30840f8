"""``jiekun handbook``: the training handbook, generated from the definition and the policy
(``jiekun.diagrams.handbook``), as self-contained HTML or as an A4 PDF printed by headless
Chromium. Its worked examples are the histories shipped in ``jiekun.diagrams`` (``examples/``,
copies of tests/cases/histories files), replayed under the same policy."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import date
from importlib import resources
from pathlib import Path

import click

from jiekun.diagrams.handbook import Example, build_handbook
from jiekun.diagrams.handbook_html import handbook_html
from jiekun.diagrams.labels import check_lang, pick
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.workflow.cli.common import common, fail, read_policy
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--no-pdf-header-footer")
_PER_STATE = 2  # examples kept per state: the first refusal and the first accepted line


def shipped_examples() -> Iterator[tuple[str, str]]:
    """(file name, text) of every example history shipped with the package."""
    folder = resources.files("jiekun.diagrams").joinpath("examples")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            yield entry.name, entry.read_text("utf-8")


def _abridged(line: str) -> str:
    """The line as it is, but an application (personal data, many lines) shown as …."""
    record = json.loads(line)
    if record.get("event") == "submit":
        record["data"] = "…"
    return json.dumps(record, ensure_ascii=False)


def examples(decider: Decider, lang: str) -> list[Example]:
    """Lines of the shipped histories and the engine's answer, keyed by the state the case
    was in: the replay decides every line as the engine does."""
    found: list[Example] = []
    kept: dict[str, int] = {}
    for name, text in shipped_examples():
        lines = text.splitlines()
        report = replay(lines, decider)
        numbered: dict[str, list[int]] = {}
        for number, line in enumerate(lines, start=1):
            if line.strip():
                numbered.setdefault(json.loads(line)["case"], []).append(number)
        for case_id, result in report.cases.items():
            before: str | None = None
            for event, number in zip(result.events, numbered[case_id], strict=False):
                after = event.derived.state
                answer = _accepted(decider, before, after, event.derived.category,
                                   event.derived.reviewing_body, lang)
                found.append(Example(before or "", name, number, _abridged(lines[number - 1]),
                                     answer))
                before = after
            if result.violation is not None:
                v = result.violation
                text_of = v.message_zh if lang == "zh" and v.message_zh else v.message
                refused = "拒绝" if lang == "zh" else "refused"
                found.append(Example(before or "", name, v.line, _abridged(lines[v.line - 1]),
                                     f"{refused}：{v.rule} — {text_of}"))
    # a refusal first (it teaches most), then accepted lines, at most _PER_STATE a state
    found.sort(key=lambda e: (not e.answer.startswith(("拒绝", "refused"))))
    chosen = []
    for example in found:
        if kept.get(example.state, 0) < _PER_STATE:
            kept[example.state] = kept.get(example.state, 0) + 1
            chosen.append(example)
    return chosen


def _accepted(decider: Decider, before: str | None, after: str, category: str | None,
              body: str | None, lang: str) -> str:
    labels = decider.lifecycle.state_index
    lang_ = check_lang(lang)
    start = pick(labels[before].label, lang_) if before else "—"
    end = pick(labels[after].label, lang_)
    facts = []
    if category:
        facts.append(("类别 " if lang == "zh" else "category ") + category)
    if body:
        facts.append(("审核单位 " if lang == "zh" else "reviewing body ") + body)
    head = "接受" if lang == "zh" else "accepted"
    tail = f"（{'，'.join(facts)}）" if facts and lang == "zh" else (
        f" ({', '.join(facts)})" if facts else "")
    return f"{head}：{start} → {end}{tail}"


def handbook_text(decider: Decider, as_of: date, lang: str) -> str:
    """The handbook as HTML, under the decider's policy on ``as_of``."""
    book = build_handbook(decider.lifecycle, decider.policy, as_of, lang,
                          examples(decider, lang))
    return handbook_html(book)


def print_pdf(html_path: Path, pdf_path: Path) -> None:
    """``html_path`` printed on A4 by headless Chromium (Debian's ``chromium``)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("chromium not found: install the Debian package chromium")
    with tempfile.TemporaryDirectory(prefix="jiekun-chromium-") as profile:
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--print-to-pdf={pdf_path.resolve()}", html_path.resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no PDF to {pdf_path}")


@click.command()
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--as-of", "as_of", default=None,
              help="the date whose figures are shown (YYYY-MM-DD); default: the last day the "
                   "policy knows the minimum living standard (its known_until)")
@click.option("-o", "output", required=True, type=click.Path(dir_okay=False),
              help="FILE.html (self-contained) or FILE.pdf (A4, printed by chromium)")
@common
def handbook(lang: str, as_of: str | None, output: str, fmt: str,
             policy_file: str | None) -> None:
    """The training handbook: every phase and state, who acts, what each move requires (rule,
    the notice's words, the figures in force), timers, pictures, examples, a glossary."""
    decider = Decider(read_policy(policy_file, fmt))
    try:
        on = decider.policy.known_until if as_of is None else date.fromisoformat(as_of)
    except ValueError:
        fail(fmt, InvalidInput("options", [FieldProblem(
            "--as-of", f"not a date: {as_of!r} (YYYY-MM-DD)", "日期格式应为 YYYY-MM-DD")]))
    target = Path(output)
    if target.suffix.lower() not in (".html", ".pdf"):
        fail(fmt, InvalidInput("-o", [FieldProblem(
            "-o", f"write .html or .pdf, not {target.name}", "请输出 .html 或 .pdf 文件")]))
    text = handbook_text(decider, on, lang)
    if target.suffix.lower() == ".html":
        target.write_text(text, encoding="utf-8")
    else:
        with tempfile.TemporaryDirectory(prefix="jiekun-handbook-") as folder:
            page = Path(folder) / "handbook.html"
            page.write_text(text, encoding="utf-8")
            print_pdf(page, target)
    click.echo(f"written {target}", err=True)
