"""The notice's own words for each rule id, quoted from its text file
(policies/data/wuxi-notice-2023-45.txt, shipped with the package).

The file keeps the printed page breaks, which cut sentences in two (``最低生活保`` / ``障标准``):
a line that is long and does not end a sentence runs on into the next. The quote of a rule is
the sentence (up to ``。``) holding the rule's key phrase; a phrase the text does not contain is
an error, so a change of the text cannot silently leave a rule unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

NOTICE_FILE = "wuxi-notice-2023-45.txt"

#: The phrase of the notice each rule implements; None where the notice is silent and the rule
#: is an interpretation (policies/RULES.md says which).
KEY_PHRASES: Mapping[str, str | None] = {
    "R-DEEP-INCOME": "深度困难职工家庭，家庭人均收入",
    "R-DEEP-NET": "深度困难职工家庭，家庭人均收入",
    "R-REL-INCOME": "相对困难职工家庭，家庭人均收入",
    "R-REL-NET": "相对困难职工家庭，家庭人均收入",
    "R-ACC-EVENT": "因遭遇突发事件、意外伤害、患重大疾病",
    "R-ACC-INCOME": "应符合家庭人均收入在无锡市最低生活保障标准",
    "R-ACC-NET": "应符合家庭人均收入在无锡市最低生活保障标准",
    "R-ELIGIBLE": "按照深度困难、相对困难、意外致困等类别",
    "R-ONE-OPEN-CASE": None,
    "R-NONEXCL": "不得将非会员、下岗职工、农民工等群体排除在申报对象之外",
    "R-PUBLICITY-ELAPSED": "公示无异议的报上级工会",
    "R-RECHECK-CADENCE": "原则上每年核查一次",
    "R-NO-ARBITRARY-CUT": "不得随意降低帮扶水平",
    "R-RETENTION": "自撤档之日起保管",
    "R-OUT-OF-HARDSHIP": "及时脱困退出",
    "R-PHASEOUT-MAX": "给予不超过6个月的渐退期",
    "R-PHASEOUT-ELAPSED": "给予不超过6个月的渐退期",
    "R-EXIT-CONFIRM": "须经职工本人、基层工会确认后退档",
    "R-EXIT-REFUSAL": "无正当理由拒绝确认的",
    "R-CANCEL": "及时注销退档",
    "R-REENTRY": "返困即入",
    "R-AID-STATE": "渐退期内可继续给予帮扶",
    "R-AID-TIER": "分档救助标准",
    "R-MEDICAL-CAP": "不得超过困难职工家庭年度自付医疗费用总额",
    "E-OBJECTION": "公示无异议的确认为帮扶对象",
}

# a line shorter than this that does not end a sentence is a heading, not a cut sentence
_HEADING_CHARS = 20


def notice_text() -> str:
    """The notice as shipped."""
    return resources.files("jiekun.policies").joinpath("data", NOTICE_FILE).read_text("utf-8")


def sentences(text: str) -> list[str]:
    """The notice's sentences, page breaks mended, markup and spaces inside numbers removed."""
    paragraphs: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip().replace("**", "")
        if not line:
            continue
        current += line
        if line.endswith(("。", "：")) or len(line) < _HEADING_CHARS:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return [_tidy(s) for paragraph in paragraphs for s in re.findall(r"[^。]+。?", paragraph)]


def _tidy(sentence: str) -> str:
    # "标准 2 倍", "保管 10 年": the file pads figures with spaces, the quote keeps the words
    return re.sub(r"(?<=[^\x00-\x7f]) (?=\d)|(?<=\d) (?=[^\x00-\x7f])", "", sentence)


@cache
def _shipped_sentences() -> tuple[str, ...]:
    return tuple(sentences(notice_text()))


def sentence_with(phrase: str, text: str | None = None) -> str:
    """The notice's sentence holding ``phrase`` (spaces padding its figures are ignored, as in
    the quotes); LookupError when there is none. ``text``: another text of the notice."""
    pool = _shipped_sentences() if text is None else tuple(sentences(text))
    key = _tidy(phrase)
    for sentence in pool:
        if key in sentence:
            return sentence
    raise LookupError(f"the notice has no sentence with {phrase!r}")


def quote(rule_id: str, text: str | None = None) -> str | None:
    """The sentence of the notice behind ``rule_id``; None where the notice is silent.
    KeyError for a rule without a phrase; LookupError when the text lacks the phrase."""
    phrase = KEY_PHRASES[rule_id]
    if phrase is None:
        return None
    try:
        return sentence_with(phrase, text)
    except LookupError:
        raise LookupError(f"the notice has no sentence with {phrase!r} (rule {rule_id})"
                          ) from None
