"""Fuzzing the two inputs that come from outside: application JSON and history files.

Any input is either accepted or refused as invalid input that names the place (a field path,
a line number); nothing else escapes, nothing hangs, and a refused import stores nothing.

How many inputs each test tries: ``tests.soak_settings.examples`` (``make soak`` multiplies
it); with ``JIEKUN_SOAK_TALLY`` set, the count of inputs tried is appended to that file (one
JSON line per test) when the module ends."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiekun.persistence.database import make_engine, upgrade
from jiekun.persistence.queries import case_ids
from jiekun.policies.application import validate_application
from jiekun.policies.errors import InvalidInput
from jiekun.policies.json_input import loads
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import import_history
from tests.soak_settings import examples, tally

EXAMPLE = json.loads((Path(__file__).parents[1] / "examples" / "application.json")
                     .read_text("utf-8"))
HISTORY = (Path(__file__).parents[1] / "cases" / "histories" /
           "05-relative-recheck-phase-out-exit.jsonl").read_text("utf-8").splitlines()

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                      st.sampled_from(["1e2", "1.005", "-0", "320211198001011010", "滨湖区",
                                       "2024-02-30", "self", "deep", ""]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


TRIED: Counter[str] = Counter()  # test → inputs tried


@pytest.fixture(scope="module", autouse=True)
def _tally() -> Iterator[None]:
    yield
    for test, inputs in TRIED.items():
        tally(__file__, test, inputs=inputs)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    document = copy.deepcopy(document)
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return document


@settings(max_examples=examples(400), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mutated_application_is_accepted_or_refused_by_path(data: st.DataObject) -> None:
    TRIED["mutated application"] += 1
    mutated = EXAMPLE
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(mutated)))
        mutated = _replace(mutated, path, data.draw(json_value))
    text = json.dumps(mutated, ensure_ascii=False, allow_nan=True)
    try:
        validate_application(loads(text))
    except InvalidInput as refusal:
        assert refusal.problems, "a refusal lists its problems"
        assert all(str(p) for p in refusal.problems)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.one_of(st.text(max_size=60), json_value.map(
    lambda v: json.dumps(v, allow_nan=True))), min_size=1, max_size=5),
    st.integers(0, len(HISTORY)))
def test_a_fuzzed_history_is_replayed_or_refused_naming_its_line(
        junk: list[str], where: int) -> None:
    TRIED["fuzzed history"] += 1
    lines = HISTORY[:where] + junk + HISTORY[where:]
    decider = _decider()
    try:
        report = replay(lines, decider)
    except InvalidInput as refusal:
        assert any("line" in p.path for p in refusal.problems), refusal.problems
        return
    assert report.cases  # every accepted line belongs to a case that the report lists


_DECIDER: list[Decider] = []


def _decider() -> Decider:
    if not _DECIDER:
        _DECIDER.append(Decider())
    return _DECIDER[0]


def test_a_refused_import_stores_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(make_engine(url))
    engine = Engine.open(url, decider=_decider())
    broken = [*HISTORY[:6], '{"case": "C-6", "at": "2024-09-21T02:00:00", "event": "x", '
                            '"actor": {"role": "system"}}', *HISTORY[6:]]
    try:
        import_history(engine, broken)
    except InvalidInput as refusal:
        assert [p.path for p in refusal.problems] == ["line 7"]
    else:
        raise AssertionError("a naive time must make the file invalid")
    with engine.store.reading() as connection:
        assert case_ids(connection) == []
