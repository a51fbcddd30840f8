"""``persistence.chain.canonical`` is the text every chain hash is computed over: its prebuilt
encoder must write exactly what ``json.dumps`` with the canonical options writes, for any JSON
value an event may hold (an auditor recomputes hashes with the standard library)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jiekun.persistence.chain import canonical
from tests.soak_settings import examples

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**20, max_value=10**20)
           | st.floats(allow_nan=False) | st.text())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def _standard(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=examples(300), deadline=None)
@given(VALUES)
def test_canonical_is_the_standard_librarys_canonical_json(value: Any) -> None:
    assert canonical(value) == _standard(value)


def test_chinese_text_and_nesting_as_events_hold_them() -> None:
    value = {"summary": "单位公示期间有异议", "b": [1, {"z": None, "a": True}], "a": "引号\"\\"}
    assert canonical(value) == _standard(value)
    assert canonical(value).startswith('{"a":"引号\\"\\\\","b":[1,{"a":true,"z":null}]')
