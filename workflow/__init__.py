"""jiekun's engine: what an embedding system imports.

    from jiekun.workflow import Actor, Engine, JiekunError

``Engine.open(url, upgrade=True)`` opens (and creates or migrates) a store; commands return
``Event``s, reads return ``CaseState``s; every refusal is a ``JiekunError`` subclass that
changed nothing, with a stable ``code``, ``message_zh``, ``message_en`` and ``as_json()``.
The rest of the package (the lifecycle machine, the decider, replay, the command line) is
reachable through its modules but is not this surface.
"""

from typing import TYPE_CHECKING, Any

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    FieldProblem,
    GuardFailed,
    HistoryOutOfOrder,
    HistoryTampered,
    IdempotencyMismatch,
    InvalidApplication,
    InvalidArgument,
    InvalidInput,
    InvalidPayload,
    InvalidPolicyFile,
    JiekunError,
    NotAuthorized,
    ObjectionProblem,
    PolicyNotInForce,
    SchemaBehind,
    StoreBusy,
    StoreClosed,
    StoreUnavailable,
    TimerGone,
    TransitionNotAllowed,
    UnknownTrigger,
    VersionConflict,
)
from jiekun.workflow.records import CaseState, Command, Event

if TYPE_CHECKING:
    from jiekun.workflow.engine import Engine


def __getattr__(name: str) -> Any:
    # Engine is imported when first asked for: it brings SQLAlchemy and alembic (~0.7 s),
    # which a process that only imports a module of this package (a replay worker, the
    # command line's replay) never uses
    if name == "Engine":
        from jiekun.workflow.engine import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Actor",
    "CaseNotFound",
    "CaseState",
    "Command",
    "ConcurrencyConflict",
    "Engine",
    "Event",
    "FieldProblem",
    "GuardFailed",
    "HistoryOutOfOrder",
    "HistoryTampered",
    "IdempotencyMismatch",
    "InvalidApplication",
    "InvalidArgument",
    "InvalidInput",
    "InvalidPayload",
    "InvalidPolicyFile",
    "JiekunError",
    "NotAuthorized",
    "ObjectionProblem",
    "PolicyNotInForce",
    "SchemaBehind",
    "StoreBusy",
    "StoreClosed",
    "StoreUnavailable",
    "TimerGone",
    "TransitionNotAllowed",
    "UnknownTrigger",
    "VersionConflict",
]
