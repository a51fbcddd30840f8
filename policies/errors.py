"""The one exception root of jiekun and its data-carrying subclasses: import them from here.

Modelled on python-statemachine's ``exceptions.py``: every refusal is a subclass of
``JiekunError`` that carries what a caller needs to act on it (the field paths, the state and
the triggers allowed there, the failing rule results), so nobody has to parse a message. The
root is in ``error_root.py``, the refusals of input in ``input_errors.py``; the refusals of a
decision and of the store are here.

Every refusal reads in both languages (``message_zh``, ``message_en``) and as JSON
(``as_json()``: its code, both texts and its data).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jiekun.policies.error_root import UNAVAILABLE, JiekunError
from jiekun.policies.input_errors import (
    FieldProblem,
    InvalidApplication,
    InvalidArgument,
    InvalidInput,
    InvalidPayload,
    InvalidPolicyFile,
)
from jiekun.policies.labels import actor_zh, state_zh, trigger_zh, triggers_zh

if TYPE_CHECKING:
    from jiekun.policies.results import RuleResult

__all__ = [
    "UNAVAILABLE", "CaseNotFound", "ConcurrencyConflict", "FieldProblem", "GuardFailed",
    "HistoryOutOfOrder", "HistoryTampered", "IdempotencyMismatch", "InvalidApplication",
    "InvalidArgument", "InvalidInput", "InvalidPayload", "InvalidPolicyFile", "JiekunError",
    "KeyUnavailable", "NotAuthorized", "ObjectionProblem", "PolicyNotInForce", "SchemaBehind",
    "StoreBusy", "StoreClosed", "StoreUnavailable", "TimerGone", "TransitionNotAllowed",
    "UnknownTrigger", "VersionConflict",
]


class PolicyNotInForce(JiekunError):
    """The policy does not cover a date a decision needs (exit code 3, rule E-POLICY)."""

    rule = "E-POLICY"

    def __init__(self, on: date, reason: str, reason_zh: str | None = None) -> None:
        self.on = on
        self.reason = reason
        why = reason_zh or "该日期的低保标准或工作日历尚未录入政策文件，请联系管理员补充"
        super().__init__(f"the policy does not cover {on.isoformat()}: {reason}",
                         message_zh=f"现行政策未覆盖 {on.isoformat()}：{why}。")

    def details(self) -> dict[str, Any]:
        return {"date": self.on.isoformat(), "reason": self.reason}


class TransitionNotAllowed(JiekunError):
    """The trigger is not allowed in the case's state; ``allowed`` lists those that are, and
    ``suggestions`` the triggers a misspelt one probably meant."""

    rule = "E-TRANSITION"

    def __init__(self, state: str | None, trigger: str, allowed: Sequence[str],
                 suggestions: Sequence[str] = ()) -> None:
        self.state = state
        self.trigger = trigger
        self.allowed = tuple(allowed)
        self.suggestions = tuple(suggestions)
        super().__init__(self._english(), message_zh=self._chinese())

    def _where(self) -> tuple[str, str]:
        if self.state:
            return f"state {self.state}", f"该案件当前状态为{state_zh(self.state)}"
        return "a case that does not exist yet", "该案件尚未建立"

    def _english(self) -> str:
        where, _ = self._where()
        return (f"{self.trigger} is not allowed in {where}; allowed there: "
                f"{', '.join(self.allowed) or 'none'}")

    def _chinese(self) -> str:
        _, where = self._where()
        return (f"{where}，不能执行{trigger_zh(self.trigger)}；此时可执行："
                f"{triggers_zh(self.allowed)}。")

    def details(self) -> dict[str, Any]:
        return {"state": self.state, "trigger": self.trigger, "allowed": list(self.allowed),
                "suggestions": list(self.suggestions)}


class UnknownTrigger(TransitionNotAllowed):
    """The trigger is not one of the lifecycle's (a typo, usually): ``suggestions`` are the
    closest names. Still E-TRANSITION: a replay reports it as before."""

    def _english(self) -> str:
        where, _ = self._where()
        guess = (f"; did you mean {' or '.join(self.suggestions)}?" if self.suggestions
                 else "")
        return (f"{self.trigger} is not a trigger of the lifecycle{guess} (allowed in {where}: "
                f"{', '.join(self.allowed) or 'none'})")

    def _chinese(self) -> str:
        _, where = self._where()
        guess = "、".join(f"{trigger_zh(s)}（{s}）" for s in self.suggestions)
        return (f"“{self.trigger}”不是可执行的操作名称"
                + (f"，您是否要执行{guess}？" if guess else "。")
                + f"{where}，此时可执行：{triggers_zh(self.allowed)}。")


# NotAuthorized reasons said by code outside policies/ (a read outside the reader's remit).
_REASONS_ZH = {"outside its remit": "该案件不在其职责范围内"}


class NotAuthorized(JiekunError):
    """The actor may not fire this trigger on this case (or read it); ``reason`` says why."""

    rule = "E-ACTOR"

    def __init__(self, trigger: str, actor: str, reason: str, verb: str = "fire",
                 reason_zh: str | None = None, actor_name_zh: str | None = None) -> None:
        self.trigger = trigger
        self.actor = actor
        self.reason = reason
        self.verb = verb
        why = reason_zh or _REASONS_ZH.get(reason, "不在该操作允许的执行人范围内")
        who = actor_name_zh or actor_zh(actor)
        if verb == "read":  # ``trigger`` is then what is read: "case C-1"
            what = f"查看案件 {trigger.removeprefix('case ')}"
        else:
            what = f"执行{trigger_zh(trigger)}"
        super().__init__(f"{actor} may not {verb} {trigger}: {reason}",
                         message_zh=f"{who}无权{what}：{why}。")

    def details(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "actor": self.actor, "reason": self.reason,
                "verb": self.verb}


class GuardFailed(JiekunError):
    """A guard refused the transition; ``results`` are the rule results, the first one failing."""

    def __init__(self, trigger: str, results: Sequence[RuleResult]) -> None:
        self.trigger = trigger
        self.results = tuple(results)
        first = self.results[0]
        self.rule = first.id
        super().__init__(f"{trigger} refused by {first.id} ({first.citation}): "
                         f"{first.explanation_en}",
                         message_zh=f"不能执行{trigger_zh(trigger)}：{first.explanation_zh}"
                                    f"（{first.id}，{first.citation}）")

    def details(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "rules": [r.as_json() for r in self.results]}


class ObjectionProblem(JiekunError):
    """An objection is not open, or an open one blocks the end of a publicity."""

    rule = "E-OBJECTION"
    default_zh = "异议状态不允许此操作：所指异议不是未决异议，或尚有未决异议，公示不能结束。"

    def __init__(self, message: str, *, message_zh: str | None = None,
                 figures: dict[str, str] | None = None) -> None:
        self.figures = dict(figures or {})
        super().__init__(message, message_zh=message_zh)

    def details(self) -> dict[str, Any]:
        return {"figures": dict(self.figures)}


class HistoryOutOfOrder(JiekunError):
    """The command breaks the time rule (E-ORDER): it is dated before the case's last event,
    or at or after the due time of a timer whose event is missing (``missing``: its
    trigger)."""

    rule = "E-ORDER"

    def __init__(self, case_id: str, at: datetime, other: datetime,
                 missing: str | None = None) -> None:
        self.case_id = case_id
        self.at = at
        self.other = other
        self.missing = missing
        when, then = at.isoformat(), other.isoformat()
        if missing is None:
            text = f"case {case_id}: {when} is before the case's last event at {then}"
            zh = (f"案件 {case_id}：本次操作时间 {when} 早于该案件最后一条记录的时间 {then}，"
                  "时间不能倒退。")
        else:
            text = (f"case {case_id}: {when} is not before {then}, when a timer fell due, and "
                    f"its event {missing} is missing")
            zh = (f"案件 {case_id}：计时器已于 {then} 到期，应先记录{trigger_zh(missing)}，"
                  f"才能在 {when} 办理本次操作。")
        super().__init__(text, message_zh=zh)

    def details(self) -> dict[str, Any]:
        return {"case": self.case_id, "at": self.at.isoformat(), "other": self.other.isoformat(),
                "missing": self.missing}


class ConcurrencyConflict(JiekunError):
    """``expected_version`` was not the case's version: it moved on; read it and decide
    again."""

    rule = "E-CONFLICT"

    def __init__(self, case_id: str, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"case {case_id} is at version {actual}, not {expected}",
                         message_zh=f"案件 {case_id} 已被他人更新（现为第 {actual} 版，您依据的是"
                                    f"第 {expected} 版），请重新查看后再办理。")

    def details(self) -> dict[str, Any]:
        return {"case": self.case_id, "expected": self.expected, "actual": self.actual}


class CaseNotFound(JiekunError):
    """No case with this id is stored (E-NOT-FOUND)."""

    rule = "E-NOT-FOUND"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no case {case_id!r} is stored",
                         message_zh=f"未找到案件 {case_id}，请核对案件编号。")

    def details(self) -> dict[str, Any]:
        return {"case": self.case_id}


class VersionConflict(JiekunError):
    """The store refused a write: the case moved on since it was read, or another writer
    created it first (the engine turns it into ConcurrencyConflict or decides again)."""

    rule = "E-CONFLICT"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id} changed in the store while it was being decided",
                         message_zh=f"案件 {case_id} 在办理过程中被其他操作更新，请重试。")

    def details(self) -> dict[str, Any]:
        return {"case": self.case_id}


class TimerGone(JiekunError):
    """The timer to fire is no longer pending: fired by another process, or void."""

    rule = "E-TIMER-GONE"
    default_zh = "该计时器已不在待触发状态（已由其他进程触发，或已作废），无需再次触发。"


class IdempotencyMismatch(JiekunError):
    """An idempotency key was used before for another command."""

    rule = "E-IDEMPOTENCY"
    default_zh = "该幂等键（idempotency key）已用于另一项请求，不能用于内容不同的请求；请换用新键。"


class SchemaBehind(JiekunError):
    """The store's schema is missing or older than this jiekun (run ``jiekun db upgrade``)."""

    rule = "E-SCHEMA"
    default_zh = "数据库尚未建立或版本过旧，请先运行 jiekun db upgrade；未作任何更改。"


class StoreBusy(JiekunError):
    """Every connection of the store was in use for longer than its timeout (E-BUSY)."""

    rule = "E-BUSY"

    def __init__(self, pool_size: int, timeout: float) -> None:
        self.pool_size = pool_size
        self.timeout = timeout
        super().__init__(f"all {pool_size} connections of the store stayed busy for "
                         f"{timeout:g} s; try again, or open the engine with a larger pool_size",
                         message_zh=f"数据库的 {pool_size} 个连接在 {timeout:g} 秒内一直繁忙，"
                                    "请稍后重试；未作任何更改。")

    def details(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "timeout": self.timeout}


class StoreClosed(JiekunError):
    """The engine (and its store) was closed: open a new one (E-BUSY: the store is
    unavailable to this engine)."""

    rule = "E-BUSY"
    default_zh = "引擎已关闭，数据库不可用，请重新打开后再办理；未作任何更改。"


class StoreUnavailable(JiekunError):
    """The store could not be reached or opened (E-BUSY: unavailable; nothing changed):
    ``store`` is where it was looked for, ``detail`` what the database said."""

    rule = "E-BUSY"

    def __init__(self, store: str, detail: str) -> None:
        self.store = store
        self.detail = detail
        super().__init__(f"the store at {store} is unavailable: {detail}",
                         message_zh=f"无法打开数据库 {store}，请检查数据库地址和数据库服务是否"
                                    "正常；未作任何更改。")

    def details(self) -> dict[str, Any]:
        return {"store": self.store, "detail": self.detail}


class KeyUnavailable(JiekunError):
    """Personal data could not be sealed or opened (E-KEY, exit 4; nothing changed): no key
    is configured, the master key file is missing, unsafe or wrong, a case's data key is
    gone, or a ciphertext does not open under its key (changed, or moved from elsewhere).
    ``detail`` says which."""

    rule = "E-KEY"

    def __init__(self, detail: str, *, detail_zh: str | None = None) -> None:
        self.detail = detail
        super().__init__(f"personal data is unavailable: {detail}",
                         message_zh="个人信息无法加密或解密（密钥不可用）："
                                    + (detail_zh or "请检查主密钥配置（JIEKUN_MASTER_KEY_FILE）")
                                    + "；未作任何更改。")

    def details(self) -> dict[str, Any]:
        return {"detail": self.detail}


class HistoryTampered(JiekunError):
    """A stored or given history that cannot be folded: an event does not follow the one
    before it (a missing, repeated or changed event)."""

    rule = "E-TAMPERED"

    def __init__(self, case_id: str, seq: int, reason: str) -> None:
        self.case_id = case_id
        self.seq = seq
        self.reason = reason
        super().__init__(f"case {case_id}, event {seq}: {reason}",
                         message_zh=f"案件 {case_id} 的第 {seq} 条记录与前一条不衔接（记录缺失、"
                                    "重复或被改动），请联系管理员核查。")

    def details(self) -> dict[str, Any]:
        return {"case": self.case_id, "seq": self.seq, "reason": self.reason}
