"""History files with what an export may add (workflow/CONTRACT.md §2, changed 2026-11-29):
meta lines (``policy_version``, ``checkpoint``) and the optional event fields ``seq``,
``policy``, ``derived``, ``hash``, ``prev_hash``, ``personal_digest``, ``position``, ``proof``
are read (and what replay does not need is ignored); any other key is still an error, and a
field of the wrong type names its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jiekun.policies.errors import InvalidInput
from jiekun.policies.policy_file import shipped_policy_text
from jiekun.policies.policy_hash import policy_text_hash
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay

HISTORY = Path(__file__).resolve().parents[1] / "cases" / "histories" / \
    "07-exit-refused-verified-announced.jsonl"


def _extended(lines: list[str]) -> list[str]:
    # a version line must be a real policy whose text gives its hash (issue 15): the shipped one
    shipped = shipped_policy_text()
    named = policy_text_hash(shipped)
    out = [json.dumps({"policy_version": {"id": "wx-2023-45", "version": 1,
                                          "hash": named, "toml": shipped}})]
    for number, text in enumerate(lines):
        obj = json.loads(text)
        obj.update(seq=number + 1, policy=f"wx-2023-45@{named}",
                   hash=f"{number:064x}",
                   prev_hash=f"{max(number - 1, 0):064x}", personal_digest=None,
                   position=number, proof=["00" * 32])
        out.append(json.dumps(obj, ensure_ascii=False))
    out.append(json.dumps({"checkpoint": {"size": len(lines), "root": "00"}}))
    return out


def test_an_extended_export_replays_as_the_plain_history(decider: Decider) -> None:
    lines = [line for line in HISTORY.read_text("utf-8").splitlines() if line.strip()]
    plain = replay(lines, decider).as_json()
    assert plain["violations"] == 0
    assert replay(_extended(lines), decider).as_json() == plain


@pytest.mark.parametrize(("key", "value"), [("seq", "1"), ("position", True),
                                            ("proof", [1]), ("hash", 5), ("policy", None)])
def test_an_export_field_of_the_wrong_type_names_its_line(decider: Decider, key: str,
                                                          value: object) -> None:
    lines = [line for line in HISTORY.read_text("utf-8").splitlines() if line.strip()]
    obj = json.loads(lines[1])
    obj[key] = value
    lines[1] = json.dumps(obj, ensure_ascii=False)
    with pytest.raises(InvalidInput) as refused:
        replay(lines, decider)
    assert refused.value.problems[0].path == "line 2"
    assert key in str(refused.value.problems[0])


@pytest.mark.parametrize("line", [
    {"policy_version": {"id": "x"}, "extra": 1},   # a meta key beside another key
    {"checkpoint": "not an object"},
    {"hashes": "x", "case": "C-1"},                 # an unknown key
])
def test_other_lines_are_still_errors(decider: Decider, line: dict[str, object]) -> None:
    lines = [line for line in HISTORY.read_text("utf-8").splitlines() if line.strip()]
    with pytest.raises(InvalidInput) as refused:
        replay([*lines[:1], json.dumps(line), *lines[1:]], decider)
    assert refused.value.problems[0].path == "line 2"
