"""How a refusal names things for people: the lifecycle's states, triggers and roles in Chinese
(read from the definition in states/, so a message says what the diagrams say), and the inputs
a command line or a caller hands in.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from jiekun.states.lifecycle import ROLE_LABELS, STATES, TRIGGERS

_STATES = {s.name: s.label for s in STATES}
_TRIGGERS = {t.name: t.label for t in TRIGGERS}
_ROLES = {role.value: label for role, label in ROLE_LABELS.items()}
TRIGGER_NAMES: tuple[str, ...] = tuple(_TRIGGERS)

# The inputs refused as a whole (InvalidInput's ``what``) that a clerk meets most.
_INPUTS = {
    "application": "申请材料",
    "history file": "历史记录文件",
    "JSON": "JSON 数据",
    "--data": "操作数据（--data）",
    "--at": "时间（--at）",
    "--until": "截止时间（--until）",
    "options": "命令选项",
    "store URL": "数据库地址",
}


def state_zh(name: str | None) -> str:
    """``“初审中”``; an unknown name is quoted as it is."""
    label = _STATES.get(name or "")
    return f"“{label.zh if label else name}”"


def trigger_zh(name: str) -> str:
    """``“审核通过”``; an unknown name is quoted as it is."""
    label = _TRIGGERS.get(name)
    return f"“{label.zh if label else name}”"


def triggers_zh(names: Iterable[str]) -> str:
    """``“核查到期”、“提前核查”``, or ``无`` for none."""
    return "、".join(trigger_zh(n) for n in names) or "无"


def actor_zh(label: str) -> str:
    """An actor's label (``federation:xinwu``, ``system``) with its role in Chinese."""
    role, _, who = label.partition(":")
    name = _ROLES[role].zh if role in _ROLES else role
    return f"{name}（{who}）" if who else name


def input_zh(what: str) -> str:
    """The name of an input refused as a whole (a file's path is quoted as it is)."""
    if what in _INPUTS:
        return _INPUTS[what]
    if what.startswith("history line "):
        return f"历史记录第 {what.removeprefix('history line ')} 行"
    return f"输入“{what}”"


def closest_triggers(name: str, allowed: Iterable[str] = ()) -> tuple[str, ...]:
    """The triggers spelt most like ``name`` (a typo's likely meaning), best first: among
    ``allowed`` (those the case's state allows) when one is close, else among them all."""
    for candidates in (tuple(allowed), TRIGGER_NAMES):
        found = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        if found:
            return tuple(found)
    return ()
