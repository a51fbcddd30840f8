"""The case lifecycle as data (states/LIFECYCLE.md): states, triggers, actors, guards, timers."""

from jiekun.states.lifecycle import build_lifecycle
from jiekun.states.model import (
    ActorRule,
    Branch,
    Effect,
    FieldType,
    Label,
    LengthUnit,
    Lifecycle,
    PayloadField,
    Phase,
    Role,
    Route,
    Scope,
    StateDef,
    TimerDef,
    TimerKind,
    TriggerDef,
)
from jiekun.states.validation import LifecycleDefinitionError

__all__ = [
    "ActorRule", "Branch", "Effect", "FieldType", "Label", "LengthUnit", "Lifecycle",
    "LifecycleDefinitionError", "PayloadField", "Phase", "Role", "Route", "Scope", "StateDef",
    "TimerDef", "TimerKind", "TriggerDef", "build_lifecycle",
]
