"""jiekun's engine: what an embedding system imports.

    from jiekun.workflow import Actor, Engine, JiekunError

``Engine.open(url, upgrade=True)`` opens (and creates or migrates) a store; commands return
``Event``s, reads return ``CaseState``s; every refusal is a ``JiekunError`` subclass that
changed nothing, with a stable ``code``, ``message_zh``, ``message_en`` and ``as_json()``.
The rest of the package (the lifecycle machine, the decider, replay, the command line) is
reachable through its modules but is not this surface.
"""

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
from jiekun.workflow.engine import Engine
from jiekun.workflow.records import CaseState, Command, Event

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
