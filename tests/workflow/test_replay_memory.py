"""What a long replay holds less of (issue 18) without holding anything different: a validated
application's models share their class's set of field names (``share_field_sets``), and a
copy with changes, a dump and equality behave as with sets of their own."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from jiekun.policies.application import (
    Application,
    Household,
    share_field_sets,
    validate_application,
)

CASE = Path(__file__).parents[1] / "cases" / "assess" / "05-accident-income-exactly-4L.json"
ON = date(2024, 9, 2)


def _raw() -> dict[str, object]:
    raw: dict[str, object] = json.loads(CASE.read_text("utf-8"))["application"]
    return raw


def _own_sets(raw: dict[str, object]) -> Application:
    """The application as pydantic validates it, each model with a set of its own."""
    return Application.model_validate(raw)


def test_validated_models_share_one_set_per_class() -> None:
    first, second = validate_application(_raw(), ON), validate_application(_raw(), ON)
    assert first.model_fields_set is second.model_fields_set
    assert first.household.members[0].model_fields_set is (
        second.household.members[1].model_fields_set)
    assert first.model_fields_set == set(Application.model_fields)
    assert first.household.model_fields_set == set(Household.model_fields)


def test_a_shared_application_equals_dumps_and_copies_as_its_own_would() -> None:
    raw = _raw()
    shared, own = validate_application(raw, ON), _own_sets(raw)
    assert shared == own
    assert shared.model_dump(mode="json") == own.model_dump(mode="json")
    assert shared.model_dump(exclude_unset=True) == own.model_dump(exclude_unset=True)
    household = shared.household.model_copy(update={"rigid_expenses": []})
    changed = shared.model_copy(update={"household": household, "accident": None})
    # the copies changed, the shared sets did not
    assert changed.accident is None and shared.accident is not None
    assert shared.model_fields_set == set(Application.model_fields)
    assert shared.household.model_fields_set == set(Household.model_fields)
    assert changed == own.model_copy(update={
        "household": own.household.model_copy(update={"rigid_expenses": []}),
        "accident": None})


def test_a_model_given_only_some_fields_keeps_its_own_set() -> None:
    partial = Household.model_construct(members=[])
    share_field_sets(partial)
    assert partial.model_fields_set == {"members"}
    assert partial.model_fields_set is not validate_application(
        _raw(), ON).household.model_fields_set
