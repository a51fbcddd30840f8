"""The catalogue of rule ids (policies/RULES.md): each with its clause in the notice and a
short title.

The lifecycle's guard ids are checked against this catalogue when the machine is built.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    citation: str
    title_zh: str
    title_en: str


_RULES = (
    Rule("R-DEEP-INCOME", "§1.2", "深度困难：家庭人均收入不超过低保标准2倍",
         "deep: per-capita income at most 2 × the minimum living standard"),
    Rule("R-DEEP-NET", "§1.2", "深度困难：扣减刚性支出后人均纯收入低于低保标准",
         "deep: per-capita net income below the minimum living standard"),
    Rule("R-REL-INCOME", "§1.2", "相对困难：家庭人均收入不超过低保标准3倍",
         "relative: per-capita income at most 3 × the standard"),
    Rule("R-REL-NET", "§1.2", "相对困难：扣减刚性支出后人均纯收入在低保标准2倍以内",
         "relative: per-capita net income at most 2 × the standard"),
    Rule("R-ACC-EVENT", "§1.2", "意外致困：遭遇突发事件、意外伤害、患重大疾病",
         "accident: a sudden event, accidental injury or major illness was declared"),
    Rule("R-ACC-INCOME", "§1.2", "意外致困：家庭人均收入在低保标准4倍以内",
         "accident: per-capita income at most 4 × the standard"),
    Rule("R-ACC-NET", "§1.2", "意外致困：扣减意外必要支出后人均纯收入低于低保标准3倍",
         "accident: per-capita net income after the accident below 3 × the standard"),
    Rule("R-ELIGIBLE", "§1.2", "符合一类困难职工认定标准",
         "the household qualifies for a category"),
    Rule("R-ONE-OPEN-CASE", "§1.1", "同一申请人只能有一个未结案件",
         "an applicant has at most one case that is not closed"),
    Rule("R-NONEXCL", "§1.2", "不得将非会员、下岗职工、农民工排除在申报对象之外",
         "non-members, laid-off and migrant workers are never excluded"),
    Rule("R-PUBLICITY-ELAPSED", "§1.1", "公示期已满",
         "the publicity period has elapsed"),
    Rule("R-RECHECK-CADENCE", "§1.3",
         "定期核查已到期（深度困难每年一次，相对困难、意外致困每半年一次）",
         "the periodic re-check is due (deep: 12 months; relative, accident: 6 months)"),
    Rule("R-NO-ARBITRARY-CUT", "§1.3", "经济状况无明显变化的，不得随意降低帮扶水平",
         "aid is not lowered while the situation shows no significant change"),
    Rule("R-RETENTION", "§1.3", "原始档案自撤档之日起保管10年",
         "the archive is kept 10 years from its closing"),
    Rule("R-OUT-OF-HARDSHIP", "§3", "脱困即出：核查不再符合任何类别",
         "out of hardship: the re-check finds no category"),
    Rule("R-PHASEOUT-MAX", "§3", "渐退期不超过6个月",
         "the phase-out lasts at most 6 months"),
    Rule("R-PHASEOUT-ELAPSED", "§3", "渐退期已满",
         "the phase-out period has elapsed"),
    Rule("R-EXIT-CONFIRM", "§3", "退档须经职工本人、基层工会各确认一次",
         "the exit needs one confirmation each by the worker and the grassroots union"),
    Rule("R-EXIT-REFUSAL", "§3",
         "无正当理由拒绝确认的，经县级以上工会和所在单位或街道（社区）工会核实确认",
         "a refusal is verified by a county-level federation and the unit or community union"),
    Rule("R-CANCEL", "§3", "不符合建档条件的及时注销退档",
         "a household no longer meeting the conditions is cancelled"),
    Rule("R-REENTRY", "§3", "返困即入", "a household falling back into hardship re-enters"),
    Rule("R-AID-STATE", "§2", "仅对已建档和渐退期对象发放帮扶",
         "aid only for archived and phase-out cases"),
    Rule("R-AID-TIER", "§2", "按分档标准发放", "aid fits the tier table"),
    Rule("R-MEDICAL-CAP", "§2", "医疗救助不得超过家庭年度自付医疗费用总额",
         "medical aid at most the household's self-paid medical expenses of the year"),
    Rule("E-OBJECTION", "§1.1", "异议须处理完毕", "objections must be open to be decided, "
         "and none may be open when a publicity ends"),
)

RULES: dict[str, Rule] = {r.id: r for r in _RULES}
RULE_IDS: frozenset[str] = frozenset(RULES)


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
