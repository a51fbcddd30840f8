"""Adding tier tables to a policy: the operator's file, or the demo's illustrative tables."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from policies.aid_tables import AidPolicy
from policies.application import problems_of
from policies.errors import InvalidPolicyFile
from policies.policy_file import Policy


def with_tier_tables(policy: Policy, tables_file: Path, id_suffix: str) -> Policy:
    """``policy`` with the ``[aid]`` section of ``tables_file``, under a new id (its content,
    and so its hash, differ from the original's)."""
    try:
        raw = tomllib.loads(tables_file.read_text("utf-8"))
        aid = AidPolicy.model_validate(raw.get("aid", {}))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidPolicyFile(f"{tables_file}: {error}") from None
    except ValidationError as error:
        lines = "\n".join(f"  {p}" for p in problems_of(error, "aid"))
        raise InvalidPolicyFile(f"{tables_file}: invalid tier tables:\n{lines}") from None
    data = policy.model_dump(mode="json")
    data.update(aid=aid.model_dump(mode="json"), id=f"{policy.id}{id_suffix}")
    return Policy.model_validate(data)
