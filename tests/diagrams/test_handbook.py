"""``jiekun handbook``: generated from the definition and the policy — every state, every rule id
with the notice's sentence, the policy's figures (a changed figure changes the page); the
committed copy is current; the page renders in real headless Chromium with Chinese in Noto Sans
CJK SC and no console error; its PDF is A4."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from jiekun.diagrams.notice import sentences
from jiekun.policies.policy_file import load_policy
from jiekun.policies.rules import RULES
from jiekun.workflow.cli.handbook import handbook_text, shipped_examples
from jiekun.workflow.decider import Decider
from tests import browser

REPO = Path(__file__).parents[2]
COMMITTED = REPO / "diagrams" / "handbook-zh.html"
NOTICE = REPO / "policies" / "data" / "wuxi-notice-2023-45.txt"
SHOTS = Path("/tmp/handbook-shots")


@pytest.fixture(scope="module")
def page(decider: Decider) -> str:
    return handbook_text(decider, date(2026, 6, 30), "zh")


def test_every_state_has_its_section_with_both_names(page: str, decider: Decider) -> None:
    for state in decider.lifecycle.states:
        found = re.search(rf'<section class="state" id="state-{state.name}".*?</section>',
                          page, re.S)
        assert found, state.name
        assert state.label.zh in found.group(0) and state.label.en in found.group(0)
        assert "<svg" in found.group(0)  # its own small picture, inline


def test_every_rule_id_is_in_the_glossary_with_the_notices_words(page: str) -> None:
    glossary = page[page.index('id="glossary"'):]
    notice = "".join(NOTICE.read_text("utf-8").split()).replace("**", "")
    for rule_id in RULES:
        row = re.search(rf'<tr id="rule-{rule_id}">(.*?)</tr>', glossary, re.S)
        assert row, rule_id
        quoted = re.findall(r"<td>([^<]*。)</td>", row.group(1))
        if rule_id == "R-ONE-OPEN-CASE":  # the notice is silent: said so, nothing invented
            assert "通知未明文规定" in row.group(1)
            continue
        assert quoted, rule_id
        assert "".join(quoted[0].split()) in notice, rule_id
    # the deep-hardship clause, word for word, mended across the printed page break
    assert "家庭人均收入不超过无锡市最低生活保障标准2倍，扣减刚性支出必要费用后" in glossary


def test_figures_come_from_the_policy_in_force(page: str, tmp_path: Path) -> None:
    assert "现行 1167 元 × 2 = 2334 元/人·月" in page
    assert "收入≤2L" in page
    text = (REPO / "policies" / "data" / "wx-2023-45.toml").read_text("utf-8")
    text = re.sub(r"(?m)^deep_income = 2\b", "deep_income = 5", text)
    text = text.replace('amount = "1167"', 'amount = "1200"')
    text = re.sub(r"(?m)^recheck_months_deep = 12\b", "recheck_months_deep = 9", text)
    changed = tmp_path / "policy.toml"
    changed.write_text(text, "utf-8")
    other = handbook_text(Decider(load_policy(changed)), date(2026, 6, 30), "zh")
    assert "现行 1200 元 × 5 = 6000 元/人·月" in other
    assert "收入≤5L R-DEEP-INCOME" not in page and "收入≤5L" in other
    assert "深度困难每 9 个月" in other and "深度困难每 9 个月" not in page
    # an earlier date shows the standard then in force
    earlier = handbook_text(Decider(load_policy()), date(2024, 8, 1), "zh")
    assert "现行 1115 元 × 2 = 2230 元/人·月" in earlier


def test_timers_and_examples_are_shown(page: str) -> None:
    archived = re.search(r'id="state-archived".*?</section>', page, re.S)
    assert archived is not None
    assert "12/6个月" in archived.group(0) and "核查到期" in archived.group(0)
    upper = re.search(r'id="state-upper_review".*?</section>', page, re.S)
    assert upper is not None
    # 03 is not shipped; 01 is: wuxi-city approves C-1, the engine moves it to media publicity
    assert "01-deep-happy-path-to-archive.jsonl" in upper.group(0)
    assert "接受：上级工会审核 → 同级媒体公示" in upper.group(0)
    phase_out = re.search(r'id="state-under_recheck".*?</section>', page, re.S)
    assert phase_out is not None and "R-PHASEOUT-MAX" in phase_out.group(0)
    assert "拒绝：R-PHASEOUT-MAX" in phase_out.group(0)


def test_shipped_examples_are_the_repositorys_cases() -> None:
    shipped = dict(shipped_examples())
    assert len(shipped) >= 3
    for name, text in shipped.items():
        assert text == (REPO / "tests" / "cases" / "histories" / name).read_text("utf-8")


def test_committed_handbook_is_current(page: str) -> None:
    assert COMMITTED.read_text("utf-8") == page, (
        "run `jiekun handbook -o diagrams/handbook-zh.html` and commit")


def test_notice_sentences_mend_page_breaks() -> None:
    said = sentences("深度困难职工家庭，家庭人均收入不超过无锡市最低生活保\n\n"
                     "障标准 2 倍。\n二、标题\n")
    assert said == ["深度困难职工家庭，家庭人均收入不超过无锡市最低生活保障标准2倍。", "二、标题"]


@pytest.mark.skipif(not browser.available() or shutil.which("pdfinfo") is None,
                    reason="chromium, chromium-driver and poppler-utils are installed by "
                           "`make setup`")
def test_handbook_in_a_real_browser_and_its_a4_pdf(page: str, decider: Decider,
                                                  tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    html = tmp_path / "handbook-zh.html"
    html.write_text(page, "utf-8")
    with browser.open_page(html) as opened:
        assert opened.console_errors() == []
        shown = opened.text()
        for state in decider.lifecycle.states:
            assert state.label.zh in shown
        fonts = opened.fonts_of("section.state h3")
        assert fonts.get("Noto Sans CJK SC", 0) > 0, fonts
        assert opened.fonts_of("#rule-R-DEEP-INCOME td:nth-child(3)").get("Noto Sans CJK SC", 0) > 0
        shot = opened.screenshot(SHOTS / "handbook-zh.png")
        assert shot.stat().st_size > 50_000
    pdf = tmp_path / "handbook-zh.pdf"
    run = subprocess.run([sys.executable, "-m", "jiekun.workflow.cli", "handbook", "-o",
                          str(pdf)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups()  # type: ignore[union-attr]
    assert (round(float(width)), round(float(height))) == (595, 842)
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert pages >= len(decider.lifecycle.states)  # a state starts a page
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "6", str(pdf),
                    str(SHOTS / "handbook-zh-page")], check=True)
    assert len(list(SHOTS.glob("handbook-zh-page-*.png"))) == 6
