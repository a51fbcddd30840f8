"""History lines are parsed in a few steps when they are plain events (issue 18), and every
other line as before: an accepted line reads the same whichever way it is parsed, and each
malformed line is refused with the message (English and Chinese) it always had, the first
problem of the line first."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from jiekun.policies.errors import InvalidInput
from jiekun.workflow.history import FileLines, parse_numbered

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests" / "cases" / "histories").glob("*.jsonl"))

BASE: dict[str, object] = {
    "case": "C-1", "at": "2024-01-08T10:00:00+08:00", "event": "start_preliminary_review",
    "actor": {"role": "grassroots_union", "org": "gu-test-001"}}
GONE = object()


def _event(**changes: object) -> str:
    obj = {**BASE, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not GONE}, ensure_ascii=False)


NON_EMPTY = "must be a non-empty string", "应为非空的文字"
NAIVE = ("at: '2024-01-08T10:00:00' has no offset (naive times are refused)",
         "at：“2024-01-08T10:00:00”没有注明时区（例如 +08:00）")
# (name, line, message, message_zh) as the history parser always gave them
REFUSED = [
    ("org null", _event(actor={"role": "worker", "org": None}),
     "actor.org: " + NON_EMPTY[0], "actor.org：" + NON_EMPTY[1]),
    ("org empty", _event(actor={"role": "worker", "org": ""}),
     "actor.org: " + NON_EMPTY[0], "actor.org：" + NON_EMPTY[1]),
    ("role number", _event(actor={"role": 1.5}),
     "actor.role: " + NON_EMPTY[0], "actor.role：" + NON_EMPTY[1]),
    ("id_number null", _event(actor={"role": "worker", "id_number": None}),
     "actor.id_number: " + NON_EMPTY[0], "actor.id_number：" + NON_EMPTY[1]),
    ("actor extra", _event(actor={"role": "worker", "name": "x"}),
     "actor.name: unknown field", "actor.name：不认识的字段（可能拼写有误）"),
    ("actor text", _event(actor="worker"), "actor: must be an object", "actor：应为对象"),
    ("actor missing", _event(actor=GONE), "actor: must be an object", "actor：应为对象"),
    ("naive", _event(at="2024-01-08T10:00:00"), *NAIVE),
    ("not iso", _event(at="2024-13-08"),
     "at: '2024-13-08' is not an ISO 8601 time", "at：“2024-13-08”不是 ISO 8601 时间"),
    ("at number", _event(at=20240108), "at: must be an ISO 8601 time with an offset",
     "at：应为带时区的 ISO 8601 时间（例如 +08:00）"),
    ("case empty", _event(case=""), "case: " + NON_EMPTY[0], "case：" + NON_EMPTY[1]),
    ("event missing", _event(event=GONE), "event: " + NON_EMPTY[0], "event：" + NON_EMPTY[1]),
    ("data list", _event(data=[1]), "data: must be an object", "data：应为对象"),
    ("redacted", _event(data={"redacted": True}),
     "a redacted event must carry its recorded derivations (derived)",
     "已脱敏的事件必须附有记录的推导结果（derived）"),
    ("extra key", _event(note="x"), "note: unknown key", "note：不认识的键（可能拼写有误）"),
    ("naive time before an unknown actor field",
     _event(at="2024-01-08T10:00:00", actor={"role": "worker", "name": "x"}), *NAIVE),
    ("nan", _event(data={"x": 1}).replace("1}", "NaN}"),
     "NaN is not valid JSON", "NaN 不是有效的 JSON 值"),
    ("truncated", _event()[:-1], "not JSON: Expecting ',' delimiter at line 1 column 148",
     "不是有效的 JSON：第 1 行第 148 列有误"),
    ("array", "[1]", "must be a JSON object", "应为 JSON 对象"),
    ("export key of another type", _event(data=None, seq="1"),
     "seq: not of its type (int)", "seq：类型不符"),
]


@pytest.mark.parametrize(("name", "text", "message", "message_zh"), REFUSED,
                         ids=[row[0] for row in REFUSED])
def test_a_malformed_line_is_refused_with_its_message(name: str, text: str, message: str,
                                                      message_zh: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_numbered(text, 7)
    problems = refused.value.problems
    assert len(problems) == 1
    assert (problems[0].path, problems[0].message, problems[0].message_zh) == (
        "line 7", message, message_zh)


def _with_export_key(text: str) -> str:
    """The line with ``seq`` added, which replay ignores: parsed by every check there is."""
    obj = json.loads(text)
    obj["seq"] = 1
    return json.dumps(obj, ensure_ascii=False)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_a_plain_event_reads_as_the_same_line_with_an_export_key(path: Path) -> None:
    lines = [t for t in path.read_text("utf-8").splitlines() if t.strip()]
    assert lines
    for number, text in enumerate(lines, start=1):
        plain = parse_numbered(text, number)
        assert plain is not None
        assert plain == parse_numbered(_with_export_key(text), number)
        assert plain.at.utcoffset() is not None
        assert plain.policy is None and plain.derived is None


def test_the_actors_of_lines_are_equal_and_not_confused() -> None:
    base = {"case": "C-1", "at": "2024-01-08T10:00:00+08:00", "event": "withdraw"}
    worker = parse_numbered(json.dumps({**base, "actor": {"role": "worker",
                                                           "id_number": "X1"}}), 1)
    office = parse_numbered(json.dumps({**base, "actor": {"role": "worker", "org": "X1"}}), 2)
    again = parse_numbered(json.dumps({**base, "actor": {"id_number": "X1",
                                                          "role": "worker"}}), 3)
    assert worker is not None and office is not None and again is not None
    assert (worker.actor.org, worker.actor.id_number) == (None, "X1")
    assert (office.actor.org, office.actor.id_number) == ("X1", None)
    assert again.actor == worker.actor != office.actor


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_a_blank_line_is_no_event(text: str) -> None:
    assert parse_numbered(text, 1) is None


def test_leading_spaces_and_an_empty_payload_are_read_as_before() -> None:
    text = ' {"case": "C-1", "at": "2024-01-08T10:00:00+08:00", "event": "withdraw", ' \
           '"actor": {"role": "system"}, "data": {}}'
    line = parse_numbered(text, 4)
    assert line is not None
    assert (line.line, line.case_id, line.trigger, line.actor.role, line.data) == (
        4, "C-1", "withdraw", "system", {})
    assert line == parse_numbered(text.strip(), 4)


ENDS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\n\n", "\r\r\n"]


@pytest.mark.parametrize("seed", range(40))
def test_a_file_read_in_pieces_has_the_lines_of_its_whole_text(tmp_path: Path,
                                                                seed: int) -> None:
    rnd = random.Random(seed)
    text = "".join(rnd.choice(["", " ", "ab", "中文", '{"case"']) + rnd.choice(ENDS)
                   for _ in range(rnd.randint(0, 40)))
    if seed % 2:
        text += "no end"
    path = tmp_path / "h.jsonl"
    path.write_text(text, "utf-8", newline="")
    for piece in (1, 2, 3, 7, 64, 1 << 20):  # cut inside "\r\n" and inside a character
        assert list(FileLines(path, piece)()) == text.splitlines()
        assert FileLines(path, piece).starting_with('{"case"') == [
            line for line in text.splitlines() if line.lstrip().startswith('{"case"')]
