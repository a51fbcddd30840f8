"""The case lifecycle as data (LIFECYCLE.md): states, triggers, actors, guards, timers."""

from states.lifecycle import build_lifecycle
from states.model import (
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
from states.validation import LifecycleDefinitionError

__all__ = [
    "ActorRule", "Branch", "Effect", "FieldType", "Label", "LengthUnit", "Lifecycle",
    "LifecycleDefinitionError", "PayloadField", "Phase", "Role", "Route", "Scope", "StateDef",
    "TimerDef", "TimerKind", "TriggerDef", "build_lifecycle",
]
