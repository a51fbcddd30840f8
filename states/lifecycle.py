"""The case lifecycle as data (states/LIFECYCLE.md): the one definition that the engine, the
diagrams and the docs are all built from."""

from __future__ import annotations

from jiekun.states.model import (
    ActorRule,
    Branch,
    Effect,
    FieldType,
    Label,
    LengthUnit,
    Lifecycle,
    PayloadField,
    Phase,
    Role,
    Route,
    Scope,
    StateDef,
    TimerDef,
    TimerKind,
    TriggerDef,
)
from jiekun.states.validation import validate_lifecycle

A, X, E, C = Phase.APPLICATION, Phase.ARCHIVE, Phase.EXIT, Phase.CLOSED

STATES = (
    StateDef("submitted", Label("已申报", "Submitted"), A, initial=True),
    StateDef("preliminary_review", Label("基层工会初审", "Preliminary review"), A),
    StateDef("unit_publicity", Label("单位（社区）公示", "Unit publicity"), A),
    StateDef("upper_review", Label("上级工会审核", "Upper review"), A),
    StateDef("media_publicity", Label("同级媒体公示", "Media publicity"), A),
    StateDef("archived", Label("已建档（帮扶对象）", "Archived (aid recipient)"), X),
    StateDef("under_recheck", Label("核查中", "Under re-check"), X),
    StateDef("phase_out", Label("渐退期", "Phase-out"), X),
    StateDef("re_entered", Label("返困待纳入", "Re-entered"), X),
    StateDef("exit_pending", Label("退档告知待确认", "Exit pending"), E),
    StateDef("exit_verification", Label("拒不确认核实", "Exit verification"), E),
    StateDef("exit_publicity", Label("退出公示", "Exit publicity"), E),
    StateDef("exited", Label("已退档", "Exited"), C, closed=True),
    StateDef("rejected", Label("不予认定", "Rejected"), C, closed=True),
    StateDef("withdrawn", Label("已撤回", "Withdrawn"), C, closed=True),
    StateDef("cancelled", Label("注销退档", "Cancelled"), C, closed=True),
    StateDef("purged", Label("档案已销毁", "Purged"), C, final=True, closed=True),
)

# How the lifecycle names who acts, for people: the diagrams and the refusals' texts.
ROLE_LABELS: dict[Role, Label] = {
    Role.WORKER: Label("职工", "worker"),
    Role.GRASSROOTS_UNION: Label("基层工会", "grassroots union"),
    Role.FEDERATION: Label("总工会", "federation"),
    Role.SYSTEM: Label("系统", "system"),
    Role.AUDITOR: Label("审计", "auditor"),
}

APPLICATION_STATES = (
    "submitted", "preliminary_review", "unit_publicity", "upper_review", "media_publicity",
)
PUBLICITIES = ("unit_publicity", "media_publicity", "exit_publicity")

_WORKER = ActorRule(Role.WORKER, Scope.APPLICANT)
_UNION = ActorRule(Role.GRASSROOTS_UNION, Scope.OWN_UNION)
_FED = ActorRule(Role.FEDERATION, Scope.REVIEWING_BODY)
_FED_COUNTY = ActorRule(Role.FEDERATION, Scope.COUNTY_OR_ABOVE)
_SYSTEM = ActorRule(Role.SYSTEM, Scope.TIMER)
_PUBLICITY_RUNNER = (
    ActorRule(Role.GRASSROOTS_UNION, Scope.OWN_UNION, frozenset({"unit_publicity"})),
    ActorRule(Role.FEDERATION, Scope.REVIEWING_BODY,
              frozenset({"media_publicity", "exit_publicity"})),
)

_REASON = (PayloadField("reason", FieldType.TEXT),)
_OBJECTION_REF = (PayloadField("objection_id", FieldType.TEXT), *_REASON)
_NEW_HOUSEHOLD = (
    PayloadField("household", FieldType.HOUSEHOLD, personal=True),
    PayloadField("accident", FieldType.ACCIDENT, required=False, personal=True),
)


def _t(name: str, zh: str, en: str, actors: tuple[ActorRule, ...], *routes: Route,
       payload: tuple[PayloadField, ...] = (), effects: tuple[Effect, ...] = (),
       cites: tuple[str, ...] = (), refused_elsewhere_by: str | None = None) -> TriggerDef:
    return TriggerDef(name, Label(zh, en), actors, routes, payload, effects, cites,
                      refused_elsewhere_by)


def _r(source: str | None, dest: str | None, *guards: str, branch: Branch | None = None,
       requires: tuple[str, ...] = (), effects: tuple[Effect, ...] = ()) -> Route:
    return Route(source, dest, branch, guards, requires, effects)


TRIGGERS = (
    _t("submit", "提交申报", "submit", (_WORKER, _UNION),
       _r(None, "submitted", "R-ONE-OPEN-CASE"),
       payload=(PayloadField("application", FieldType.APPLICATION, personal=True),),
       effects=(Effect.SET_APPLICATION, Effect.SET_GRASSROOTS_UNION)),
    _t("amend_application", "补正申报材料", "amend application", (_WORKER, _UNION),
       _r("submitted", None),
       payload=(PayloadField("application", FieldType.APPLICATION, personal=True),),
       effects=(Effect.SET_APPLICATION,)),
    _t("start_preliminary_review", "开始初审", "start preliminary review", (_UNION,),
       _r("submitted", "preliminary_review")),
    _t("request_supplement", "退回补充材料", "request supplement", (_UNION,),
       _r("preliminary_review", "submitted"), payload=_REASON),
    _t("reject_preliminary", "初审不予通过", "reject at preliminary review", (_UNION,),
       _r("preliminary_review", "rejected"), payload=_REASON),
    _t("pass_preliminary_review", "初审通过", "pass preliminary review", (_UNION,),
       _r("preliminary_review", "unit_publicity", "R-ELIGIBLE"),
       effects=(Effect.ASSESS,)),
    _t("raise_objection", "提出异议", "raise objection", (_UNION, _FED),
       *(_r(s, None) for s in PUBLICITIES),
       payload=(PayloadField("objection_id", FieldType.TEXT),
                PayloadField("summary", FieldType.TEXT)),
       effects=(Effect.OPEN_OBJECTION,)),
    _t("dismiss_objection", "异议不成立", "dismiss objection", _PUBLICITY_RUNNER,
       *(_r(s, None, "E-OBJECTION") for s in PUBLICITIES),
       payload=_OBJECTION_REF, effects=(Effect.CLOSE_OBJECTION,)),
    _t("uphold_objection", "异议成立", "uphold objection", _PUBLICITY_RUNNER,
       _r("unit_publicity", "rejected", "E-OBJECTION"),
       _r("media_publicity", "rejected", "E-OBJECTION"),
       _r("exit_publicity", "under_recheck", "E-OBJECTION"),
       payload=_OBJECTION_REF, effects=(Effect.CLOSE_OBJECTION,)),
    _t("unit_publicity_ended", "单位公示期满", "unit publicity ended", (_SYSTEM,),
       _r("unit_publicity", "upper_review", "R-PUBLICITY-ELAPSED", "E-OBJECTION")),
    _t("return_to_grassroots", "退回基层工会", "return to grassroots union", (_FED,),
       _r("upper_review", "preliminary_review"), payload=_REASON),
    _t("reject_upper", "审核不予认定", "reject at upper review", (_FED,),
       _r("upper_review", "rejected"), payload=_REASON),
    _t("approve", "审核通过", "approve", (_FED,),
       _r("upper_review", "media_publicity", "R-ELIGIBLE"), effects=(Effect.ASSESS,)),
    _t("media_publicity_ended", "媒体公示期满", "media publicity ended", (_SYSTEM,),
       _r("media_publicity", "archived", "R-PUBLICITY-ELAPSED", "E-OBJECTION"),
       effects=(Effect.ISSUE_ARCHIVE,)),
    _t("withdraw", "撤回申请", "withdraw", (_WORKER,),
       *(_r(s, "withdrawn") for s in APPLICATION_STATES)),
    _t("recheck_due", "核查到期", "re-check due", (_SYSTEM,),
       _r("archived", "under_recheck", "R-RECHECK-CADENCE")),
    _t("start_recheck", "提前核查", "start re-check early", (_FED,),
       _r("archived", "under_recheck")),
    _t("confirm_eligibility", "核查仍符合条件", "confirm eligibility", (_FED,),
       _r("under_recheck", "archived", "R-ELIGIBLE"),
       payload=_NEW_HOUSEHOLD, effects=(Effect.UPDATE_HOUSEHOLD, Effect.ASSESS)),
    _t("start_phase_out", "脱困进入渐退期", "start phase-out", (_FED,),
       _r("under_recheck", "phase_out", "R-OUT-OF-HARDSHIP", "R-PHASEOUT-MAX"),
       payload=(*_NEW_HOUSEHOLD, PayloadField("months", FieldType.MONTHS),
                PayloadField("contact_person", FieldType.TEXT, personal=True)),
       effects=(Effect.UPDATE_HOUSEHOLD, Effect.START_PHASE_OUT)),
    _t("cancel", "注销退档", "cancel", (_FED,),
       *(_r(s, "cancelled") for s in ("archived", "under_recheck", "phase_out")),
       payload=(PayloadField("reason", FieldType.CANCEL_REASON),
                PayloadField("detail", FieldType.TEXT, required=False)),
       cites=("R-CANCEL",)),
    _t("report_relapse", "返困申报", "report relapse", (_WORKER, _UNION, _FED),
       _r("phase_out", "re_entered"),
       _r("exited", "re_entered", "R-ONE-OPEN-CASE"),
       payload=(PayloadField("summary", FieldType.TEXT),),
       effects=(Effect.REMEMBER_ORIGIN,), cites=("R-REENTRY",)),
    _t("readmit", "重新纳入", "readmit", (_FED,),
       _r("re_entered", "archived", "R-ELIGIBLE", branch=Branch.CAME_FROM_PHASE_OUT,
          requires=("household",), effects=(Effect.UPDATE_HOUSEHOLD, Effect.ASSESS)),
       _r("re_entered", "preliminary_review", branch=Branch.CAME_FROM_EXITED,
          effects=(Effect.UPDATE_HOUSEHOLD,)),
       payload=(PayloadField("household", FieldType.HOUSEHOLD, required=False, personal=True),
                PayloadField("accident", FieldType.ACCIDENT, required=False, personal=True)),
       cites=("R-REENTRY",)),
    _t("decline_readmission", "不予重新纳入", "decline readmission", (_FED,),
       _r("re_entered", "phase_out", branch=Branch.CAME_FROM_PHASE_OUT),
       _r("re_entered", "exited", branch=Branch.CAME_FROM_EXITED),
       payload=_REASON),
    _t("phase_out_ended", "渐退期满", "phase-out ended", (_SYSTEM,),
       _r("phase_out", "exit_pending", "R-PHASEOUT-ELAPSED")),
    _t("end_phase_out_early", "提前结束渐退期", "end phase-out early", (_FED,),
       _r("phase_out", "exit_pending"), payload=_REASON),
    _t("confirm_exit", "确认退档", "confirm exit", (_WORKER, _UNION),
       _r("exit_pending", "exited", "R-EXIT-CONFIRM", branch=Branch.CONFIRMATIONS_COMPLETE),
       _r("exit_pending", None, "R-EXIT-CONFIRM", branch=Branch.CONFIRMATIONS_INCOMPLETE),
       effects=(Effect.RECORD_CONFIRMATION,)),
    _t("refuse_exit", "拒绝确认退档", "refuse exit", (_WORKER,),
       _r("exit_pending", "exit_verification", "R-EXIT-CONFIRM"), payload=_REASON),
    _t("accept_refusal", "拒绝理由正当", "accept refusal", (_FED_COUNTY,),
       _r("exit_verification", "under_recheck"), payload=_REASON),
    _t("verify_exit", "核实确认退档", "verify exit", (_FED_COUNTY, _UNION),
       _r("exit_verification", "exit_publicity", "R-EXIT-REFUSAL",
          branch=Branch.VERIFICATIONS_COMPLETE),
       _r("exit_verification", None, "R-EXIT-REFUSAL", branch=Branch.VERIFICATIONS_INCOMPLETE),
       effects=(Effect.RECORD_VERIFICATION,)),
    _t("exit_publicity_ended", "退出公示期满（公告退出）", "exit publicity ended", (_SYSTEM,),
       _r("exit_publicity", "exited", "R-PUBLICITY-ELAPSED", "E-OBJECTION")),
    _t("grant_aid", "发放帮扶", "grant aid", (_FED,),
       *(_r(s, None, "R-AID-STATE", "R-AID-TIER", "R-MEDICAL-CAP", "R-NO-ARBITRARY-CUT")
         for s in ("archived", "phase_out")),
       payload=(PayloadField("item", FieldType.AID_ITEM),
                PayloadField("tier", FieldType.TEXT, required=False),
                PayloadField("amount", FieldType.AMOUNT, required=False),
                PayloadField("period", FieldType.PERIOD),
                PayloadField("note", FieldType.TEXT, required=False),
                PayloadField("self_paid_medical_total", FieldType.AMOUNT, required=False,
                             personal=True)),
       effects=(Effect.RECORD_AID,), refused_elsewhere_by="R-AID-STATE"),
    _t("retention_expired", "保管期满销毁", "retention expired", (_SYSTEM,),
       *(_r(s, "purged", "R-RETENTION")
         for s in ("exited", "cancelled", "rejected", "withdrawn")),
       effects=(Effect.DESTROY_PERSONAL_DATA,)),
)

TIMERS = (
    TimerDef(TimerKind.UNIT_PUBLICITY, Label("单位公示", "unit publicity"),
             frozenset({"unit_publicity"}), "unit_publicity_ended",
             LengthUnit.WORKING_DAYS, "unit_publicity_working_days", "R-PUBLICITY-ELAPSED"),
    TimerDef(TimerKind.MEDIA_PUBLICITY, Label("媒体公示", "media publicity"),
             frozenset({"media_publicity"}), "media_publicity_ended",
             LengthUnit.WORKING_DAYS, "media_publicity_working_days", "R-PUBLICITY-ELAPSED"),
    TimerDef(TimerKind.RECHECK, Label("定期核查", "re-check"),
             frozenset({"archived"}), "recheck_due",
             LengthUnit.MONTHS, "recheck_months", "R-RECHECK-CADENCE"),
    TimerDef(TimerKind.PHASE_OUT, Label("渐退期", "phase-out"),
             frozenset({"phase_out"}), "phase_out_ended",
             LengthUnit.MONTHS, "months", "R-PHASEOUT-ELAPSED"),
    TimerDef(TimerKind.EXIT_PUBLICITY, Label("退出公示", "exit publicity"),
             frozenset({"exit_publicity"}), "exit_publicity_ended",
             LengthUnit.WORKING_DAYS, "exit_publicity_working_days", "R-PUBLICITY-ELAPSED"),
    TimerDef(TimerKind.RETENTION, Label("档案保管期", "retention"),
             frozenset({"exited", "cancelled", "rejected", "withdrawn"}), "retention_expired",
             LengthUnit.YEARS, "retention_years", "R-RETENTION"),
)


def build_lifecycle(known_rule_ids: frozenset[str] | None = None) -> Lifecycle:
    """The lifecycle, validated. ``known_rule_ids`` (from policies) checks every guard id."""
    lifecycle = Lifecycle(STATES, TRIGGERS, TIMERS)
    validate_lifecycle(lifecycle, known_rule_ids)
    return lifecycle
