"""How an event is written down and chained.

An event is stored as text columns, and its hash is computed over exactly that text, so any
changed byte of a stored event breaks its hash and the link to the next event. Personal data
(the payload fields states/ marks personal, a worker's id number) is split off into the vault;
the chain holds only its digest, so destroying it at the end of retention leaves the chain
verifiable.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from datetime import UTC, datetime
from typing import Any, NamedTuple

from jiekun.states import Lifecycle

GENESIS = "sha256:" + "0" * 64
# json.dumps with options builds an encoder per call; one prebuilt encoder writes the same text
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# ... and JSONEncoder.encode still makes its C encoder on every call (json/encoder.py,
# iterencode): made once here, with the same settings, it writes the same text ~3× faster
# (a test compares the two). No cycle check: an event's values are trees.
_MAKE_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL: Any = None if _MAKE_C_ENCODER is None else _MAKE_C_ENCODER(
    None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, True)


def canonical(value: Any) -> str:
    if _C_CANONICAL is None:
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


SALTED = "sha256s:"


def personal_digest(text: str, salt: bytes | None) -> str:
    """The chain's digest of a personal payload: ``sha256s:`` SHA-256 of the case's salt and
    the text (issue 19: the salt is destroyed with the case's key, so a digest left after a
    purge confirms no guess), or without a salt the plain ``sha256:`` of older events. The
    prefix records the format per event; a stored digest is never rewritten."""
    if salt is None:
        return digest(text)
    return SALTED + hashlib.sha256(salt + text.encode()).hexdigest()


def digest_matches(text: str, recorded: str | None, salt: bytes | None) -> bool | None:
    """Whether ``text`` gives the digest the chain recorded, in the recorded digest's own
    format; None when that cannot be told (a salted digest, and no salt at hand)."""
    if recorded is None:
        return False
    if recorded.startswith(SALTED):
        return None if salt is None else personal_digest(text, salt) == recorded
    return digest(text) == recorded


def utc_text(moment: datetime) -> str:
    """Fixed-width UTC text (``2024-03-04T01:00:00.000000Z``): sorts as time does, and hashes
    the same on every backend."""
    # isoformat of a UTC time ends "+00:00"; it formats faster than strftime
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def from_utc_text(text: str) -> datetime:
    # fromisoformat reads the fixed format (with its "Z") ~20× faster than strptime
    return datetime.fromisoformat(text)


class StoredEvent(NamedTuple):
    """An event as its row holds it (text), and the personal payload split off from it. A
    named tuple, not a frozen dataclass: an audit reads a million of them, and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__`` (~4% of a
    verify)."""

    case_id: str
    seq: int
    at: str
    trigger: str
    actor: str
    data: str
    personal_digest: str | None
    policy_id: str | None
    policy_hash: str | None
    derived: str
    prev_hash: str
    personal: str | None = None  # the vault's text; None when there is none or it was destroyed

    def chain_hash(self) -> str:
        # every field but the vault's text, in order: a JSON array, as a list writes it
        return digest(canonical(self[:11]))


def split_personal(lifecycle: Lifecycle, trigger: str, actor: dict[str, str],
                   data: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """(public actor, public data, personal text or None) for one event."""
    definition = lifecycle.trigger(trigger)
    personal_fields = definition.personal_fields
    whole = definition.whole_payload_personal
    personal: dict[str, Any] = {}
    if whole and data:
        personal["data"] = data
        public_data: dict[str, Any] = {}
    else:
        public_data = {k: v for k, v in data.items() if k not in personal_fields}
        hidden = {k: v for k, v in data.items() if k in personal_fields}
        if hidden:
            personal["data"] = hidden
    public_actor = dict(actor)
    if "id_number" in public_actor:
        personal["actor_id_number"] = public_actor.pop("id_number")
    return public_actor, public_data, canonical(personal) if personal else None


def join_personal(actor: dict[str, str], data: dict[str, Any],
                  personal: str | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The event's actor and data as decided, from the public parts and the vault's text."""
    if personal is None:
        return actor, data
    hidden = json.loads(personal)
    if "actor_id_number" in hidden:
        actor = {**actor, "id_number": hidden["actor_id_number"]}
    return actor, {**data, **hidden.get("data", {})}
