"""Input refused as a whole, every problem by its path and in both languages (re-exported by
``policies/errors.py``): an application, a payload, a file, a call's argument, a policy file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jiekun.policies.error_root import JiekunError
from jiekun.policies.labels import input_zh, trigger_zh


class FieldProblem:
    """One invalid field: its path as in workflow/CONTRACT.md (``household.members[1].x``),
    the English ``message`` (also ``message_en``), ``message_zh`` and a ``code``: E-MISSING,
    E-UNKNOWN-FIELD, else the code of the refusal that lists it (filled in by InvalidInput)."""

    __slots__ = ("code", "message", "message_zh", "path")

    def __init__(self, path: str, message: str, message_zh: str | None = None,
                 code: str | None = None) -> None:
        self.path = path
        self.message = message
        self.message_zh = message_zh or f"不符合要求：{message}"
        self.code = code

    @property
    def message_en(self) -> str:
        return self.message

    def at(self, path: str) -> FieldProblem:
        """The same problem under another path (a payload's field inside ``data``)."""
        return FieldProblem(path, self.message, self.message_zh, self.code)

    def coded(self, code: str) -> FieldProblem:
        """This problem, with ``code`` when it has none of its own."""
        return self if self.code else FieldProblem(self.path, self.message, self.message_zh,
                                                   code)

    @property
    def text_zh(self) -> str:
        return f"{self.path}：{self.message_zh}" if self.path else self.message_zh

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "message_zh": self.message_zh,
                "message_en": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"FieldProblem({self.path!r}, {self.message!r})"


class InvalidInput(JiekunError):
    """Input refused as a whole; ``problems`` lists every field error by path (exit code 2)."""

    rule = "E-PAYLOAD"

    def __init__(self, what: str, problems: Sequence[FieldProblem],
                 what_zh: str | None = None) -> None:
        self.what = what
        self.problems = [p.coded(self.rule) for p in problems]
        lines = "\n".join(f"  {p}" for p in self.problems)
        lines_zh = "\n".join(f"  {p.text_zh}" for p in self.problems)
        super().__init__(f"invalid {what}:\n{lines}", message_zh=(
            f"{what_zh or input_zh(what)}有误，共 {len(self.problems)} 处需要更正：\n{lines_zh}"))

    def details(self) -> dict[str, Any]:
        return {"what": self.what, "problems": [p.as_json() for p in self.problems]}


class InvalidArgument(InvalidInput):
    """A call's argument refused (E-INPUT): ``parameter`` names it (a naive datetime, a case
    id outside ``[A-Za-z0-9._-]{1,64}``, a store URL of another database)."""

    rule = "E-INPUT"

    def __init__(self, parameter: str, message: str, message_zh: str | None = None) -> None:
        self.parameter = parameter
        super().__init__(f"argument {parameter}", [FieldProblem(parameter, message, message_zh)],
                         what_zh=f"参数 {parameter} ")

    def details(self) -> dict[str, Any]:
        return {"parameter": self.parameter, **super().details()}


class InvalidApplication(InvalidInput):
    """An application refused as a whole; ``problems`` name every field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("application", problems)


class InvalidPayload(InvalidInput):
    """A trigger's payload refused; ``problems`` name every field."""

    def __init__(self, trigger: str, problems: Sequence[FieldProblem]) -> None:
        self.trigger = trigger
        super().__init__(f"payload of {trigger}", problems,
                         what_zh=f"执行{trigger_zh(trigger)}所附的数据")

    def details(self) -> dict[str, Any]:
        return {"trigger": self.trigger, **super().details()}


class InvalidPolicyFile(JiekunError):
    """A policy file that is not valid TOML or breaks the policy's schema."""

    rule = "E-POLICY-FILE"
    default_zh = "政策文件无法使用：无法读取、不是有效的 TOML，或内容不符合政策文件的格式。"
