"""What an idempotency key means: a retry of one request by one caller (as in Stripe's API).

A key is scoped to its caller — the actor's role and organisation (a worker: a digest of their
id number, which stays in the vault only) — and to the case: the same key sent by another
caller, or for another case, is another request. A repeat must ask for the same thing, the
same trigger and payload (compared by digest); otherwise IdempotencyMismatch, carrying nothing
stored. The stored key is a digest of the scope and the key, so the events table keeps no
worker's id number in it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jiekun.workflow.records import Command


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def scoped_key(command: Command) -> str | None:
    """The key as stored: a digest of the caller, the case and the caller's key."""
    if command.idempotency_key is None:
        return None
    actor = command.actor
    who = actor.org or ("" if actor.id_number is None
                        else "id:" + _digest(actor.id_number.upper()))
    return _digest("jiekun-idempotency-1", actor.role, who, command.case_id,
                   command.idempotency_key)


def _plain(value: Any) -> str:
    return str(value)


def request_digest(command: Command) -> str | None:
    """What a keyed command asks for: its trigger and payload, as a digest."""
    if command.idempotency_key is None:
        return None
    payload = json.dumps(dict(command.data), sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"), default=_plain)
    return _digest("jiekun-request-1", command.trigger, payload)
