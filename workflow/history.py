"""History files (workflow/CONTRACT.md §2): JSON Lines, one event per line, cases interleaved.

A line that is not a well-formed event (not JSON, a missing key, a naive time) makes the whole
file invalid input, naming the line. What an event *means* (an unknown trigger, a wrong actor)
is judged by the replay, as a violation of that case. Unknown keys on a line are malformed:
a misspelt ``data`` must not silently drop a payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.json_input import loads
from jiekun.policies.money import NumberLiteral

_KEYS = {"case", "at", "event", "actor", "data", "derived"}


@dataclass(frozen=True)
class HistoryLine:
    line: int
    case_id: str
    at: datetime
    trigger: str
    actor: Actor
    data: Mapping[str, Any] | None
    derived: Mapping[str, Any] | None = None  # recorded derivations, on redacted events

    @property
    def redacted(self) -> bool:
        return bool(self.data and self.data.get("redacted") is True)


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if isinstance(value, NumberLiteral) or not isinstance(value, str) or not value:
        raise ValueError(f"{where}{key}: must be a non-empty string")
    return value


def _actor(raw: object) -> Actor:
    if not isinstance(raw, Mapping):
        raise ValueError("actor: must be an object")
    unknown = set(raw) - {"role", "org", "id_number"}
    if unknown:
        raise ValueError(f"actor.{sorted(unknown)[0]}: unknown field")
    role = _text(raw, "role", "actor.")
    org = _text(raw, "org", "actor.") if "org" in raw else None
    id_number = _text(raw, "id_number", "actor.") if "id_number" in raw else None
    return Actor(role, org, id_number)


def _time(raw: object) -> datetime:
    if not isinstance(raw, str) or isinstance(raw, NumberLiteral):
        raise ValueError("at: must be an ISO 8601 time with an offset")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"at: {raw!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"at: {raw!r} has no offset (naive times are refused)")
    return moment


def parse_line(text: str, number: int) -> HistoryLine:
    obj = loads(text, f"history line {number}")
    if not isinstance(obj, Mapping):
        raise ValueError("must be a JSON object")
    unknown = set(obj) - _KEYS
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown key")
    data = obj.get("data")
    if data is not None and not isinstance(data, Mapping):
        raise ValueError("data: must be an object")
    derived = obj.get("derived")
    if derived is not None and not isinstance(derived, Mapping):
        raise ValueError("derived: must be an object")
    line = HistoryLine(number, _text(obj, "case", ""), _time(obj.get("at")),
                       _text(obj, "event", ""), _actor(obj.get("actor")), data, derived)
    if line.redacted and derived is None:
        raise ValueError("a redacted event must carry its recorded derivations (derived)")
    return line


def parse_history(lines: Iterable[str]) -> Iterator[HistoryLine]:
    """Parse lazily; InvalidInput naming the first malformed line."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield parse_line(text, number)
        except InvalidInput as error:
            raise InvalidInput("history file", [FieldProblem(f"line {number}", str(p))
                                                for p in error.problems]) from None
        except ValueError as error:
            raise InvalidInput("history file",
                               [FieldProblem(f"line {number}", str(error))]) from None


def event_line(case_id: str, at: datetime, trigger: str, actor: Mapping[str, str],
               data: Mapping[str, Any], derived: Mapping[str, Any] | None = None) -> str:
    """One history line, as an export writes it (``derived`` only for redacted events)."""
    record: dict[str, Any] = {"case": case_id, "at": at.isoformat(), "event": trigger,
                              "actor": dict(actor)}
    if data:
        record["data"] = dict(data)
    if derived is not None:
        record["derived"] = dict(derived)
    return json.dumps(record, ensure_ascii=False)
