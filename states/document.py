"""The lifecycle as Markdown, generated from the definition (``make docs`` writes
``states/LIFECYCLE.md``; a test keeps the committed file current)."""

from __future__ import annotations

from jiekun.states.lifecycle import build_lifecycle
from jiekun.states.model import Lifecycle, PayloadField, Route, TriggerDef

_SCOPES = {"applicant": "the applicant", "own_union": "its grassroots union",
           "reviewing_body": "the reviewing body",
           "county_or_above": "the reviewing body or wuxi-city", "timer": "a due timer"}


def _route(route: Route) -> str:
    source = f"`{route.source}`" if route.source else "(none)"
    dest = "internal" if route.dest is None else f"`{route.dest}`"
    branch = f" when {route.branch.value.replace('_', ' ')}" if route.branch else ""
    return f"{source} → {dest}{branch}"


def _payload(fields: tuple[PayloadField, ...]) -> str:
    if not fields:
        return "—"
    return ", ".join(f"`{f.name}`{'' if f.required else '?'}{' (personal)' if f.personal else ''}"
                     for f in fields)


def _actors(trigger: TriggerDef) -> str:
    parts = []
    for rule in trigger.actors:
        where = f" in {', '.join(sorted(rule.in_states))}" if rule.in_states else ""
        parts.append(f"{rule.role.value} ({_SCOPES[rule.scope.value]}){where}")
    return "; ".join(parts)


def _guards(trigger: TriggerDef) -> str:
    guards = dict.fromkeys(g for r in trigger.routes for g in r.guards)
    return ", ".join(guards) or "—"


# The time rule the engine, replay and audit share (workflow/timing.py implements it).
TIME_RULE = [
    "### The time rule",
    "",
    "- A case's events never go back in time: a command dated before the case's last event is",
    "  refused with E-ORDER.",
    "- Timer events are dated at their due time, or at the case's last event time if that is",
    "  later (the true due time is then kept in the event's derivation, and the archive number",
    "  and the next re-check date follow the due time); the same under a simulated clock",
    "  (`scheduler catch-up`) and the real one (`scheduler run`).",
    "- Before the engine decides a command at time t on a case, it first fires that case's",
    "  timers due at or before t, in due order, in the same transaction (a publicity blocked by",
    "  an open objection excepted), so a history never depends on when a scheduler last ran; a",
    "  refused command keeps those firings. Replay holds a history to the same rule: a command",
    "  dated at or after an unblocked timer's due time, with the timer's event missing before",
    "  it, is E-ORDER.",
    "- A timer whose due time needs a calendar year the policy does not know yet is *waiting*;",
    "  a command on that case dated after its earliest possible due time (start + its length in",
    "  calendar days) is refused with E-POLICY until the year is added.",
    "- A publicity timer that found an objection open waits (blocked) and is re-armed, due at",
    "  once, when the last open objection is dismissed. A timer whose state has been left is",
    "  void. All date logic is in Asia/Shanghai.",
]


def markdown(lifecycle: Lifecycle) -> str:
    lines = ["# The case lifecycle", "",
             "Generated from `states/lifecycle.py` by `make docs`: do not edit by hand.", "",
             "## States", "", "| state | 中文 | English | phase |", "| --- | --- | --- | --- |"]
    lines += [f"| `{s.name}` | {s.label.zh} | {s.label.en} | {s.phase.value}"
              f"{' (initial)' if s.initial else ''}{' (final)' if s.final else ''} |"
              for s in lifecycle.states]
    lines += ["", "## Triggers", "",
              "| trigger | 中文 | routes | actors | guards (in order) | payload |",
              "| --- | --- | --- | --- | --- | --- |"]
    for t in lifecycle.triggers:
        routes = "<br>".join(_route(r) for r in t.routes)
        lines.append(f"| `{t.name}` | {t.label.zh} | {routes} | {_actors(t)} | {_guards(t)} | "
                     f"{_payload(t.payload)} |")
    lines += ["", "## Timers", "", "| timer | armed in | length | fires | due when |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {tm.label.zh} {tm.kind.value} | {', '.join(f'`{s}`' for s in sorted(tm.states))}"
              f" | `{tm.parameter}` ({tm.unit.value}) | `{tm.fires}` | {tm.guard} |"
              for tm in lifecycle.timers]
    lines += ["", *TIME_RULE]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(build_lifecycle()), end="")
