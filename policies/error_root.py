"""The root of every refusal jiekun raises (re-exported by ``policies/errors.py``, where callers
import it from): a stable code, the text in Chinese and in English, and its data as JSON.

Every refusal reads in both languages: ``message_zh`` for the grassroots clerk, ``message_en``
(also ``message``, and ``str()``), and ``as_json()`` gives the code, both texts and the data.
A class whose raiser gives only an English text (a store's or engine's message) says its own
Chinese sentence (``default_zh``), so no refusal ever reaches a clerk in English alone.
"""

from __future__ import annotations

from typing import Any

# The codes of a store or a key that is unavailable: nothing was decided, try again (or
# upgrade the schema); never a verdict on the command or the history (exit code 4).
UNAVAILABLE = frozenset({"E-BUSY", "E-KEY", "E-SCHEMA"})


class JiekunError(Exception):
    """Root of every error jiekun raises on purpose: a refusal that changed nothing.

    ``rule`` (also ``code``) is the stable id of the refusal: a rule id for a guard failure,
    else an ``E-…`` code (the one a replay reports for the same refusal)."""

    rule: str = "E-JIEKUN"
    default_zh = "操作未被接受，未作任何更改。"

    def __init__(self, message: str, *, message_zh: str | None = None) -> None:
        self.message = message
        self.message_zh = message_zh or self.default_zh
        super().__init__(message)

    @property
    def code(self) -> str:
        """The stable id of this refusal (the same as ``rule``)."""
        return self.rule

    @property
    def message_en(self) -> str:
        return self.message

    def details(self) -> dict[str, Any]:
        """The refusal's own data, ready for JSON (each subclass names its fields)."""
        return {}

    def as_json(self) -> dict[str, Any]:
        """``{"code", "message_zh", "message_en", …the class's data}``."""
        return {"code": self.code, "message_zh": self.message_zh,
                "message_en": self.message_en, **self.details()}
