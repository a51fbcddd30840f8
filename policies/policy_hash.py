"""A policy version's identity: the hash of what its TOML text says.

``policy_text_hash(text)`` is sha256 over a canonical form of the parsed TOML (keys sorted,
dates and times as ISO 8601, compact JSON in UTF-8), not over the policy model the code builds
from it: a field the code's model gains later (with a default) leaves the hash of unchanged
text unchanged, and a comment, a blank line or the order of keys changes nothing. Two texts
hash alike exactly when TOML reads the same document from them; a quoted date
(``"2023-11-03"``) and a bare one read as the same value here, as the policy reads them.

Before issue 15 events recorded a hash of the validated pydantic model instead
(``legacy_model_hash``); the store keeps that hash of the shipped file as an alias of the
version that holds its text (``persistence/migrations/versions/0005_policy_versions.py``).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date, datetime, time
from typing import Any

from jiekun.policies.errors import InvalidPolicyFile

# What events decided under the shipped wx-2023-45.toml recorded as its hash before issue 15
# (the hash of the pydantic dump), and the text hash of that same file as shipped with
# migration 0005. tests/policies/test_policy_hash.py pins both.
LEGACY_SHIPPED_HASH = "sha256:b936535eaaac8f396bd0b006abb17cd6c5b6989d6ba235a85957051449ceada8"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def canonical_document(document: dict[str, Any]) -> str:
    """The canonical JSON of a parsed TOML document (what its hash is computed over)."""
    return json.dumps(_plain(document), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)


def document_hash(document: dict[str, Any]) -> str:
    """``sha256:…`` of a parsed TOML document's canonical form."""
    return "sha256:" + hashlib.sha256(canonical_document(document).encode()).hexdigest()


def policy_text_hash(text: str) -> str:
    """``sha256:…`` of what a policy's TOML text says (see the module's docstring).
    InvalidPolicyFile when the text is not TOML."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicyFile(f"not TOML: {error}",
                                message_zh="政策文本不是有效的 TOML 格式") from None
    return document_hash(document)
