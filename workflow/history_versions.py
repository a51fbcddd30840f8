"""The policy versions a history file names (workflow/CONTRACT.md §2): its meta lines
``{"policy_version": {"id", "version", "hash", "toml"}}`` and each event's ``"policy":
"ID@HASH"``. Replay decides every event under the version it names (``--policy`` overrides them
all, for a what-if).

A version line is trusted only as far as its text: the text must give the line's hash, either
as policies/policy_hash.py hashes a text now or as events recorded before the store kept
versions (the hash of the validated policy, ``Policy.legacy_model_hash``) — an export names the
hash its events recorded. A line whose text does not give its hash makes the file invalid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jiekun.policies.errors import FieldProblem, InvalidInput, JiekunError
from jiekun.policies.policy_file import Policy, parse_policy
from jiekun.policies.policy_hash import policy_text_hash

_FIELDS = {"id": str, "version": int, "hash": str, "toml": str}


def _refused(number: int, message: str, message_zh: str) -> InvalidInput:
    return InvalidInput("history file", [FieldProblem(f"line {number}",
                                                      f"policy_version: {message}",
                                                      f"policy_version：{message_zh}")])


def version_line(version: int, policy_id: str, hash_: str, toml: str) -> str:
    """The meta line an export writes before the first event that names ``hash_``."""
    return json.dumps({"policy_version": {"id": policy_id, "version": version, "hash": hash_,
                                          "toml": toml}}, ensure_ascii=False)


def _policy_of(number: int, body: Any) -> tuple[str, Policy]:
    if not isinstance(body, dict) or set(body) != set(_FIELDS) or not all(
            isinstance(body[k], t) and not isinstance(body[k], bool) for k, t in _FIELDS.items()):
        raise _refused(number, 'expected {"id", "version", "hash", "toml"} (text, number, text, '
                               'text)', "应为 {id, version, hash, toml}")
    try:
        policy = parse_policy(body["toml"], f"history line {number}")
        text_hash = policy_text_hash(body["toml"])
    except JiekunError as error:
        raise _refused(number, f"its text is not a valid policy: {error}",
                       "其政策文本无效") from None
    if body["hash"] not in (text_hash, policy.legacy_model_hash):
        raise _refused(number, f"its text does not give its hash {body['hash']} (the text "
                               f"hashes to {text_hash}): the line was changed",
                       "政策文本与其哈希不符：该行已被改动")
    if policy.id != body["id"]:
        raise _refused(number, f"its text is policy {policy.id}, the line says {body['id']}",
                       "政策文本的编号与该行不符")
    return body["hash"], policy


def versions_in(lines: Sequence[str]) -> dict[str, Policy]:
    """The policies of the file's version lines, by the hash they carry (InvalidInput naming
    the line when one is malformed or its text does not give its hash)."""
    found: dict[str, Policy] = {}
    for number, text in enumerate(lines, start=1):
        if not text.lstrip().startswith('{"policy_version"'):
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            continue  # not a meta line after all: the history parser names it
        if isinstance(obj, dict) and len(obj) == 1 and "policy_version" in obj:
            hash_, policy = _policy_of(number, obj["policy_version"])
            found[hash_] = policy
    return found


def named_hash(policy: str | None) -> str | None:
    """The hash of an event's ``"policy": "ID@HASH"`` (None when absent)."""
    if policy is None or "@" not in policy:
        return None
    return policy.partition("@")[2] or None
