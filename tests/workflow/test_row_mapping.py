"""Shortcuts the audit's read path takes (issue 16's ≤ 60 s for a million events) give what
the long way gives: an event built from a trusted row equals pydantic's ``model_construct``
of it; a derivation parsed once is the one parsing its text gives; the vault's application
compared by its text still tells every difference the parsed comparison tells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jiekun.policies.application import Application, validate_application
from jiekun.workflow.audit import vault_differs
from jiekun.workflow.records import CaseState, Derived, Event
from jiekun.workflow.row_mapping import derived_of

CASE = Path(__file__).parents[1] / "cases" / "assess" / "01-deep-income-exactly-2L.json"


def _application() -> Application:
    raw = json.loads(CASE.read_text("utf-8"))["application"]
    return validate_application(raw, datetime(2024, 9, 2, tzinfo=UTC).date())


def test_a_trusted_event_is_the_event_model_construct_makes() -> None:
    values = dict(case_id="C-1", seq=3, at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
                  trigger="submit", actor={"role": "worker"}, data={"n": 1},
                  policy_id="wuxi", policy_hash="ab", derived=Derived(state="draft"))
    fast, slow = Event.trusted(**values), Event.model_construct(**values)  # type: ignore[arg-type]
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set == set(Event.model_fields)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_copy(update={"seq": 4}).seq == 4
    assert fast.model_extra is None and fast.__pydantic_private__ is None


def test_a_derivation_is_parsed_once_per_text_and_a_new_text_misses() -> None:
    text = Derived(state="deep_review", category="deep").model_dump_json()
    assert derived_of(text) is derived_of(text)
    assert derived_of(text) == Derived.model_validate_json(text)
    other = Derived(state="deep_review", category="relative").model_dump_json()
    assert derived_of(other).category == "relative"


def test_the_vault_compared_by_text_tells_what_parsing_tells() -> None:
    application = _application()
    applicant = application.applicant.id_number
    folded = CaseState("C-1", application=application, applicant_id=applicant)
    written = application.model_dump_json()
    assert not vault_differs(folded, (applicant, written))
    # the same application in another JSON layout: not the engine's text, parsed, equal
    relaid = json.dumps(json.loads(written), indent=2, ensure_ascii=False)
    assert relaid != written and not vault_differs(folded, (applicant, relaid))
    assert vault_differs(folded, ("110101199001011234", written))  # another applicant
    changed = json.loads(written)
    changed["applicant"]["name"] = changed["applicant"]["name"] + "X"
    assert vault_differs(folded, (applicant, json.dumps(changed, ensure_ascii=False)))
    assert vault_differs(folded, (applicant, "{not json"))
    assert vault_differs(folded, None)
    assert not vault_differs(CaseState("C-2"), None)
