"""Classified aid (issue 6; policies/RULES.md §2, states/LIFECYCLE.md
``grant_aid``) through the Decider.

1. The grant_aid matrix (test_triggers.py leaves it out of its tables): allowed from
   ``archived`` and ``phase_out`` (state kept, seq + 1, an AidRecord derived), refused in every
   other state by R-AID-STATE, E-TRANSITION with no case, E-ACTOR for a wrong actor, E-PAYLOAD.
2. Every rule allowed and refused: R-AID-TIER, R-MEDICAL-CAP, R-NO-ARBITRARY-CUT.
3. Grants are events: a history with grant_aid lines replays on the command line under a policy
   file holding tier tables (the store's round trip is in tests/store/test_aid_store.py).

The tier tables are the illustrative ones of policies/data/illustrative-aid-tiers.toml (or small
tables written here); every expected amount is read off those tables by hand in a comment.
Routing (policies/RULES.md §1.1): a unit in 滨湖区 → deep cases to ``wuxi-city``, relative and
accident cases to ``binhu``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jiekun.policies.aid_merge import with_tier_tables
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import (
    GuardFailed,
    InvalidPayload,
    InvalidPolicyFile,
    JiekunError,
    NotAuthorized,
    TransitionNotAllowed,
)
from jiekun.policies.policy_file import load_policy
from jiekun.states import TimerKind, build_lifecycle
from jiekun.workflow.decider import Decider
from jiekun.workflow.effects import apply as fold
from jiekun.workflow.records import AidRecord, CaseState, Command, Derived, Event
from jiekun.workflow.replay import replay
from tests.workflow.builders import (
    AUDITOR,
    OTHER_ID,
    SPOUSE,
    SYSTEM,
    UNION,
    WORKER_ID,
    Driver,
    application,
    at,
    drive_to,
    fed,
    resident_id,
    union,
    worker,
)

ROOT = Path(__file__).resolve().parents[2]
ILLUSTRATIVE = ROOT / "policies" / "data" / "illustrative-aid-tiers.toml"
DEFAULT_POLICY_FILE = ROOT / "policies" / "data" / "wx-2023-45.toml"
THIRD_ID = resident_id("32021119850505123")  # born 1985-05-05
JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]

# The illustrative tables (tier: min–max yuan; the first tier is the highest):
#   living   deep      1: 1500–2000   2: 1000–1499.99  3: 500–999.99
#   living   relative  1: 800–1200    2: 400–799.99
#   living   accident  1: 1000–3000   2: 500–999.99
#   education deep     1: 2000–3000   2: 1000–1999.99
#   education relative 1: 1000–1500   2: 500–999.99      (no education/accident table)
#   medical  <every body> <every category>  1: 1–20000  2: 1–8000


@pytest.fixture(scope="module")
def aid_decider() -> Decider:
    return Decider(with_tier_tables(load_policy(), ILLUSTRATIVE, "+test"))


def tables_decider(tmp_path: Path, text: str, suffix: str) -> Decider:
    path = tmp_path / "tables.toml"
    path.write_text(text, "utf-8")
    return Decider(with_tier_tables(load_policy(), path, suffix))


_CACHE: dict[tuple[Any, ...], Driver] = {}


def driver_in(decider: Decider, state: str, category: str = "relative", **options: Any
              ) -> Driver:
    """A fresh Driver on a case in ``state`` (the path is driven once per decider and key)."""
    key = (id(decider), state, category, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = drive_to(decider, state, category, **options)
    base = _CACHE[key]
    d = Driver(decider, base.case_id, copy.deepcopy(base.index))
    d.case, d.clock, d.events = base.case, base.clock, list(base.events)
    return d


def grant(d: Driver, actor: Actor | None = None, /, **data: Any) -> Any:
    """Fire grant_aid by the case's reviewing body (or ``actor``); the case after it."""
    return d.fire("grant_aid", actor or fed(d.body), data)


def refusal(d: Driver, actor: Actor | None = None, /, **data: Any) -> JiekunError:
    """The refusal of a grant_aid; checks that the case is left as it was."""
    before = d.case
    with pytest.raises(JiekunError) as caught:
        d.fire("grant_aid", actor or fed(d.body), data)
    assert d.case is before  # a refused event changes nothing
    return caught.value


def guard_refusal(d: Driver, rule_id: str, /, **data: Any) -> GuardFailed:
    error = refusal(d, **data)
    assert isinstance(error, GuardFailed), error
    assert error.rule == rule_id, error
    assert not error.results[0].passed
    return error


def living(tier: str, amount: str, period: str = "2024-10") -> dict[str, str]:
    return {"item": "living", "tier": tier, "amount": amount, "period": period}


def medical(tier: str, amount: str, period: str = "2024-10",
            declared: str | None = None) -> dict[str, str]:
    data = {"item": "medical", "tier": tier, "amount": amount, "period": period}
    if declared is not None:
        data["self_paid_medical_total"] = declared
    return data


# ---------------------------------------------------------------------------------------------
# 1. The grant_aid matrix

# (category, payload, expected record fields tier/rank/amount/year): the amounts inside the
# illustrative tiers (table above), the years from the period.
ALLOWED = [
    ("relative", living("2", "400", "2024-11"), ("2", 1, Decimal("400"), "2024")),
    ("relative", {"item": "education", "tier": "1", "amount": "1500", "period": "2025"},
     ("1", 0, Decimal("1500"), "2025")),
    ("relative", medical("2", "8000", "2024-12", declared="8000"),
     ("2", 1, Decimal("8000"), "2024")),
    ("relative", {"item": "training", "period": "2024-10", "note": "叉车培训"},
     (None, None, None, "2024")),
    ("relative", {"item": "job_referral", "period": "2025-01"}, (None, None, None, "2025")),
    ("relative", {"item": "legal_aid", "period": "2024"}, (None, None, None, "2024")),
    ("deep", living("3", "999.99", "2025-06"), ("3", 2, Decimal("999.99"), "2025")),
    ("deep", {"item": "education", "tier": "2", "amount": "1999.99", "period": "2024-09"},
     ("2", 1, Decimal("1999.99"), "2024")),
    ("deep", medical("1", "20000", "2025", declared="20000"),
     ("1", 0, Decimal("20000"), "2025")),
    ("accident", living("1", "3000"), ("1", 0, Decimal("3000"), "2024")),
]
BODY = {"deep": "wuxi-city", "relative": "binhu", "accident": "binhu"}


@pytest.mark.parametrize("state", ["archived", "phase_out"])
@pytest.mark.parametrize(("category", "payload", "expected"), ALLOWED,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_grant_allowed_in_archived_and_phase_out(aid_decider: Decider, state: str,
                                                 category: str, payload: dict[str, str],
                                                 expected: tuple[Any, ...]) -> None:
    d = driver_in(aid_decider, state, category)
    before = d.case
    assert before is not None
    after = grant(d, **payload)
    event = d.events[-1]
    tier, rank, amount, year = expected
    assert (event.trigger, event.seq, event.derived.state) == ("grant_aid", before.version + 1,
                                                               state)
    assert event.actor == {"role": "federation", "org": BODY[category]}
    assert event.data == payload  # recorded as given (the history and the export carry it)
    assert event.derived.aid == AidRecord(
        item=payload["item"], tier=tier, rank=rank, amount=amount, year=year,
        category=category, reviewing_body=BODY[category])
    # an internal transition: the state, its timer and its entry time are kept
    assert (after.state, after.version) == (state, before.version + 1)
    assert (after.category, after.reviewing_body) == (category, BODY[category])
    assert after.timers == before.timers and after.entered_at == before.entered_at
    assert after.application == before.application
    # the fold: the item's last rank, the year's medical totals
    assert after.aid_ranks == ({} if rank is None else {payload["item"]: rank})
    if payload["item"] == "medical":
        assert after.medical_granted == {year: amount}
        assert after.medical_declared == {year: Decimal(payload["self_paid_medical_total"])}
    else:
        assert after.medical_granted == {} and after.medical_declared == {}


OTHER_STATES = [
    ("submitted", {}), ("preliminary_review", {}), ("unit_publicity", {}),
    ("upper_review", {}), ("media_publicity", {}), ("under_recheck", {}),
    ("re_entered", {"came_from": "phase_out"}), ("re_entered", {"came_from": "exited"}),
    ("exit_pending", {}), ("exit_verification", {}), ("exit_publicity", {}), ("exited", {}),
    ("rejected", {}), ("withdrawn", {}), ("cancelled", {}), ("purged", {}),
]


@pytest.mark.parametrize(("state", "options"), OTHER_STATES,
                         ids=[f"{s}-{o.get('came_from', '')}" for s, o in OTHER_STATES])
@pytest.mark.parametrize("payload", [living("1", "1000"), {"item": "legal_aid",
                                                            "period": "2024"}],
                         ids=["living", "legal_aid"])
def test_grant_refused_in_every_other_state_by_r_aid_state(
        aid_decider: Decider, state: str, options: dict[str, str],
        payload: dict[str, str]) -> None:
    d = driver_in(aid_decider, state, **options)
    assert d.case is not None
    actor = fed(d.case.reviewing_body or "binhu")  # binhu: where the relative case goes
    error = refusal(d, actor, **payload)
    assert not isinstance(error, TransitionNotAllowed)  # not E-TRANSITION: a named rule
    assert isinstance(error, GuardFailed) and error.rule == "R-AID-STATE", error
    result = error.results[0]
    assert (result.id, result.passed, result.figures["state"]) == ("R-AID-STATE", False, state)
    assert state in result.explanation_en and result.explanation_zh


def test_grant_on_a_case_that_does_not_exist_is_e_transition(aid_decider: Decider) -> None:
    command = Command("C-404", "grant_aid", fed("binhu"), at(2024, 10, 8, 10),
                      living("1", "1000"))
    with pytest.raises(TransitionNotAllowed) as caught:
        aid_decider.decide(None, command, _NoOpen())
    assert caught.value.rule == "E-TRANSITION" and caught.value.state is None


class _NoOpen:
    def open_case_of(self, applicant_id: str) -> str | None:
        return None


# Actor rule of grant_aid (states/LIFECYCLE.md): the reviewing federation of the case, nobody else.
WRONG_ACTORS = [
    worker(WORKER_ID), worker(OTHER_ID), union(UNION), SYSTEM, AUDITOR,
    fed("wuxi-city"),  # the city federation does not review a relative case in 滨湖区
    fed("liangxi"), fed("jiangyin"), Actor("federation", org="nowhere"), Actor("federation"),
]


@pytest.mark.parametrize("state", ["archived", "phase_out"])
@pytest.mark.parametrize("actor", WRONG_ACTORS, ids=lambda a: a.label)
def test_grant_by_a_wrong_actor_is_e_actor(aid_decider: Decider, state: str,
                                           actor: Actor) -> None:
    d = driver_in(aid_decider, state, "relative")
    error = refusal(d, actor, **living("1", "1000"))
    assert isinstance(error, NotAuthorized) and error.rule == "E-ACTOR", error


def test_a_district_federation_cannot_grant_on_a_city_case(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "deep")  # reviewed by wuxi-city
    for org in ("binhu", "liangxi", "yixing"):
        error = refusal(d, fed(org), **living("1", "1500"))
        assert isinstance(error, NotAuthorized) and error.rule == "E-ACTOR"
    grant(d, fed("wuxi-city"), **living("1", "1500"))


# (payload, the path named among the problems)
BAD_PAYLOADS = [
    ({"item": "living", "tier": "1", "amount": "1000"}, "data.period"),
    ({"tier": "1", "amount": "1000", "period": "2024-10"}, "data.item"),
    ({"item": "food", "period": "2024-10"}, "data.item"),
    ({"item": "Living", "tier": "1", "amount": "1000", "period": "2024-10"}, "data.item"),
    (living("1", "1000", "2024-13"), "data.period"),
    (living("1", "1000", "2024-00"), "data.period"),
    (living("1", "1000", "24"), "data.period"),
    (living("1", "1000", "2024-1"), "data.period"),
    (living("1", "1000", "2024/10"), "data.period"),
    (living("1", "1000", "2024-10-01"), "data.period"),
    ({"item": "living", "tier": "1", "amount": "1000", "period": 2024}, "data.period"),
    ({"item": "living", "amount": "1000", "period": "2024-10"}, "data.tier"),
    ({"item": "living", "tier": "1", "period": "2024-10"}, "data.amount"),
    ({"item": "education", "period": "2024"}, "data.tier"),
    ({"item": "medical", "tier": "1", "period": "2024", "self_paid_medical_total": "10"},
     "data.amount"),
    ({"item": "training", "amount": "100", "period": "2024-10"}, "data.amount"),
    ({"item": "job_referral", "tier": "1", "period": "2024-10"}, "data.tier"),
    ({"item": "legal_aid", "period": "2024", "self_paid_medical_total": "100"},
     "data.self_paid_medical_total"),
    ({**living("1", "1000"), "self_paid_medical_total": "5000"},
     "data.self_paid_medical_total"),
    ({"item": "education", "tier": "1", "amount": "1000", "period": "2024",
      "self_paid_medical_total": "5000"}, "data.self_paid_medical_total"),
    (living("1", "-1000"), "data.amount"),
    (living("1", "1000.005"), "data.amount"),
    ({**living("1", "1000"), "tier": ""}, "data.tier"),
    ({**living("1", "1000"), "tier": 1}, "data.tier"),
    (medical("1", "100", declared="lots"), "data.self_paid_medical_total"),
    ({**living("1", "1000"), "reason": "x"}, "data.reason"),
]


@pytest.mark.parametrize(("payload", "path"), BAD_PAYLOADS)
def test_bad_payload_is_e_payload(aid_decider: Decider, payload: dict[str, Any],
                                  path: str) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    error = refusal(d, **payload)
    assert isinstance(error, InvalidPayload) and error.rule == "E-PAYLOAD", error
    assert path in [p.path for p in error.problems], error.problems


@pytest.mark.parametrize("period", ["2024", "2024-01", "2024-12", "2026-06", "1999-07"])
def test_a_period_is_a_year_or_a_month(aid_decider: Decider, period: str) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    grant(d, item="job_referral", period=period)
    aid = d.events[-1].derived.aid
    assert aid is not None and aid.year == period[:4]


# ---------------------------------------------------------------------------------------------
# 2a. R-AID-TIER


@pytest.mark.parametrize(("category", "payload", "where"), [
    ("deep", living("1", "1500"), "living/deep"),
    ("relative", living("2", "500"), "living/relative"),
    ("relative", {"item": "education", "tier": "1", "amount": "1000", "period": "2024"},
     "education/relative"),
    ("deep", medical("1", "100", declared="100"), "medical/deep/wuxi-city"),
    ("accident", medical("1", "100", declared="100"), "medical/accident/binhu"),
])
def test_the_default_policy_has_no_tier_tables(decider: Decider, category: str,
                                               payload: dict[str, str], where: str) -> None:
    d = driver_in(decider, "archived", category)
    error = guard_refusal(d, "R-AID-TIER", **payload)
    message = f"no tier table for {where} in policy wx-2023-45"
    assert error.results[0].explanation_en == message
    assert message in str(error)


def test_the_default_policy_grants_unpaid_items(decider: Decider) -> None:
    d = driver_in(decider, "archived", "deep")
    for item in ("training", "job_referral", "legal_aid"):
        after = grant(d, item=item, period="2024-10")
        assert after.aid_ranks == {}


# (category, item, tier, amount, allowed): tier edges from the table at the top, one cent out
TIER_EDGES = [
    ("relative", "living", "1", "800", True), ("relative", "living", "1", "1200", True),
    ("relative", "living", "1", "799.99", False), ("relative", "living", "1", "1200.01", False),
    ("relative", "living", "2", "400", True), ("relative", "living", "2", "799.99", True),
    ("relative", "living", "2", "399.99", False), ("relative", "living", "2", "800", False),
    ("deep", "living", "1", "1500", True), ("deep", "living", "1", "2000", True),
    ("deep", "living", "1", "1499.99", False), ("deep", "living", "1", "2000.01", False),
    ("deep", "living", "3", "500", True), ("deep", "living", "3", "999.99", True),
    ("deep", "living", "3", "499.99", False), ("deep", "living", "3", "0", False),
    ("accident", "living", "2", "999.99", True), ("accident", "living", "2", "1000", False),
    ("accident", "living", "1", "3000", True), ("accident", "living", "1", "3000.01", False),
    ("relative", "education", "1", "1000", True), ("relative", "education", "1", "1500", True),
    ("relative", "education", "1", "1500.01", False),
    ("relative", "education", "2", "999.99", True), ("relative", "education", "2", "1000",
                                                        False),
    ("deep", "education", "2", "1000", True), ("deep", "education", "2", "999.99", False),
    ("deep", "education", "1", "3000", True), ("deep", "education", "1", "3000.01", False),
    ("relative", "medical", "2", "1", True), ("relative", "medical", "2", "8000", True),
    ("relative", "medical", "2", "0.99", False), ("relative", "medical", "2", "8000.01", False),
    ("deep", "medical", "1", "20000", True), ("deep", "medical", "1", "20000.01", False),
]


@pytest.mark.parametrize(("category", "item", "tier", "amount", "allowed"), TIER_EDGES)
def test_the_amount_fits_the_tier(aid_decider: Decider, category: str, item: str, tier: str,
                                  amount: str, allowed: bool) -> None:
    d = driver_in(aid_decider, "archived", category)
    payload = {"item": item, "tier": tier, "amount": amount, "period": "2024-10"}
    if item == "medical":
        payload["self_paid_medical_total"] = "100000"  # far above: the cap is not in play
    if allowed:
        grant(d, **payload)
        aid = d.events[-1].derived.aid
        assert aid is not None and aid.amount == Decimal(amount) and aid.tier == tier
        return
    error = guard_refusal(d, "R-AID-TIER", **payload)
    figures = error.results[0].figures
    assert figures["table"] == f"{item}/{category}" + (f"/{BODY[category]}"
                                                       if item == "medical" else "")
    assert figures["amount"] == f"{Decimal(amount):.2f}"


@pytest.mark.parametrize(("category", "payload", "where"), [
    ("relative", living("3", "500"), "living/relative"),  # relative has tiers 1 and 2 only
    ("deep", living("4", "500"), "living/deep"),
    ("deep", living("first", "1500"), "living/deep"),
    ("relative", medical("3", "100", declared="1000"), "medical/relative/binhu"),
])
def test_an_unknown_tier_is_refused(aid_decider: Decider, category: str,
                                    payload: dict[str, str], where: str) -> None:
    d = driver_in(aid_decider, "archived", category)
    error = guard_refusal(d, "R-AID-TIER", **payload)
    assert error.results[0].explanation_en == f"{where} has no tier {payload['tier']!r}"


def test_an_item_without_a_table_for_the_category_is_refused(aid_decider: Decider) -> None:
    # the illustrative file has no education/accident table
    d = driver_in(aid_decider, "archived", "accident")
    error = guard_refusal(d, "R-AID-TIER", item="education", tier="1", amount="1000",
                          period="2024")
    assert error.results[0].explanation_en == (
        "no tier table for education/accident in policy wx-2023-45+test")


def test_the_living_table_is_one_for_the_city(aid_decider: Decider) -> None:
    # relative cases of two districts: the same table (tier 1: 800–1200)
    for region, body in (("滨湖区", "binhu"), ("梁溪区", "liangxi")):
        d = driver_in(aid_decider, "archived", "relative", region=region,
                      case_id=f"C-{body}")
        assert d.body == body
        grant(d, **living("1", "1200"))
        guard_refusal(d, "R-AID-TIER", **living("1", "1200.01"))


PER_BODY_TABLES = """
[aid]
[[aid.tables]]
item = "medical"
body = "binhu"
category = "relative"
tiers = [{id = "A", min = "100", max = "500"}]

[[aid.tables]]
item = "medical"
body = "wuxi-city"
category = "relative"
tiers = [{id = "A", min = "1000", max = "3000"}]

[[aid.tables]]
item = "medical"
body = "wuxi-city"
category = "deep"
tiers = [{id = "B", min = "1", max = "50"}]
"""


def test_the_medical_table_is_per_reviewing_body(tmp_path: Path) -> None:
    decider = tables_decider(tmp_path, PER_BODY_TABLES, "+bodies")
    # relative, unit in 滨湖区 → binhu: A is 100–500
    d = drive_to(decider, "archived", "relative")
    assert d.body == "binhu"
    guard_refusal(d, "R-AID-TIER", **medical("A", "1000", declared="100000"))
    grant(d, **medical("A", "500", declared="100000"))
    # relative, unit in 经开区 → wuxi-city: A is 1000–3000
    d = drive_to(decider, "archived", "relative", region="经开区", case_id="C-2")
    assert d.body == "wuxi-city"
    guard_refusal(d, "R-AID-TIER", **medical("A", "500", declared="100000"))
    grant(d, **medical("A", "3000", declared="100000"))
    # relative, unit in 梁溪区 → liangxi: no table of its own, the others' are not borrowed
    d = drive_to(decider, "archived", "relative", region="梁溪区", case_id="C-3")
    error = guard_refusal(d, "R-AID-TIER", **medical("A", "500", declared="100000"))
    assert error.results[0].explanation_en == (
        "no tier table for medical/relative/liangxi in policy wx-2023-45+bodies")
    # deep, 滨湖区 → wuxi-city's deep table: tier B only
    d = drive_to(decider, "archived", "deep", case_id="C-4")
    guard_refusal(d, "R-AID-TIER", **medical("A", "1000", declared="100000"))
    grant(d, **medical("B", "50", declared="100000"))


CAUSE_TABLES = """
[aid]
[[aid.tables]]
item = "living"
category = "accident"
tiers = [{id = "1", min = "1000", max = "3000"}]

[[aid.tables]]
item = "living"
category = "accident"
cause = "major_illness"
tiers = [{id = "1", min = "5000", max = "6000"}]

[[aid.tables]]
item = "living"
category = "accident"
cause = "sudden_event"
tiers = [{id = "1", min = "7000", max = "8000"}]
"""


def archive(decider: Decider, app: dict[str, Any], case_id: str) -> Driver:
    """A Driver whose case was submitted with ``app`` and walked to ``archived``."""
    d = Driver(decider, case_id)
    d.fire("submit", union(), app)
    d.fire("start_preliminary_review", union())
    d.fire("pass_preliminary_review", union())
    d.fire_timer("unit_publicity_ended", TimerKind.UNIT_PUBLICITY)
    d.fire("approve", fed(d.body))
    d.fire_timer("media_publicity_ended", TimerKind.MEDIA_PUBLICITY)
    assert d.case is not None and d.case.state == "archived"
    return d


def test_a_cause_specific_table_comes_before_the_general_one(tmp_path: Path) -> None:
    decider = tables_decider(tmp_path, CAUSE_TABLES, "+causes")
    d = drive_to(decider, "archived", "accident")  # the builders' accident: major_illness
    guard_refusal(d, "R-AID-TIER", **living("1", "2000"))
    guard_refusal(d, "R-AID-TIER", **living("1", "7000"))  # another cause's table
    grant(d, **living("1", "5000"))
    other = application("accident", id_number=OTHER_ID)
    other["accident"]["kind"] = "accidental_injury"  # no table of its own: the general one
    d = archive(decider, other, "C-2")
    guard_refusal(d, "R-AID-TIER", **living("1", "5000"))
    grant(d, **living("1", "3000"))


@pytest.mark.parametrize("text", [
    '[aid]\n[[aid.tables]]\nitem = "medical"\ncategory = "deep"\n'
    'tiers = [{id = "1", min = "1", max = "2"}]\n',  # medical without its body
    '[aid]\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\nbody = "binhu"\n'
    'tiers = [{id = "1", min = "1", max = "2"}]\n',  # living is one table for the city
    '[aid]\n[[aid.tables]]\nitem = "training"\ncategory = "deep"\n'
    'tiers = [{id = "1", min = "1", max = "2"}]\n',  # training is not paid in tiers
    '[aid]\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\n'
    'tiers = [{id = "1", min = 1.5, max = "2"}]\n',  # a float amount
    '[aid]\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\n'
    'tiers = [{id = "1", min = "3", max = "2"}]\n',  # min above max
    '[aid]\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\n'
    'tiers = [{id = "1", min = "1", max = "2"}, {id = "1", min = "0", max = "1"}]\n',
    '[aid]\n[[aid.tables]]\nitem = "living"\ncategory = "deep"\ntiers = []\n',
])
def test_invalid_tier_tables_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidPolicyFile):
        tables_decider(tmp_path, text, "+bad")


# ---------------------------------------------------------------------------------------------
# 2b. R-MEDICAL-CAP (relative case in binhu; medical tier 1 is 1–20000, far above these sums)


def test_medical_cap_reached_exactly_then_one_cent_over(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    grant(d, **medical("1", "3000", "2024-04", declared="5000"))
    # 3000 + 2000.01 = 5000.01 > 5000
    error = guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "2000.01", "2024-05"))
    assert error.results[0].figures == {"year": "2024", "total": "5000.01",
                                        "self_paid": "5000.00"}
    after = grant(d, **medical("1", "2000", "2024-05"))  # 3000 + 2000 = 5000: the cap exactly
    assert after.medical_granted == {"2024": Decimal("5000")}
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-06"))  # 5001 > 5000


def test_one_grant_at_the_declared_total(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "4321.01", "2024", declared="4321"))
    grant(d, **medical("1", "4321", "2024", declared="4321"))


def test_the_latest_declaration_for_the_year_counts(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    grant(d, **medical("1", "3000", "2024-04", declared="5000"))
    # declared down to 3500: 3000 + 1000 = 4000 > 3500
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1000", "2024-05", declared="3500"))
    # that refused declaration was not recorded: 5000 still counts (3000 + 2000 = 5000)
    after = grant(d, **medical("1", "2000", "2024-05"))
    assert after.medical_declared == {"2024": Decimal("5000")}
    # declared up to 6000 (5000 + 1000 = 6000 ≤ 6000); then down to 6000.5 … the latest counts
    grant(d, **medical("1", "1000", "2024-06", declared="6000"))
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-07"))  # 6001 > 6000
    after = grant(d, **medical("1", "500", "2024-07", declared="6500"))  # 6500 ≤ 6500
    assert after.medical_declared == {"2024": Decimal("6500")}
    assert after.medical_granted == {"2024": Decimal("6500")}
    # a later, lower declaration below what was granted already refuses any further grant
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-08", declared="6000"))


def test_a_new_year_starts_from_zero(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    grant(d, **medical("1", "5000", "2024-11", declared="5000"))
    # 2025 has no declaration of its own: 2024's does not carry over
    error = guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "100", "2025-01"))
    assert error.results[0].explanation_en == "no self-paid medical total declared for 2025"
    after = grant(d, **medical("1", "5000", "2025-01", declared="5000"))  # 0 + 5000 ≤ 5000
    assert after.medical_granted == {"2024": Decimal("5000"), "2025": Decimal("5000")}
    # the year form of a period is the same year: 5000 + 1 > 5000
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2025"))
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-12"))


def test_medical_aid_without_a_declaration_is_refused(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    error = guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-10"))
    assert error.results[0].explanation_en == "no self-paid medical total declared for 2024"
    # other items are not capped and declare nothing
    grant(d, **living("1", "1000"))
    grant(d, item="education", tier="1", amount="1500", period="2024")
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "1", "2024-10"))


def test_the_cap_counts_grants_across_archive_and_phase_out(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")  # archived 2024-03-20
    grant(d, **medical("1", "3000", "2024-09", declared="5000"))
    d.fire_timer("recheck_due", TimerKind.RECHECK)
    d.fire("start_phase_out", fed("binhu"), {"household": _household(120000, 0),
                                             "months": 3, "contact_person": "社工王某"})
    assert d.case is not None and d.case.state == "phase_out"
    guard_refusal(d, "R-MEDICAL-CAP", **medical("1", "2000.01", "2024-10"))
    grant(d, **medical("1", "2000", "2024-10"))


# ---------------------------------------------------------------------------------------------
# 2c. R-NO-ARBITRARY-CUT


def _household(income: int, expenses: int) -> dict[str, Any]:
    """Two members (n = 2): I = income / 24, N = (income - expenses) / 24."""
    return {
        "members": [{"name": "王强", "relation": "self", "annual_income": str(income - 12000)},
                    {"name": SPOUSE, "relation": "spouse", "annual_income": "12000"}],
        "rigid_expenses": [] if not expenses else [
            {"kind": "medical_self_pay", "annual_amount": str(expenses)}],
    }


# DEEP: Y = 21600, E = 2400 → I = 21600/24 = 900, N = 19200/24 = 800.
#   L = 1115 (2024-07-01..2025-06-30): I ≤ 2L = 2230 and N = 800 < 1115 → deep;
#   L = 1167 (from 2025-07-01): I ≤ 2334 and N < 1167 → deep.
DEEP = _household(21600, 2400)
# RELATIVE: Y = 57600, E = 9600 → I = 57600/24 = 2400, N = 48000/24 = 2000.
#   L = 1115: not deep (I = 2400 > 2L = 2230); I ≤ 3L = 3345 and N = 2000 ≤ 2L = 2230 →
#   relative.
RELATIVE = _household(57600, 9600)


def recheck(d: Driver, household: dict[str, Any]) -> Any:
    """The re-check timer, then confirm_eligibility by the case's body with ``household``."""
    d.fire_timer("recheck_due", TimerKind.RECHECK)
    return d.fire("confirm_eligibility", fed(d.body), {"household": household})


def test_a_lower_tier_is_refused_while_nothing_changed(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "deep")  # living deep: tiers 1 > 2 > 3
    grant(d, **living("2", "1200"))
    error = guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("3", "900"))
    assert error.results[0].figures == {"previous_rank": "1", "rank": "2"}
    grant(d, **living("2", "1000"))  # the same tier (a lower amount within it) is no cut
    grant(d, **living("1", "1800"))  # a higher tier
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("2", "1499.99"))  # below the last grant
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("3", "999.99"))
    after = grant(d, **living("1", "1500"))
    assert after.aid_ranks == {"living": 0}


def test_the_cut_rule_is_per_item(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "deep")
    grant(d, **living("1", "2000"))
    # first grants of other items, at their lowest tiers: no previous grant of those items
    grant(d, item="education", tier="2", amount="1000", period="2024")
    grant(d, **medical("2", "100", declared="1000"))
    grant(d, item="training", period="2024-10")
    after = grant(d, item="education", tier="1", amount="2000", period="2024")
    assert after.aid_ranks == {"living": 0, "education": 0, "medical": 1}
    guard_refusal(d, "R-NO-ARBITRARY-CUT", item="education", tier="2", amount="1000",
                  period="2025")
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("2", "1000"))
    grant(d, **medical("2", "100"))  # medical stays at tier 2: no cut


def test_a_cut_after_a_recheck_without_a_change_is_refused(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")  # archived 2024-03-20, binhu
    grant(d, **living("1", "800", "2024-08"))
    after = recheck(d, RELATIVE)  # 2024-09-20: still relative (figures above)
    assert (after.state, after.category, after.category_changed_at_last_recheck) == (
        "archived", "relative", False)
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("2", "799.99", "2024-10"))
    grant(d, **living("1", "800", "2024-10"))


def test_a_cut_after_relative_to_deep_is_allowed_until_the_next_recheck(
        aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "relative")
    grant(d, **living("1", "1200", "2024-08"))  # relative tier 1: rank 0
    after = recheck(d, DEEP)  # 2024-09-20 00:05 + 1 h, L = 1115: deep (figures above)
    assert (after.state, after.category, after.reviewing_body) == ("archived", "deep",
                                                                    "wuxi-city")
    assert after.category_changed_at_last_recheck is True
    # deep tier 2 is rank 1, below the previous rank 0: allowed after the change
    after = grant(d, fed("wuxi-city"), **living("2", "1000", "2024-10"))
    aid = d.events[-1].derived.aid
    assert aid is not None and (aid.category, aid.reviewing_body, aid.rank) == (
        "deep", "wuxi-city", 1)
    assert after.aid_ranks == {"living": 1}
    # the next re-check (deep: 12 months after 2024-09-20 → due 2025-09-20) finds no change
    after = recheck(d, DEEP)  # L = 1167: I = 900 ≤ 2334, N = 800 < 1167 → deep
    assert (after.category, after.category_changed_at_last_recheck) == ("deep", False)
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **living("3", "999.99", "2025-10"))
    grant(d, **living("2", "1000", "2025-10"))


def test_a_cut_after_deep_to_relative_is_allowed(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "deep")  # archived 2024-03-20, wuxi-city
    grant(d, **living("1", "1500", "2025-02"))  # deep tier 1: rank 0
    grant(d, item="education", tier="1", amount="2000", period="2025")
    # re-check due 2025-03-20 (12 months), L = 1115: RELATIVE is relative (figures above)
    after = recheck(d, RELATIVE)
    assert (after.category, after.reviewing_body) == ("relative", "binhu")
    assert after.category_changed_at_last_recheck is True
    grant(d, fed("binhu"), **living("2", "400", "2025-04"))  # relative tier 2: rank 1
    grant(d, fed("binhu"), item="education", tier="2", amount="500", period="2025")
    aid = d.events[-1].derived.aid
    assert aid is not None and (aid.category, aid.reviewing_body) == ("relative", "binhu")


def test_guards_run_in_lifecycle_order(aid_decider: Decider) -> None:
    d = driver_in(aid_decider, "archived", "deep")
    grant(d, **medical("1", "100", declared="1000"))
    # a lower tier that also breaks its tier's range: R-AID-TIER comes first
    guard_refusal(d, "R-AID-TIER", **medical("2", "8000.01"))
    # a lower tier over the cap: R-MEDICAL-CAP before R-NO-ARBITRARY-CUT (100 + 901 > 1000)
    guard_refusal(d, "R-MEDICAL-CAP", **medical("2", "901"))
    guard_refusal(d, "R-NO-ARBITRARY-CUT", **medical("2", "900"))


# ---------------------------------------------------------------------------------------------
# 3. Grants are events: a history file with grant_aid lines


def history_line(event: Any) -> str:
    record: dict[str, Any] = {"case": event.case_id, "at": event.at.isoformat(),
                              "event": event.trigger, "actor": event.actor}
    if event.data:
        record["data"] = event.data
    return json.dumps(record, ensure_ascii=False)


def aid_history(decider: Decider) -> list[str]:
    """Three cases with grants (expected figures in EXPECTED_REPLAY and the report tests):

    C-A relative, binhu, archived 2024-03-20: living 1000 + 1200 (tier 1), medical 3000
        (2024, declared 5000), training — 6 + 4 = 10 events, stays archived.
    C-B deep, wuxi-city, archived 2024-03-20: living 1000 (2024-12) + 1100 (2025-01) (tier 2),
        education 2500 (2025, tier 1), medical 800 (2025, tier 2, declared 800) — 10 events.
    C-C accident, binhu: re-check 2024-09-20, phase-out 3 months; in phase-out living 900
        (tier 2), medical 600 (declared 1000) + 400 (the cap exactly); phase-out ends
        2024-12-20, exit confirmed, retention 10 years → purged 2034-12-20 — 8 + 3 + 4 = 15.

    To archived: submit, start_preliminary_review, pass_preliminary_review,
    unit_publicity_ended, approve, media_publicity_ended (6); to phase-out: + recheck_due,
    start_phase_out (8).
    """
    a = drive_to(decider, "archived", "relative", case_id="C-A")
    grant(a, **living("1", "1000", "2024-04"))
    grant(a, **living("1", "1200", "2024-05"))
    grant(a, **medical("1", "3000", "2024-06", declared="5000"))
    grant(a, item="training", period="2024-07", note="叉车培训")

    b = drive_to(decider, "archived", "deep", case_id="C-B", id_number=OTHER_ID)
    b.fire("grant_aid", fed("wuxi-city"), living("2", "1000", "2024-12"), at(2024, 12, 2, 10))
    b.fire("grant_aid", fed("wuxi-city"), living("2", "1100", "2025-01"), at(2025, 1, 6, 10))
    b.fire("grant_aid", fed("wuxi-city"), {"item": "education", "tier": "1", "amount": "2500",
                                           "period": "2025"}, at(2025, 1, 7, 10))
    b.fire("grant_aid", fed("wuxi-city"), medical("2", "800", "2025-01", declared="800"),
           at(2025, 1, 8, 10))

    c = drive_to(decider, "phase_out", "accident", case_id="C-C", id_number=THIRD_ID)
    grant(c, **living("2", "900", "2024-10"))
    grant(c, **medical("2", "600", "2024-11", declared="1000"))
    grant(c, **medical("2", "400", "2024-12"))
    c.fire_timer("phase_out_ended", TimerKind.PHASE_OUT)
    c.fire("confirm_exit", worker(THIRD_ID))
    c.fire("confirm_exit", union())
    c.fire_timer("retention_expired", TimerKind.RETENTION)
    assert [x.case.state for x in (a, b, c) if x.case] == ["archived", "archived", "purged"]
    return [history_line(e) for x in (a, b, c) for e in x.events]


# case → (state, category, reviewing_body, events_applied), counted in aid_history's docstring
EXPECTED_REPLAY = {
    "C-A": ("archived", "relative", "binhu", 10),
    "C-B": ("archived", "deep", "wuxi-city", 10),
    "C-C": ("purged", "accident", "binhu", 15),
}


def policy_file_text() -> str:
    """The shipped policy file with the illustrative tier tables appended, as its comment
    shows (no empty ``tables = []`` in the way: issue 15)."""
    text = DEFAULT_POLICY_FILE.read_text("utf-8")
    assert "tables = []" not in text
    return text + "\n" + ILLUSTRATIVE.read_text("utf-8") + "\n"


def outcome(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {c: (o["state"], o["category"], o["reviewing_body"], o["events_applied"])
            for c, o in report["cases"].items()}


def test_the_policy_file_with_tables_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(policy_file_text(), "utf-8")
    policy = load_policy(path)
    assert policy.id == "wx-2023-45"
    assert policy.content_hash != load_policy().content_hash
    living_relative = policy.aid.table("living", "relative", None)
    assert living_relative is not None
    assert [(t.id, t.min, t.max) for t in living_relative.tiers] == [
        ("1", Decimal("800"), Decimal("1200")), ("2", Decimal("400"), Decimal("799.99"))]


def _run_all(*commands: list[str]) -> Iterator[subprocess.CompletedProcess[str]]:
    """The commands run side by side (each is one process start-up, ~1 s)."""
    running = [subprocess.Popen([*JIEKUN, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for c in commands]
    for process, command in zip(running, commands, strict=True):
        out, err = process.communicate(timeout=120)
        yield subprocess.CompletedProcess(command, process.returncode, out, err)


def test_a_history_with_grants_replays_on_the_command_line(aid_decider: Decider,
                                                           tmp_path: Path) -> None:
    lines = aid_history(aid_decider)
    assert sum(json.loads(x)["event"] == "grant_aid" for x in lines) == 11
    history = tmp_path / "aid.jsonl"
    history.write_text("\n".join(lines) + "\n", "utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_file_text(), "utf-8")

    with_tables, default = _run_all(
        ["replay", str(history), "--policy", str(policy), "--format", "json"],
        ["replay", str(history), "--format", "json"])
    assert with_tables.returncode == 0, with_tables.stdout + with_tables.stderr
    report = json.loads(with_tables.stdout)
    assert report["violations"] == 0
    assert outcome(report) == EXPECTED_REPLAY
    assert all(o["violation"] is None for o in report["cases"].values())

    # under the shipped policy (no tables) each case stops at its first paid grant
    assert default.returncode == 1, default.stdout + default.stderr
    report = json.loads(default.stdout)
    assert report["violations"] == 3
    first_paid = {c: 1 + next(i for i, x in enumerate(lines)
                              if json.loads(x)["case"] == c and json.loads(x)["event"]
                              == "grant_aid") for c in EXPECTED_REPLAY}
    for case_id, o in report["cases"].items():
        assert o["violation"]["rule"] == "R-AID-TIER"
        assert o["violation"]["event"] == "grant_aid"
        assert o["violation"]["line"] == first_paid[case_id]
        assert "no tier table for" in o["violation"]["message"]
    # C-A and C-B: 6 events to archived; C-C: 8 to phase-out
    assert {c: o["events_applied"] for c, o in report["cases"].items()} == {
        "C-A": 6, "C-B": 6, "C-C": 8}


def test_replay_judges_grants_like_the_decider(aid_decider: Decider) -> None:
    lines = aid_history(aid_decider)
    report = replay(lines, aid_decider).as_json()
    assert outcome(report) == EXPECTED_REPLAY and report["violations"] == 0

    def line(case: str, when: str, data: dict[str, Any], org: str = "binhu") -> str:
        return json.dumps({"case": case, "at": when, "event": "grant_aid",
                           "actor": {"role": "federation", "org": org}, "data": data},
                          ensure_ascii=False)

    a_lines = [x for x in lines if json.loads(x)["case"] == "C-A"]
    # C-A after its 10 events: living last at tier 1, medical 3000 of 5000 in 2024
    extra = [
        line("C-A", "2024-08-01T10:00:00+08:00", medical("1", "2000", "2024-08")),  # = cap
        line("C-A", "2024-08-02T10:00:00+08:00", living("2", "700", "2024-08")),  # a cut
        line("C-A", "2024-08-03T10:00:00+08:00", living("1", "800", "2024-08")),  # not judged
    ]
    report = replay(a_lines + extra, aid_decider).as_json()
    case = report["cases"]["C-A"]
    assert case["events_applied"] == 11
    assert case["violation"]["line"] == 12 and case["violation"]["rule"] == "R-NO-ARBITRARY-CUT"
    over = [line("C-A", "2024-08-01T10:00:00+08:00", medical("1", "2000.01", "2024-08"))]
    case = replay(a_lines + over, aid_decider).as_json()["cases"]["C-A"]
    assert (case["events_applied"], case["violation"]["line"], case["violation"]["rule"]) == (
        10, 11, "R-MEDICAL-CAP")
    # a grant in under_recheck: the re-check of C-A is due 2024-09-20 00:00
    due = json.dumps({"case": "C-A", "at": "2024-09-20T00:05:00+08:00", "event": "recheck_due",
                      "actor": {"role": "system"}})
    late = [due, line("C-A", "2024-09-20T01:00:00+08:00", living("1", "800", "2024-09"))]
    case = replay(a_lines + late, aid_decider).as_json()["cases"]["C-A"]
    assert (case["state"], case["events_applied"], case["violation"]["rule"]) == (
        "under_recheck", 11, "R-AID-STATE")
    wrong = [line("C-A", "2024-08-01T10:00:00+08:00", living("1", "800"), org="wuxi-city")]
    case = replay(a_lines + wrong, aid_decider).as_json()["cases"]["C-A"]
    assert case["violation"]["rule"] == "E-ACTOR"


def test_a_cut_in_phase_out_is_allowed(aid_decider: Decider) -> None:
    """The re-check that starts the phase-out found the household out of hardship: a
    significant change, so aid may be lowered during the phase-out (decision in README)."""
    d = driver_in(aid_decider, "archived", "relative")  # living relative: tiers 1 > 2
    grant(d, **living("1", "1000"))
    d.fire_timer("recheck_due", TimerKind.RECHECK)
    d.fire("start_phase_out", fed("binhu"), {"household": _household(120000, 0),
                                             "months": 3, "contact_person": "社工王某"})
    after = grant(d, **living("2", "500", "2024-10"))
    assert after.aid_ranks == {"living": 1}


def test_a_new_archive_compares_with_no_earlier_grant() -> None:
    """A case archived anew (re-entered from exit, reviewed again) starts a new archive: the
    tier of a grant in the old archive does not bind it (the fold resets the ranks)."""
    lifecycle = build_lifecycle()
    media_end = next(t for t in lifecycle.triggers if t.name == "media_publicity_ended")
    case = CaseState("X", state="media_publicity", version=3, aid_ranks={"living": 0},
                     category_changed_at_last_recheck=True)
    event = Event(case_id="X", seq=4, at=at(2025, 5, 6), trigger=media_end.name,
                  actor={"role": "system"}, data={}, policy_id=None, policy_hash=None,
                  derived=Derived(state="archived", category="deep"))
    after = fold(lifecycle, case, event)
    assert after.aid_ranks == {} and after.category_changed_at_last_recheck is False
