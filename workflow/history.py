"""History files (workflow/CONTRACT.md §2): JSON Lines, one event per line, cases interleaved.

A line that is not a well-formed event (not JSON, a missing key, a naive time) makes the whole
file invalid input, naming the line. What an event *means* (an unknown trigger, a wrong actor)
is judged by the replay, as a violation of that case. Unknown keys on a line are malformed:
a misspelt ``data`` must not silently drop a payload.
"""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.policies.field_texts import BilingualValueError, zh_of
from jiekun.policies.json_input import loads
from jiekun.policies.money import IntLiteral, NumberLiteral

_KEYS = {"case", "at", "event", "actor", "data", "derived"}
# What an export may add to an event line (workflow/CONTRACT.md §2, §2.1), and their JSON types:
# replay reads what it needs (``derived``) and checks the others only for their form.
_EXPORT_KEYS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "policy": (str,), "hash": (str,), "prev_hash": (str,),
    "personal_digest": (str, type(None)), "personal_salt": (str,), "position": (int,),
    "proof": (list,)}
# Lines that are not events: exactly one of these keys, an object as its value.
_META_KEYS = frozenset({"policy_version", "checkpoint"})


@dataclass(frozen=True)
class HistoryLine:
    line: int
    case_id: str
    at: datetime
    trigger: str
    actor: Actor
    data: Mapping[str, Any] | None
    derived: Mapping[str, Any] | None = None  # recorded derivations, on redacted events
    policy: str | None = None  # "ID@HASH" of the version an export says decided it

    @property
    def redacted(self) -> bool:
        return bool(self.data and self.data.get("redacted") is True)


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if isinstance(value, NumberLiteral) or not isinstance(value, str) or not value:
        raise BilingualValueError(f"{where}{key}: must be a non-empty string",
                                  f"{where}{key}：应为非空的文字")
    return value


def _actor(raw: object) -> Actor:
    if not isinstance(raw, Mapping):
        raise BilingualValueError("actor: must be an object", "actor：应为对象")
    unknown = set(raw) - {"role", "org", "id_number"}
    if unknown:
        name = sorted(unknown)[0]
        raise BilingualValueError(f"actor.{name}: unknown field",
                                  f"actor.{name}：不认识的字段（可能拼写有误）")
    role = _text(raw, "role", "actor.")
    org = _text(raw, "org", "actor.") if "org" in raw else None
    id_number = _text(raw, "id_number", "actor.") if "id_number" in raw else None
    return Actor(role, org, id_number)


def _time(raw: object) -> datetime:
    if not isinstance(raw, str) or isinstance(raw, NumberLiteral):
        raise BilingualValueError("at: must be an ISO 8601 time with an offset",
                                  "at：应为带时区的 ISO 8601 时间（例如 +08:00）")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BilingualValueError(f"at: {raw!r} is not an ISO 8601 time",
                                  f"at：“{raw}”不是 ISO 8601 时间") from None
    if moment.utcoffset() is None:
        raise BilingualValueError(f"at: {raw!r} has no offset (naive times are refused)",
                                  f"at：“{raw}”没有注明时区（例如 +08:00）")
    return moment


def _no_constant(name: str) -> Any:
    raise ValueError(name)


# ``loads``'s settings (number literals kept as written, no NaN), without its error handling:
# a line this refuses is read again by ``loads``, whose errors name the line.
_DECODE = json.JSONDecoder(parse_float=NumberLiteral, parse_int=IntLiteral,
                           parse_constant=_no_constant).decode


def parse_line(text: str, number: int) -> HistoryLine:
    try:
        obj = _DECODE(text) if text[:1] == "{" else None
    except ValueError:
        obj = None
    if obj is None:
        obj = loads(text, f"history line {number}")
    # most lines are plain events (no export keys, no derivations): checked here in a few
    # steps; anything else, and every refusal with its message, by the checks below
    line = _plain_event(obj, number)
    return line if line is not None else _checked(obj, number)


def _plain_event(obj: Any, number: int) -> HistoryLine | None:
    """The event of a line that has exactly the keys case, at, event, actor (and data) with
    values of their form, as ``_checked`` makes it; None for any other line."""
    if type(obj) is not dict or len(obj) != (5 if "data" in obj else 4):
        return None
    case, at, trigger, raw_actor = obj.get("case"), obj.get("at"), obj.get("event"), obj.get(
        "actor")
    data = obj.get("data")
    if (type(case) is not str or not case or type(trigger) is not str or not trigger
            or type(at) is not str or (data is not None and type(data) is not dict)
            or (data and data.get("redacted") is True)):
        return None
    actor = _plain_actor(raw_actor)
    if actor is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    return HistoryLine(number, case, moment, trigger, actor, data)


# Actors repeat from line to line (each office, each worker): one immutable Actor each, and
# the cache is emptied before it grows large.
_ACTORS: dict[tuple[str, str | None, str | None], Actor] = {}


def _plain_actor(raw: Any) -> Actor | None:
    if type(raw) is not dict:
        return None
    role, org, id_number = raw.get("role"), raw.get("org"), raw.get("id_number")
    # the count rules out unknown keys and explicit nulls
    if (type(role) is not str or not role
            or len(raw) != 1 + (org is not None) + (id_number is not None)
            or (org is not None and (type(org) is not str or not org))
            or (id_number is not None and (type(id_number) is not str or not id_number))):
        return None
    key = (role, org, id_number)
    actor = _ACTORS.get(key)
    if actor is None:
        if len(_ACTORS) >= 4096:
            _ACTORS.clear()
        actor = _ACTORS[key] = Actor(role, org, id_number)
    return actor


def _checked(obj: Any, number: int) -> HistoryLine:
    if not isinstance(obj, Mapping):
        raise BilingualValueError("must be a JSON object", "应为 JSON 对象")
    unknown = set(obj) - _KEYS - _EXPORT_KEYS.keys()
    if unknown:
        key = sorted(unknown)[0]
        raise BilingualValueError(f"{key}: unknown key", f"{key}：不认识的键（可能拼写有误）")
    for key, types in _EXPORT_KEYS.items():
        value = obj.get(key)
        if key in obj and (isinstance(value, bool) or not isinstance(value, types) or (
                isinstance(value, list) and not all(isinstance(p, str) for p in value))):
            raise BilingualValueError(f"{key}: not of its type ({types[0].__name__})",
                                      f"{key}：类型不符")
    data = obj.get("data")
    if data is not None and not isinstance(data, Mapping):
        raise BilingualValueError("data: must be an object", "data：应为对象")
    derived = obj.get("derived")
    if isinstance(derived, str):  # an export writes it as stored: the text of an object
        with contextlib.suppress(ValueError):  # not JSON: refused as not an object below
            derived = json.loads(derived)
    if derived is not None and not isinstance(derived, Mapping):
        raise BilingualValueError("derived: must be an object, or the text of one",
                                  "derived：应为对象或对象的文本")
    line = HistoryLine(number, _text(obj, "case", ""), _time(obj.get("at")),
                       _text(obj, "event", ""), _actor(obj.get("actor")), data, derived,
                       obj.get("policy"))
    if line.redacted and derived is None:
        raise BilingualValueError(
            "a redacted event must carry its recorded derivations (derived)",
            "已脱敏的事件必须附有记录的推导结果（derived）")
    return line


def is_meta(text: str) -> bool:
    """A meta line (``{"policy_version": {…}}`` or ``{"checkpoint": {…}}``, §2): exactly one
    of those keys with an object. Replay does not use them yet: it decides under the policy it
    is given, and proofs are checked by the audit commands, not by replay."""
    stripped = text.lstrip()
    if not stripped.startswith('{"policy_version"') and not stripped.startswith('{"checkpoint"'):
        return False
    obj = json.loads(text)
    return (isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in _META_KEYS
            and isinstance(next(iter(obj.values())), dict))


def parse_numbered(text: str, number: int) -> HistoryLine | None:
    """Line ``number`` of a history file: its event, or None for a blank or meta line;
    InvalidInput naming the line when it is malformed (what ``parse_history`` does for each
    line, for a reader that streams a file or hands its lines to other processes)."""
    if not text.startswith('{"case"') and not text.strip():
        return None
    try:
        if is_meta(text):
            return None
        return parse_line(text, number)
    except InvalidInput as error:
        raise InvalidInput("history file", [
            FieldProblem(f"line {number}", str(p), p.text_zh, p.code)
            for p in error.problems]) from None
    except ValueError as error:
        raise InvalidInput("history file", [
            FieldProblem(f"line {number}", str(error), zh_of(error))]) from None


def parse_history(lines: Iterable[str]) -> Iterator[HistoryLine]:
    """Parse lazily; InvalidInput naming the first malformed line. Meta lines are skipped."""
    for number, text in enumerate(lines, start=1):
        line = parse_numbered(text, number)
        if line is not None:
            yield line


@dataclass(frozen=True)
class FileLines:
    """The lines of a UTF-8 history file, streamed, split as ``str.splitlines`` splits the
    whole text (so line numbers are those of ``parse_history(text.splitlines())``); read in
    large pieces, decoded as they come (every replay worker goes through every line of the
    file). A value, not a closure, so that a process started by spawn can be handed it."""

    path: str | Path
    piece: int = 1 << 20  # bytes read at a time

    def pieces(self) -> Iterator[str]:
        """The text in pieces that each end with a line's end (but the last); invalid UTF-8
        raises UnicodeDecodeError, as reading the file as text does."""
        decoder = codecs.getincrementaldecoder("utf-8")()  # ~5x a text file's read(n)
        with open(self.path, "rb") as stream:
            carry = ""
            while raw := stream.read(self.piece):
                block = decoder.decode(raw)
                # after a "\n" a line ends in the whole text too ("\r\n" is one end, never
                # cut in two); a piece without one ends after a "\r" that no "\n" follows
                cut = block.rfind("\n")
                if cut < 0:
                    cut = block.rfind("\r", 0, len(block) - 1)
                if cut < 0:
                    carry += block
                    continue
                yield carry + block[:cut + 1]
                carry = block[cut + 1:]
            carry += decoder.decode(b"", final=True)
            if carry:
                yield carry

    def __call__(self) -> Iterator[str]:
        for piece in self.pieces():
            yield from piece.splitlines()

    def starting_with(self, prefix: str) -> list[str]:
        """The lines that start with ``prefix`` once their leading blanks are stripped,
        looked for only in the pieces that hold ``prefix`` at all."""
        return [text for piece in self.pieces() if prefix in piece
                for text in piece.splitlines() if text.lstrip().startswith(prefix)]


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
