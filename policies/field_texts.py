"""What a field problem says in Chinese: pydantic's error types translated for a clerk, and the
ValueError our own validators raise with their Chinese text beside the English one.

A problem's code is the refusal's own (E-PAYLOAD, E-INPUT) unless the validator knows more:
a required field missing (E-MISSING) or a field the schema does not know (E-UNKNOWN-FIELD).
"""

from __future__ import annotations

from pydantic_core import ErrorDetails

MISSING = "E-MISSING"
UNKNOWN_FIELD = "E-UNKNOWN-FIELD"


class BilingualValueError(ValueError):
    """A ValueError that says it in Chinese too (``zh``). ``str()`` stays the English text:
    pydantic, the English messages and the tests read that."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.zh = zh


def zh_of(error: ValueError) -> str:
    """The Chinese text of a validator's ValueError (a plain one: its English, introduced)."""
    if isinstance(error, BilingualValueError):
        return error.zh
    return f"取值不正确：{error}"


# pydantic's error types (pydantic_core ErrorType) met by the application, the payloads and
# the policy file; the placeholders are the error's ``ctx``.
_PYDANTIC_ZH = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段（可能拼写有误），请删除或更正",
    "literal_error": "取值不在允许范围内，应为：{expected}",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "string_type": "应为文字",
    "string_too_short": "不能为空",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期（YYYY-MM-DD），不带时刻",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
}
_CODES = {"missing": MISSING, "extra_forbidden": UNKNOWN_FIELD}


def pydantic_zh(item: ErrorDetails) -> str:
    """The Chinese text of one pydantic error."""
    ctx = item.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(error, ValueError):
        return zh_of(error)
    template = _PYDANTIC_ZH.get(item["type"])
    if template is None:
        return f"取值不正确：{item['msg']}"
    # pydantic lists choices as "'a', 'b' or 'c'": in Chinese, "a、b、c"
    values = {k: str(v).replace("'", "").replace(" or ", "、").replace(", ", "、")
              for k, v in ctx.items()}
    return template.format(**values)


def pydantic_code(item: ErrorDetails) -> str | None:
    """E-MISSING or E-UNKNOWN-FIELD where pydantic says so; None: the refusal's own code."""
    return _CODES.get(item["type"])
