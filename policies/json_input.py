"""JSON in, with every number literal kept as written (workflow/CONTRACT.md §1: ``1e2`` is not an
amount,
``1.005`` is not an amount, and nothing passes through float)."""

from __future__ import annotations

import json
from typing import Any

from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.field_texts import BilingualValueError, zh_of
from jiekun.policies.money import IntLiteral, NumberLiteral


def _reject_constant(name: str) -> Any:
    raise BilingualValueError(f"{name} is not valid JSON", f"{name} 不是有效的 JSON 值")


# One decoder for every text: ``json.loads`` with hooks builds a decoder and its scanner on
# each call, ~1.5 µs of a history line's parse.
_DECODER = json.JSONDecoder(parse_float=NumberLiteral, parse_int=IntLiteral,
                            parse_constant=_reject_constant)


def loads(text: str | bytes, what: str = "JSON") -> Any:
    """Parse JSON; InvalidInput (naming line and column) when it is not JSON."""
    try:
        if isinstance(text, str) and not text.startswith("\ufeff"):
            return _DECODER.decode(text)
        # bytes, or a BOM json.loads refuses: its own checks and messages
        return json.loads(text, parse_float=NumberLiteral, parse_int=IntLiteral,
                          parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InvalidInput(what, [FieldProblem(
            "", f"not JSON: {error.msg} at {where}",
            f"不是有效的 JSON：第 {error.lineno} 行第 {error.colno} 列有误")]
        ) from None
    except ValueError as error:
        raise InvalidInput(what, [FieldProblem("", str(error), zh_of(error))]) from None
