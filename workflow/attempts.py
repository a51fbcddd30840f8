"""The attempts log (issue 16): every refused command on the store leaves a line apart from the
chain — time, case, actor (a worker by a digest of their id number, never the number), trigger,
code — and no payload. What goes there and how it is written without ever turning a refusal
into an acceptance; the engine calls it on the refusal's path only."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from jiekun.persistence.chain import utc_text
from jiekun.persistence.ports import WritePort
from jiekun.persistence.statements import Attempt
from jiekun.policies.authorization import Actor
from jiekun.policies.errors import UNAVAILABLE, InvalidArgument, JiekunError, TimerGone
from jiekun.workflow.records import Command

log = logging.getLogger(__name__)


def attempt_actor(actor: Actor) -> tuple[str, str | None]:
    """An actor as the attempts log keeps it: (role, organisation), a worker's organisation
    being "id:" and a digest of their id number (as workflow/idempotency.py scopes a key), so
    the log never holds an id number."""
    if actor.org is not None or actor.id_number is None:
        return actor.role, actor.org
    digest = hashlib.sha256(f"jiekun-actor-1\x00{actor.id_number.upper()}".encode())
    return actor.role, "id:" + digest.hexdigest()


def logged(refusal: JiekunError) -> bool:
    """Whether a refusal goes to the attempts log: not when the store or a key was
    unavailable (nothing was decided), an argument was refused before the command reached the
    store, or a timer was taken by another process."""
    return not (refusal.code in UNAVAILABLE or isinstance(refusal, (InvalidArgument, TimerGone)))


def attempt(command: Command, refusal: JiekunError) -> Attempt:
    role, org = attempt_actor(command.actor)
    return Attempt(at=utc_text(command.at), recorded_at=utc_text(datetime.now(UTC)),
                   case_id=command.case_id, actor_role=role, actor_org=org,
                   trigger=command.trigger, code=refusal.code)


def record_in(uow: WritePort, command: Command, refusal: JiekunError) -> None:
    """Log a refusal in a transaction that goes on (the firings before it commit with it), in
    a savepoint: a failing log write is undone alone and the transaction stays usable."""
    try:
        with uow.savepoint():
            uow.record_attempt(attempt(command, refusal))
    except Exception:  # the refusal stands without its log line; never the other way
        log.exception("could not log the refused %s on %s", command.trigger, command.case_id)
