"""Who may fire a trigger on a case (states/LIFECYCLE.md), and who may read it."""

from __future__ import annotations

from dataclasses import dataclass

from jiekun.policies.errors import NotAuthorized
from jiekun.policies.memo import BoundedCache
from jiekun.policies.routing import BODY_NAMES, CITY
from jiekun.states import ActorRule, Role, Scope
from jiekun.states.lifecycle import ROLE_LABELS


@dataclass(frozen=True)
class Actor:
    """``{"role", "org"}``; a worker carries ``id_number``; the system carries neither."""

    role: str
    org: str | None = None
    id_number: str | None = None

    @property
    def label(self) -> str:
        who = self.org or self.id_number
        return f"{self.role}:{who}" if who else self.role

    def as_json(self) -> dict[str, str]:
        out = {"role": self.role}
        if self.org is not None:
            out["org"] = self.org
        if self.id_number is not None:
            out["id_number"] = self.id_number
        return out


SYSTEM = Actor("system")


@dataclass(frozen=True, init=False)
class Parties:
    """The case's facts that decide who is who: applicant, receiving union, reviewing body."""

    applicant_id: str | None
    grassroots_union: str | None
    reviewing_body: str | None

    def __init__(self, applicant_id: str | None, grassroots_union: str | None,
                 reviewing_body: str | None) -> None:
        # filled at once, not through object.__setattr__ per field: one per command
        self.__dict__.update(applicant_id=applicant_id, grassroots_union=grassroots_union,
                             reviewing_body=reviewing_body)


Reason = tuple[str, str]  # why not, in English and in Chinese


def _scope_reason(rule: ActorRule, actor: Actor, parties: Parties) -> Reason | None:
    """None when ``actor`` is within ``rule``'s scope on this case, else why not."""
    scope = rule.scope
    if scope is Scope.TIMER:
        return None
    if scope is Scope.APPLICANT:
        mine = actor.id_number is not None and actor.id_number.upper() == parties.applicant_id
        return None if mine else ("the worker is not the applicant", "该职工不是本案申请人")
    if scope is Scope.OWN_UNION:
        mine = actor.org is not None and actor.org == parties.grassroots_union
        return None if mine else (
            f"the case belongs to grassroots union {parties.grassroots_union}",
            f"本案由基层工会 {parties.grassroots_union} 受理")
    body = parties.reviewing_body
    if actor.org not in BODY_NAMES:
        return (f"{actor.org!r} is not a federation of trade unions",
                f"“{actor.org}”不是总工会")
    if actor.org == body or (scope is Scope.COUNTY_OR_ABOVE and actor.org == CITY):
        return None
    if body is None:
        return "the case is reviewed by no federation yet", "本案尚未确定审核单位"
    return f"the case is reviewed by {body}", f"本案由{BODY_NAMES.get(body, body)}审核"


def _actor_zh(actor: Actor) -> str | None:
    """A federation by its name (新吴区总工会); others as the error says them."""
    if actor.role == Role.FEDERATION.value and actor.org in BODY_NAMES:
        return BODY_NAMES[actor.org]
    return None


# (the trigger's rules, by identity, the actor's role, the state) → (those rules, the ones
# that let that role act there): asked on every command, with a few hundred answers in all.
# The entry holds the rules, so their id is not reused while it exists.
ROLE_RULES: BoundedCache[tuple[tuple[ActorRule, ...], tuple[ActorRule, ...]]] = BoundedCache(
    1024)


def rules_for_role(rules: tuple[ActorRule, ...], role: str,
                   state: str | None) -> tuple[ActorRule, ...]:
    """The rules of ``rules`` that let ``role`` act in ``state``, in their order."""
    key = (id(rules), role, state)
    found = ROLE_RULES.get(key)
    if found is not None and found[0] is rules:
        return found[1]
    # a Role is a StrEnum: it equals its value (no ``.value``, an enum property per rule)
    chosen = tuple(r for r in rules if r.role == role
                   and (r.in_states is None or state in r.in_states))
    ROLE_RULES.put(key, (rules, chosen))
    return chosen


def authorize(trigger: str, rules: tuple[ActorRule, ...], state: str | None, actor: Actor,
              parties: Parties) -> None:
    """Raise NotAuthorized unless one of ``rules`` lets ``actor`` fire ``trigger`` here."""
    mine = rules_for_role(rules, actor.role, state)
    if not mine:
        roles = sorted({r.role for r in rules if r.in_states is None or state in r.in_states})
        allowed = ", ".join(r.value for r in roles)
        allowed_zh = "、".join(ROLE_LABELS[r].zh for r in roles)
        role_zh = next((v.zh for k, v in ROLE_LABELS.items() if k.value == actor.role),
                       actor.role)
        raise NotAuthorized(trigger, actor.label,
                            f"role {actor.role!r} may not fire it here; allowed: {allowed}",
                            reason_zh=f"此时该操作只能由{allowed_zh}办理，{role_zh}不能办理",
                            actor_name_zh=_actor_zh(actor))
    found = []
    for role_rule in mine:
        reason = _scope_reason(role_rule, actor, parties)
        if reason is None:
            return
        found.append(reason)
    raise NotAuthorized(trigger, actor.label, "; ".join(en for en, _ in found),
                        reason_zh="；".join(zh for _, zh in found),
                        actor_name_zh=_actor_zh(actor))


@dataclass(frozen=True)
class ReadScope:
    """What a reader may read, as a filter on the case's parties: nothing set = every case."""

    reviewing_body: str | None = None
    grassroots_union: str | None = None
    applicant_id: str | None = None

    def admits(self, parties: Parties) -> bool:
        return ((self.reviewing_body is None or self.reviewing_body == parties.reviewing_body)
                and (self.grassroots_union is None
                     or self.grassroots_union == parties.grassroots_union)
                and (self.applicant_id is None or self.applicant_id == parties.applicant_id))


def read_scope(actor: Actor) -> ReadScope | None:
    """Who reads what, the one definition: a federation its cases (wuxi-city all), a union its
    own, a worker their own, an auditor and the system all; None: nothing."""
    role, org = actor.role, actor.org
    if role in (Role.AUDITOR.value, Role.SYSTEM.value) or (
            role == Role.FEDERATION.value and org == CITY):
        return ReadScope()
    if role == Role.FEDERATION.value and org:
        return ReadScope(reviewing_body=org)
    if role == Role.GRASSROOTS_UNION.value and org:
        return ReadScope(grassroots_union=org)
    if role == Role.WORKER.value and actor.id_number:
        return ReadScope(applicant_id=actor.id_number.upper())
    return None


def may_read(actor: Actor, parties: Parties) -> bool:
    """Whether ``actor`` may read the case of these parties (``read_scope``)."""
    scope = read_scope(actor)
    return scope is not None and scope.admits(parties)
