"""Which federation reviews a case (policies/RULES.md §1.1, 属地管理).

Location = the region of the applicant's unit, or of the residence when there is no unit.
Interpretations, written down in policies/RULES.md §1.1 as well:
- deep cases route by the same location rule; the notice excludes 江阴 and 宜兴 from city review
  of deep cases wholesale, so a deep case at a city bureau or direct unit located there goes to
  that city's federation;
- for relative and accident cases the unit kind wins: a ``city_bureau_company`` or
  ``city_direct_unit`` goes to ``wuxi-city`` wherever it is located.
"""

from __future__ import annotations

from jiekun.policies.application import Application

BODY_NAMES: dict[str, str] = {
    "wuxi-city": "无锡市总工会",
    "liangxi": "梁溪区总工会",
    "xishan": "锡山区总工会",
    "huishan": "惠山区总工会",
    "binhu": "滨湖区总工会",
    "xinwu": "新吴区总工会",
    "jiangyin": "江阴市总工会",
    "yixing": "宜兴市总工会",
}
CITY = "wuxi-city"
_REGION_BODY = {
    "梁溪区": "liangxi", "锡山区": "xishan", "惠山区": "huishan", "滨湖区": "binhu",
    "新吴区": "xinwu", "江阴市": "jiangyin", "宜兴市": "yixing", "经开区": CITY,
}
_COUNTY_CITIES = {"江阴市": "jiangyin", "宜兴市": "yixing"}
_CITY_UNIT_KINDS = {"city_bureau_company", "city_direct_unit"}


def location(application: Application) -> str:
    unit = application.unit
    return unit.region if unit is not None else application.residence.region


def reviewing_body(category: str, application: Application) -> str:
    region = location(application)
    if category == "deep":
        return _COUNTY_CITIES.get(region, CITY)
    unit = application.unit
    if unit is not None and unit.kind in _CITY_UNIT_KINDS:
        return CITY
    return _REGION_BODY[region]
