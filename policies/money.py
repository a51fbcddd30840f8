"""Money: exact decimal amounts as written in the JSON text, and display rounding.

workflow/CONTRACT.md §1: an amount is a string ``^[0-9]+(\\.[0-9]{1,2})?$``, a JSON integer ≥ 0,
or a JSON
number whose shortest form matches that pattern; at most 100,000,000. Numbers are judged as
written, so the JSON loader (``policies.json_input``) keeps each number literal's text.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from jiekun.policies.field_texts import BilingualValueError

MAX_AMOUNT = Decimal("100000000")
_PATTERN = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
_CENT = Decimal("0.01")


class NumberLiteral(str):
    """The text of a JSON number with a fraction or an exponent, kept as written."""

    __slots__ = ()


class IntLiteral(int):
    """A JSON integer that remembers how it was written (``-0`` is a sign, not zero)."""

    text: str

    def __new__(cls, text: str) -> IntLiteral:
        value = super().__new__(cls, text)
        value.text = text
        return value


def _shortest_form(literal: str) -> str | None:
    """A JSON number literal as its shortest decimal form, or None when it has an exponent."""
    if "e" in literal or "E" in literal:
        return None
    text = literal
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_amount(value: object) -> Decimal:
    """The amount as a Decimal; ValueError, with a reason, if workflow/CONTRACT.md refuses it."""
    if value.__class__ is str:  # as applications write amounts: no type to tell apart
        text: str = value
    elif isinstance(value, bool):
        raise BilingualValueError("an amount cannot be a boolean", "金额不能是 true 或 false")
    elif isinstance(value, IntLiteral):
        text = value.text
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, NumberLiteral):
        shortest = _shortest_form(value)
        if shortest is None:
            raise BilingualValueError(f"an amount cannot have an exponent ({value})",
                                      f"金额不能用科学计数法（{value}）")
        text = shortest
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else "nan"
    elif isinstance(value, float):
        raise BilingualValueError("floats are not accepted for money: pass a string or a "
                                  "Decimal", "金额不接受浮点数，请写成文字或 Decimal")
    else:
        raise BilingualValueError(
            f"an amount must be a string or a number, not {type(value).__name__}",
            "金额应写成文字或数字")
    if not _PATTERN.fullmatch(text):
        raise BilingualValueError(
            f"{text!r} is not an amount: digits with at most two decimals, no sign, no spaces",
            f"“{text}”不是有效金额：只能是数字，最多两位小数，不带正负号和空格")
    amount = Decimal(text)
    if amount > MAX_AMOUNT:
        raise BilingualValueError(f"{text} is over the limit of 100000000",
                                  f"{text} 超过上限 100000000")
    return amount


def display(value: Fraction | Decimal, divisor: int = 1) -> str:
    """``value / divisor`` with two decimals, half away from zero, for display only
    (comparisons stay exact)."""
    numerator, denominator = value.as_integer_ratio()
    denominator *= divisor
    # integer arithmetic: round(|x|·100) half up is floor((200·|n| + d) / 2d)
    whole = (200 * abs(numerator) + denominator) // (2 * denominator)
    sign = "-" if numerator < 0 and whole else ""
    return f"{sign}{whole // 100}.{whole % 100:02d}"


def yuan(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))
