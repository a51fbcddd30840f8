"""Errors people can read (issue 14): every refusal says itself in Chinese and English and as
JSON; a misspelt trigger names the one meant; a field problem says what is wrong with its
field in both languages; R-ELIGIBLE's refusal carries its rules as data.

The walk over the error classes finds them by ``JiekunError.__subclasses__()``: a class added
later without an example here fails ``test_every_error_class_reads_in_both_languages``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

import jiekun.workflow  # noqa: F401 - every module that may define an error class, imported
from jiekun.policies.application import validate_application
from jiekun.policies.eligibility import assess
from jiekun.policies.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    FieldProblem,
    GuardFailed,
    HistoryOutOfOrder,
    HistoryTampered,
    IdempotencyMismatch,
    InvalidApplication,
    InvalidArgument,
    InvalidInput,
    InvalidPayload,
    InvalidPolicyFile,
    JiekunError,
    KeyUnavailable,
    NotAuthorized,
    ObjectionProblem,
    PolicyNotInForce,
    SchemaBehind,
    StoreBusy,
    StoreClosed,
    StoreUnavailable,
    TimerGone,
    TransitionNotAllowed,
    UnknownTrigger,
    VersionConflict,
)
from jiekun.policies.policy_file import Policy
from jiekun.policies.results import RuleResult
from jiekun.workflow.decider import Decider
from jiekun.workflow.replay import replay
from tests.workflow.builders import application, drive_to, fed, union

CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^(E-[A-Z-]+|R-[A-Z0-9-]+)$")
AT = datetime.fromisoformat("2024-09-02T10:00:00+08:00")
LATER = datetime.fromisoformat("2024-09-03T10:00:00+08:00")
RESULT = RuleResult("R-PUBLICITY-ELAPSED", False, "§1.1", "公示期未满", "the publicity is not over",
                    {"due": "2024-09-10T00:00:00+08:00"})
PROBLEM = FieldProblem("household.members[1].annual_income", "'-1' is not an amount")

# One instance of every error class, as a caller meets it (ASCII arguments: any Chinese in a
# text is the class's own).
EXAMPLES: dict[type[JiekunError], Callable[[], JiekunError]] = {
    JiekunError: lambda: JiekunError("refused"),
    InvalidInput: lambda: InvalidInput("history file", [FieldProblem("line 3", "unknown key")]),
    InvalidArgument: lambda: InvalidArgument("at", "must be timezone-aware"),
    InvalidApplication: lambda: InvalidApplication([PROBLEM]),
    InvalidPayload: lambda: InvalidPayload("start_phase_out", [
        FieldProblem("data.months", "required field is missing", code="E-MISSING")]),
    PolicyNotInForce: lambda: PolicyNotInForce(date(2027, 1, 4), "the calendar of 2027 is "
                                               "unknown"),
    InvalidPolicyFile: lambda: InvalidPolicyFile("policy.toml: not TOML"),
    TransitionNotAllowed: lambda: TransitionNotAllowed("preliminary_review", "approve",
                                                       ["request_supplement"]),
    UnknownTrigger: lambda: UnknownTrigger("submitted", "aprove", ["withdraw"], ["approve"]),
    NotAuthorized: lambda: NotAuthorized("approve", "federation:binhu",
                                         "the case is reviewed by wuxi-city"),
    GuardFailed: lambda: GuardFailed("unit_publicity_ended", [RESULT]),
    ObjectionProblem: lambda: ObjectionProblem("dismiss_objection refused: objection O-1 is "
                                               "not open"),
    HistoryOutOfOrder: lambda: HistoryOutOfOrder("C-1", AT, LATER, missing="recheck_due"),
    ConcurrencyConflict: lambda: ConcurrencyConflict("C-1", 3, 4),
    CaseNotFound: lambda: CaseNotFound("C-1"),
    VersionConflict: lambda: VersionConflict("C-1"),
    TimerGone: lambda: TimerGone("the timer of C-1 armed by event 3 is no longer pending"),
    IdempotencyMismatch: lambda: IdempotencyMismatch("idempotency key 'k' was used for "
                                                     "another request"),
    SchemaBehind: lambda: SchemaBehind("the store has schema none, this jiekun needs 0002"),
    StoreBusy: lambda: StoreBusy(8, 30.0),
    StoreClosed: lambda: StoreClosed("this engine was closed; open a new one"),
    StoreUnavailable: lambda: StoreUnavailable("sqlite:///x.db", "unable to open database"),
    KeyUnavailable: lambda: KeyUnavailable("no master key is configured",
                                           detail_zh="未配置主密钥"),
    HistoryTampered: lambda: HistoryTampered("C-1", 4, "event 4 does not follow version 2"),
}

# The stable codes (workflow/CONTRACT.md §3): a replay and the command line report them.
CODES = {
    InvalidInput: "E-PAYLOAD", InvalidArgument: "E-INPUT", InvalidApplication: "E-PAYLOAD",
    InvalidPayload: "E-PAYLOAD", PolicyNotInForce: "E-POLICY",
    InvalidPolicyFile: "E-POLICY-FILE", TransitionNotAllowed: "E-TRANSITION",
    UnknownTrigger: "E-TRANSITION", NotAuthorized: "E-ACTOR", GuardFailed: "R-PUBLICITY-ELAPSED",
    ObjectionProblem: "E-OBJECTION", HistoryOutOfOrder: "E-ORDER",
    ConcurrencyConflict: "E-CONFLICT", CaseNotFound: "E-NOT-FOUND", VersionConflict: "E-CONFLICT",
    TimerGone: "E-TIMER-GONE", IdempotencyMismatch: "E-IDEMPOTENCY", SchemaBehind: "E-SCHEMA",
    StoreBusy: "E-BUSY", StoreClosed: "E-BUSY", StoreUnavailable: "E-BUSY", KeyUnavailable: "E-KEY",
    HistoryTampered: "E-TAMPERED",
}

# The data each class's JSON carries besides code and texts.
DATA = {
    TransitionNotAllowed: {"state", "trigger", "allowed", "suggestions"},
    UnknownTrigger: {"state", "trigger", "allowed", "suggestions"},
    NotAuthorized: {"trigger", "actor", "reason"},
    ConcurrencyConflict: {"case", "expected", "actual"},
    InvalidInput: {"problems"}, InvalidApplication: {"problems"},
    InvalidPayload: {"trigger", "problems"}, InvalidArgument: {"parameter", "problems"},
    GuardFailed: {"trigger", "rules"}, PolicyNotInForce: {"date", "reason"},
    HistoryOutOfOrder: {"case", "at", "other", "missing"}, CaseNotFound: {"case"},
    VersionConflict: {"case"}, StoreBusy: {"pool_size", "timeout"},
    StoreUnavailable: {"store", "detail"}, HistoryTampered: {"case", "seq", "reason"},
}


def error_classes() -> list[type[JiekunError]]:
    """JiekunError and every subclass, however deep."""
    found: list[type[JiekunError]] = []
    todo = [JiekunError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_reads_in_both_languages(cls: type[JiekunError]) -> None:
    assert cls in EXAMPLES, f"add an example of {cls.__name__} to EXAMPLES"
    error = EXAMPLES[cls]()
    assert type(error) is cls
    assert CODE.fullmatch(error.code), error.code
    assert error.message_zh and error.message_en
    assert CJK.search(error.message_zh), error.message_zh
    assert not CJK.search(error.message_en), error.message_en
    assert error.message == error.message_en == str(error)
    as_json = error.as_json()
    assert json.loads(json.dumps(as_json, ensure_ascii=False)) == as_json
    assert {"code": as_json["code"], "message_zh": as_json["message_zh"],
            "message_en": as_json["message_en"]} == {
        "code": error.code, "message_zh": error.message_zh, "message_en": error.message_en}
    assert DATA.get(cls, set()) <= set(as_json), set(as_json)
    if cls in CODES:
        assert error.code == CODES[cls]


def test_every_field_problem_of_an_input_error_reads_in_both_languages() -> None:
    for cls in error_classes():
        error = EXAMPLES[cls]()
        for problem in getattr(error, "problems", []):
            assert problem.path and problem.code and CODE.fullmatch(problem.code)
            assert CJK.search(problem.message_zh) and not CJK.search(problem.message_en)
    assert InvalidArgument("at", "naive").problems[0].code == "E-INPUT"
    assert InvalidPayload("x", [PROBLEM]).problems[0].code == "E-PAYLOAD"


def test_a_refusal_names_states_and_triggers_in_chinese() -> None:
    error = TransitionNotAllowed("preliminary_review", "approve", ["request_supplement",
                                                                  "reject_preliminary"])
    assert error.message_zh == ("该案件当前状态为“基层工会初审”，不能执行“审核通过”；此时可执行："
                                "“退回补充材料”、“初审不予通过”。")
    assert "approve is not allowed in state preliminary_review" in error.message_en


# --- did you mean ------------------------------------------------------------------------------

def test_a_misspelt_trigger_names_the_one_meant(decider: Decider) -> None:
    d = drive_to(decider, "submitted")
    with pytest.raises(TransitionNotAllowed) as refused:
        d.fire("aprove", fed("binhu"))
    error = refused.value
    assert isinstance(error, UnknownTrigger) and error.code == "E-TRANSITION"
    assert "approve" in error.suggestions
    assert "did you mean approve?" in error.message_en
    assert "审核通过" in error.message_zh and "approve" in error.message_zh
    assert error.as_json()["suggestions"] == list(error.suggestions)
    assert error.allowed == decider.allowed_triggers("submitted")


def test_a_known_trigger_in_the_wrong_state_suggests_nothing(decider: Decider) -> None:
    d = drive_to(decider, "submitted")
    with pytest.raises(TransitionNotAllowed) as refused:
        d.fire("approve", fed("binhu"))
    assert type(refused.value) is TransitionNotAllowed and refused.value.suggestions == ()


def test_replay_still_reports_a_misspelt_trigger_as_e_transition(decider: Decider) -> None:
    d = drive_to(decider, "submitted")
    submit = d.events[0]
    lines = [json.dumps({"case": "C-1", "at": submit.at.isoformat(), "event": "submit",
                         "actor": submit.actor, "data": submit.data}, ensure_ascii=False),
             json.dumps({"case": "C-1", "at": "2024-03-04T11:00:00+08:00",
                         "event": "start_preliminary_reveiw",
                         "actor": {"role": "grassroots_union", "org": "gu-test-001"}})]
    violation = replay(lines, decider).as_json()["cases"]["C-1"]["violation"]
    assert violation["rule"] == "E-TRANSITION" and violation["line"] == 2
    assert "did you mean start_preliminary_review?" in violation["message"]
    assert CJK.search(violation["message_zh"])


# --- field problems ----------------------------------------------------------------------------

def test_a_bad_application_names_each_field_in_both_languages() -> None:
    raw = application("relative")
    raw["household"]["members"][1]["annual_income"] = "-1"
    raw["unit"]["region"] = "无锡市"
    raw["applicant"]["nickname"] = "小王"
    del raw["residence"]["community"]
    with pytest.raises(InvalidApplication) as refused:
        validate_application(raw, date(2024, 9, 2))
    problems = {p.path: p for p in refused.value.problems}
    income = problems["household.members[1].annual_income"]
    assert income.message_en == "'-1' is not an amount: digits with at most two decimals, no " \
                                "sign, no spaces"
    assert income.code == "E-PAYLOAD" and "不是有效金额" in income.message_zh
    assert problems["unit.region"].code == "E-PAYLOAD"
    assert "滨湖区" in problems["unit.region"].message_zh
    assert "应为" in problems["unit.region"].message_zh
    assert problems["applicant.nickname"].code == "E-UNKNOWN-FIELD"
    assert problems["applicant.nickname"].message_en == "unknown field"
    assert problems["residence.community"].code == "E-MISSING"
    assert problems["residence.community"].message_zh == "缺少必填项"
    assert all(CJK.search(p.message_zh) for p in problems.values())
    as_json = refused.value.as_json()
    assert as_json["code"] == "E-PAYLOAD"
    assert {"path": "residence.community", "code": "E-MISSING", "message_zh": "缺少必填项",
            "message_en": "required field is missing"} in as_json["problems"]
    assert refused.value.message_zh.startswith("申请材料有误，共 4 处需要更正：")


def test_a_bad_id_number_says_what_is_wrong_in_chinese() -> None:
    raw = application("relative")
    raw["applicant"]["id_number"] = raw["applicant"]["id_number"][:17] + (
        "0" if raw["applicant"]["id_number"][17] != "0" else "1")
    with pytest.raises(InvalidApplication) as refused:
        validate_application(raw, date(2024, 9, 2))
    problem = refused.value.problems[0]
    assert problem.path == "applicant.id_number" and "GB 11643 gives" in problem.message_en
    assert "校验位" in problem.message_zh


def test_a_payload_problem_carries_its_chinese_text_and_code(decider: Decider) -> None:
    d = drive_to(decider, "preliminary_review")
    with pytest.raises(InvalidPayload) as refused:
        d.fire("request_supplement", union(), {"reasons": "缺少收入证明"})
    problems = {p.path: p for p in refused.value.problems}
    assert problems["data.reasons"].code == "E-UNKNOWN-FIELD"
    assert problems["data.reason"].code == "E-MISSING"
    assert "“退回补充材料”" in refused.value.message_zh


# --- R-ELIGIBLE's rules as data ----------------------------------------------------------------

def test_r_eligible_refusal_carries_every_rule_as_assess_shows_it(decider: Decider,
                                                                  policy: Policy) -> None:
    d = drive_to(decider, "preliminary_review", "none")
    with pytest.raises(GuardFailed) as refused:
        d.fire("pass_preliminary_review", union())
    error = refused.value
    assert error.code == "R-ELIGIBLE"
    result = error.results[0]
    assert len(result.rules) == 7 and not any(r.passed for r in result.rules[:4])
    assessed = assess(validate_application(application("none")), policy, d.clock.date())
    assert [r.as_json() for r in result.rules] == assessed.as_json()["rules"]
    rules: list[dict[str, Any]] = error.as_json()["rules"][0]["rules"]
    income = next(r for r in rules if r["id"] == "R-DEEP-INCOME")
    assert income["passed"] is False
    assert income["figures"] == {"value": "5000.00", "limit": "2190.00", "comparison": "≤",
                                 "multiple": "2", "living_standard": "1095.00"}
    # the figures are no longer flattened into strings
    assert result.figures == {"category": "none", "living_standard": "1095.00"}
