"""Issue 16, a case report for the file: ``jiekun audit report --case ID -o report.html|.pdf``.

A SQLite store holds cases C-1 (tests/cases/histories/01, 6 events) and C-8 (history 07, 13
events: submitted, reviewed, archived, re-checked, phased out, exit refused by the worker,
verified, exited). The report of C-8 is opened in real headless Chromium (tests/browser.py):
no console error, its Chinese heading drawn in Noto Sans CJK SC, every event in the timeline,
the notice's words for its guards, the chain intact — and, once one stored event's payload is
changed, the chain broken at that event, and the store failing an auditor's checkpoint taken
before. The PDF is printed by Chromium on A4. One screenshot and the PDF's first page are kept
in /tmp/report-shots/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiekun.states.lifecycle import TRIGGERS
from jiekun.workflow.case_report import CLAUSE_PHRASES, clause_quotes
from jiekun.workflow.guards import GUARDS
from tests import browser

JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]
ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "cases" / "histories"
HISTORY = HISTORIES / "07-exit-refused-verified-announced.jsonl"
LINES = [json.loads(line) for line in HISTORY.read_text("utf-8").splitlines()]
TRIGGER_LABELS = {t.name: t.label for t in TRIGGERS}
ID_NUMBER = "320211197903155182"  # C-8's applicant, and the worker who refused the exit
SHOTS = Path("/tmp/report-shots")
# The notice's words for two guards C-8 passed (policies/data/wuxi-notice-2023-45.txt)
EXIT_CONFIRM_WORDS = "切实履行退档告知程序，须经职工本人、基层工会确认后退档。"
PHASE_OUT_WORDS = "给予不超过6个月的渐退期，渐退期内可继续给予帮扶"

needs_browser = pytest.mark.skipif(not browser.available(),
                                   reason="Debian's chromium and chromium-driver are needed")

Run = subprocess.CompletedProcess[str]


def jiekun(*args: str, env: dict[str, str] | None = None) -> Run:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env)


def ok(run: Run) -> str:
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file of the untouched store (copy it before changing it)."""
    path = tmp_path_factory.mktemp("report") / "cases.db"
    url = f"sqlite:///{path}"
    ok(jiekun("db", "upgrade", "--db", url))
    for name in ("01-deep-happy-path-to-archive.jsonl", HISTORY.name):
        ok(jiekun("case", "import", str(HISTORIES / name), "--db", url))
    return path


@pytest.fixture
def copy(store: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    shutil.copyfile(store, target)
    return target


def db(path: Path) -> list[str]:
    return ["--db", f"sqlite:///{path}"]


def report(path: Path, output: Path, *extra: str) -> Path:
    ok(jiekun("audit", "report", "--case", "C-8", "-o", str(output), *extra, *db(path)))
    return output


def change_payload(path: Path, seq: int, before: str, after: str) -> None:
    """Change the stored public payload of C-8's event ``seq`` behind the engine's back, as
    someone with the database file could (tests/store/test_store_tamper.py does the same)."""
    with sqlite3.connect(path) as connection:
        (data,) = connection.execute("SELECT data FROM events WHERE case_id = 'C-8' AND seq = ?",
                                     (seq,)).fetchone()
        assert before in data, data
        connection.execute("UPDATE events SET data = ? WHERE case_id = 'C-8' AND seq = ?",
                           (data.replace(before, after), seq))


@pytest.fixture(scope="module")
def shots() -> Iterator[Path]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield SHOTS


def test_every_guard_is_quoted_from_the_notice() -> None:
    for rule_id in GUARDS:
        quotes = clause_quotes(rule_id)
        if rule_id == "R-ONE-OPEN-CASE":  # the notice has no sentence of its own for it
            assert quotes == []
            continue
        assert quotes, rule_id
        assert all(q.endswith("。") for q in quotes), quotes  # whole sentences
        for phrase in CLAUSE_PHRASES[rule_id]:
            assert any(phrase in q for q in quotes), (rule_id, phrase)
    # a sentence cut by a page break of the printed notice is quoted whole
    assert clause_quotes("R-PHASEOUT-MAX") == [
        "加强对刚刚脱困对象的跟踪调查，落实联系人制度，给予不超过6个月的渐退期，渐退期内可继续给予"
        "帮扶，继续关注其家庭生活状况，做到“脱困即出、返困即入”。"]
    assert clause_quotes("R-EXIT-CONFIRM") == [EXIT_CONFIRM_WORDS]


def test_the_page_is_self_contained(store: Path, tmp_path: Path) -> None:
    page = report(store, tmp_path / "report.html").read_text("utf-8")
    assert "<svg" in page and "<script" not in page and "<link" not in page
    assert not re.search(r"https?:|src=|url\(", page), "nothing may be fetched from elsewhere"
    assert ID_NUMBER not in page and "13900000001" not in page  # personal data left out
    assert '<html lang="zh-CN">' in page


@needs_browser
def test_report_opened_in_chromium(store: Path, tmp_path: Path, shots: Path) -> None:
    path = report(store, tmp_path / "report.html")
    with browser.open_page(path) as page:
        shot = page.screenshot(shots / "report-zh.png")
        assert page.console_errors() == []
        fonts = page.fonts_of("h1")
        assert fonts.get("Noto Sans CJK SC", 0) >= 8, fonts  # 困难职工案件审计报告
        text = page.text()
        events = page.driver.execute_script(
            "return [...document.querySelectorAll('section.event')]"
            ".map(e => [e.dataset.seq, e.dataset.event])")
        chain = page.driver.execute_script(
            "return document.querySelector('.chain-status').dataset.status")
        drawn = page.driver.execute_script(
            "const r = document.querySelector('figure.path svg').getBoundingClientRect();"
            "return [r.width, r.height]")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert "困难职工案件审计报告" in text
    assert events == [[str(n), line["event"]] for n, line in enumerate(LINES, start=1)]
    for line in LINES:
        assert TRIGGER_LABELS[line["event"]].zh in text
    assert EXIT_CONFIRM_WORDS in text and PHASE_OUT_WORDS in text
    assert chain == "intact" and "完整" in text
    assert "未提供检查点" in text
    assert re.search(r"wx-2023-45@[0-9a-f]{12}", text)
    # the rule results recomputed for the timeline: R-PHASEOUT-MAX of start_phase_out
    assert "渐退期 6 个月，上限 6 个月" in text
    assert drawn[0] > 600 and drawn[1] > 600, drawn  # the path diagram is drawn, not empty


@needs_browser
def test_a_changed_event_breaks_the_chain_in_the_report(copy: Path, tmp_path: Path) -> None:
    mark = tmp_path / "mark.txt"
    ok(jiekun("audit", "checkpoint", "-o", str(mark), *db(copy)))
    held = report(copy, tmp_path / "held.html", "--against", str(mark)).read_text("utf-8")
    assert 'data-status="holds"' in held and 'data-status="intact"' in held
    # start_phase_out (event 8): {"months":6} → {"months":5}, its hash left as it was
    change_payload(copy, 8, '"months":6', '"months":5')
    path = report(copy, tmp_path / "broken.html", "--against", str(mark))
    with browser.open_page(path) as page:
        assert page.console_errors() == []
        text = page.text()
        status = page.driver.execute_script(
            "const s = document.querySelector('.chain-status'); "
            "return [s.dataset.status, s.dataset.seq]")
        held_now = page.driver.execute_script(
            "return document.querySelector('.checkpoint-status').dataset.status")
    assert status == ["broken", "8"]
    assert "第 8 个事件处断裂" in text and "the stored event was changed" in text
    assert held_now == "broken"
    assert "case C-8, event 8" in text  # the checkpoint's finding names the event
    assert "渐退期 5 个月" in text  # the timeline shows what the store holds now


def test_pdf_printed_on_a4(store: Path, tmp_path: Path, shots: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is needed to print the PDF")
    pdf = report(store, tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts",
                                         info).groups())  # type: ignore[union-attr]
    assert abs(width - 595.28) < 2 and abs(height - 841.89) < 2, info
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3  # type: ignore[union-attr]
    first = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(first)], check=True, timeout=120)
    png = first.with_suffix(".png")
    assert png.read_bytes().startswith(b"\x89PNG")
    shutil.copyfile(png, shots / "report-pdf-page1.png")
    words = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True,
                           text=True, check=True, timeout=60).stdout
    assert "困难职工案件审计报告" in words  # the Chinese text is text, in an embedded font


def test_pdf_without_chromium_is_refused(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    missing = str(tmp_path / "no-chromium")
    run = jiekun("audit", "report", "--case", "C-8", "-o", str(target), *db(store),
                 env={**os.environ, "JIEKUN_CHROMIUM": missing})
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert run.stderr.startswith("jiekun: E-PAYLOAD ") and "Traceback" not in run.stderr
    assert "Chromium" in run.stderr and missing in run.stderr and ".html" in run.stderr
    assert not target.exists()


def test_english_and_personal_data(store: Path, tmp_path: Path) -> None:
    page = report(store, tmp_path / "en.html", "--lang", "en").read_text("utf-8")
    assert '<html lang="en">' in page and "Case audit report" in page
    assert "3. Timeline" in page and "refuse exit" in page.lower()
    assert "No checkpoint was given" in page
    shown = report(store, tmp_path / "personal.html", "--show-personal").read_text("utf-8")
    assert ID_NUMBER in shown and "13900000001" in shown
    refused = jiekun("audit", "report", "--case", "C-8", "-o", str(tmp_path / "x.html"),
                     "--show-personal", "--as", "system", *db(store))
    assert refused.returncode == 2 and refused.stderr.startswith("jiekun: E-ACTOR ")
    assert not (tmp_path / "x.html").exists()
    outside = jiekun("audit", "report", "--case", "C-8", "-o", str(tmp_path / "y.html"),
                     "--as", "federation:liangxi", *db(store))
    assert outside.returncode == 2 and "E-ACTOR" in outside.stderr
    wrong = jiekun("audit", "report", "--case", "C-8", "-o", str(tmp_path / "r.docx"),
                   *db(store))
    assert wrong.returncode == 2 and "E-PAYLOAD" in wrong.stderr and ".html" in wrong.stderr
