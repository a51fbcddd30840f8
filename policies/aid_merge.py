"""Adding tier tables to a policy: the operator's file, or the demo's illustrative tables."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from jiekun.policies.aid_tables import AidPolicy
from jiekun.policies.application import problem_lines, problem_lines_zh, problems_of
from jiekun.policies.errors import InvalidPolicyFile
from jiekun.policies.policy_file import Policy


def with_tier_tables(policy: Policy, tables_file: Path, id_suffix: str) -> Policy:
    """``policy`` with the ``[aid]`` section of ``tables_file``, under a new id (its content,
    and so its hash, differ from the original's)."""
    try:
        raw = tomllib.loads(tables_file.read_text("utf-8"))
        aid = AidPolicy.model_validate(raw.get("aid", {}))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidPolicyFile(f"{tables_file}: {error}", message_zh=(
            f"无法读取帮扶分档表 {tables_file}，或其不是有效的 TOML 格式")) from None
    except ValidationError as error:
        problems = problems_of(error, "aid")
        raise InvalidPolicyFile(
            problem_lines(f"{tables_file}: invalid tier tables:", problems),
            message_zh=problem_lines_zh(f"帮扶分档表 {tables_file} 内容有误：", problems),
        ) from None
    data = policy.model_dump(mode="json")
    data.update(aid=aid.model_dump(mode="json"), id=f"{policy.id}{id_suffix}")
    return Policy.model_validate(data)


_EMPTY_AID = re.compile(r"^\[aid\]\ntables = \[\]\n", re.MULTILINE)
_ID = re.compile(r'^id = "([^"]+)"$', re.MULTILINE)


def policy_text_with_tables(policy_text: str, tables_text: str, id_suffix: str) -> str:
    """A policy file's text with the tier tables of ``tables_text`` in place of an empty
    ``[aid]`` section, and its id suffixed: a file an operator (or a replay) can load."""
    if not _ID.search(policy_text):
        raise InvalidPolicyFile("the policy file has no id line",
                                message_zh="政策文件缺少 id 行")
    text = _ID.sub(lambda m: f'id = "{m.group(1)}{id_suffix}"', policy_text, count=1)
    if _EMPTY_AID.search(text):
        text = _EMPTY_AID.sub("", text, count=1)
    elif "\n[aid]" in text or text.startswith("[aid]"):
        raise InvalidPolicyFile("the policy file has tier tables of its own already",
                                message_zh="政策文件已有自己的帮扶分档表，不能再合并")
    return text.rstrip("\n") + "\n\n" + tables_text
