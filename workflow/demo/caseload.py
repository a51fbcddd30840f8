"""A deterministic synthetic caseload for the demo: households over the eight regions, incomes
spread around the thresholds, some accidents, non-members and migrant workers among them.

Illustrative data only: names, id numbers and unions are made up (id numbers are valid per
GB 11643 so that validation passes; they belong to nobody).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.resident_id import check_character

REGIONS = (("梁溪区", "320213", 16), ("锡山区", "320205", 10), ("惠山区", "320206", 10),
           ("滨湖区", "320211", 14), ("新吴区", "320214", 12), ("经开区", "320292", 6),
           ("江阴市", "320281", 18), ("宜兴市", "320282", 14))
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
            "邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉"
         "建国红梅鹏飞丹宇晨欣雨佳琪浩然子涵一诺思远")
RELATIONS = ("spouse", "child", "parent", "child", "grandparent")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Household:
    case_id: str
    application: dict[str, Any]
    applies_at: datetime
    seed: int


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _id_number(rng: random.Random, prefix: str, serial: int) -> str:
    born = date(1962, 1, 1) + timedelta(days=rng.randint(0, 365 * 35))
    first17 = f"{prefix}{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


def _amount(value: Decimal) -> str:
    return str(max(value, Decimal(0)).quantize(CENT))


def household_members(rng: random.Random, applicant: str, monthly_per_capita: Decimal,
                      size: int) -> list[dict[str, str]]:
    """Members whose incomes add up to ``monthly_per_capita`` × 12 × size."""
    total = monthly_per_capita * 12 * size
    shares = [Decimal(rng.randint(40, 100)) for _ in range(size)]
    shares[0] *= 2
    members = []
    for index, share in enumerate(shares):
        income = total * share / sum(shares)
        if index and rng.random() < 0.4:
            income = Decimal(0)
        members.append({"name": applicant if index == 0 else _name(rng),
                        "relation": "self" if index == 0 else RELATIONS[index - 1],
                        "annual_income": _amount(income)})
    return members


def new_household(rng: random.Random, standard: Decimal, size: int, applicant: str,
                  accident_member: str | None = None) -> dict[str, Any]:
    """A household of ``size`` whose per-capita income sits between 0.4 and 4.2 × L."""
    per_capita = standard * Decimal(str(round(rng.uniform(0.4, 4.2), 3)))
    members = household_members(rng, applicant, per_capita, size)
    expenses = []
    if rng.random() < 0.5:
        total = sum(Decimal(m["annual_income"]) for m in members)
        kind = rng.choice(("medical_self_pay", "education", "disability_rehabilitation",
                           "housing", "employment_cost", "other"))
        expenses.append({"kind": kind,
                         "annual_amount": _amount(total * Decimal(rng.randint(5, 60)) / 100)})
    return {"members": members, "rigid_expenses": expenses}


def _application(rng: random.Random, serial: int, applies_on: date,
                 standard: Decimal) -> dict[str, Any]:
    region, prefix, _ = rng.choices(REGIONS, weights=[r[2] for r in REGIONS])[0]
    name = _name(rng)
    unit_kind = rng.choices(("enterprise", "city_bureau_company", "city_direct_unit", "other",
                             None), weights=(70, 8, 7, 5, 10))[0]
    employment = ("employed" if unit_kind else
                  rng.choice(("laid_off", "migrant_worker", "flexible", "unemployed")))
    if unit_kind and rng.random() < 0.12:
        employment = "migrant_worker"
    unit = None if unit_kind is None else {
        "name": f"无锡示例{rng.choice('机械纺织电子化工物流建材食品')}厂{serial % 97}",
        "kind": unit_kind,
        "region": region if rng.random() < 0.8 else rng.choice(REGIONS)[0]}
    household = new_household(rng, standard, rng.randint(1, 5), name)
    accident = None
    if rng.random() < 0.12:
        cost = Decimal(rng.randint(10_000, 200_000))
        accident = {"kind": rng.choice(("sudden_event", "accidental_injury", "major_illness")),
                    "member": rng.choice(household["members"])["name"],
                    "occurred_on": (applies_on - timedelta(days=rng.randint(5, 330))).isoformat(),
                    "necessary_expenses": _amount(cost),
                    "compensation_received": _amount(cost * Decimal(rng.randint(0, 80)) / 100)}
    return {
        "applicant": {"name": name, "id_number": _id_number(rng, prefix, serial),
                      "phone": f"139{rng.randint(0, 99_999_999):08d}",
                      "union_member": rng.random() < 0.8, "employment": employment},
        "grassroots_union": f"gu-{prefix}-{rng.randint(1, 6):02d}",
        "unit": unit,
        "residence": {"region": region, "community": f"示例社区{rng.randint(1, 40)}"},
        "household": household,
        "accident": accident,
        "declared_category": rng.choice(("deep", "relative", "accident")),
    }


def caseload(households: int, seed: int, first: date, last: date,
             standard: Decimal) -> list[Household]:
    """``households`` applications spread over ``first`` … ``last``, in application order."""
    rng = random.Random(seed)
    span = (last - first).days
    out = []
    for serial in range(households):
        applies_on = first + timedelta(days=rng.randint(0, span))
        at = datetime.combine(applies_on, time(9 + rng.randint(0, 7), rng.randint(0, 59)),
                              tzinfo=SHANGHAI)
        application = _application(rng, serial, applies_on, standard)
        out.append(Household(f"WX-{serial + 1:05d}", application, at, rng.randint(0, 2**31)))
    return sorted(out, key=lambda h: (h.applies_at, h.case_id))
