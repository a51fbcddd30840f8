"""Policy versions in the store (issue 15): reading them, publishing one, and the deciders an
engine keeps per version.

Every command is decided under the store's current version: the engine learns its number in
the statement that takes the write lock (``WritePort.lock_for_write``) and builds a decider
for a version the first time it meets it, so a version published while a process runs is used
by its next command, with no restart and no extra round trip.

Publishing a version (``publish``) validates its text, refuses one that says what the current
version says ("no change"), and in the same transaction dates every timer that waited for a
calendar year the new version knows (the store's timer row; the fold's timer keeps ``due``
None and computes it from the calendar, as ``audit verify`` does under the current version).
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from jiekun.persistence.chain import from_utc_text, utc_text
from jiekun.persistence.policy_rows import PolicyVersionRow
from jiekun.persistence.ports import ReadPort, StorePort, WritePort
from jiekun.policies.calendar import WorkingCalendar
from jiekun.policies.deadlines import SHANGHAI, publicity_elapsed_at, require_aware
from jiekun.policies.errors import InvalidArgument, PolicyNotInForce
from jiekun.policies.policy_file import Policy, parse_policy
from jiekun.policies.policy_hash import policy_text_hash
from jiekun.states import TimerKind
from jiekun.workflow.decider import Decider
from jiekun.workflow.row_mapping import case_of

__all__ = ["PolicyBook", "PolicyVersion", "Publication", "WaitingTimer", "current",
           "policy_text_hash", "publish", "version", "version_by_hash", "versions",
           "waiting_timers"]


def label(number: int) -> str:
    """How a store's version is named where a file name would be (messages, ``Policy.file``)."""
    return f"store policy version {number}"


@dataclass(frozen=True)
class PolicyVersion:
    """A version as the store holds it. ``toml`` (and so ``policy``) is None only for a version
    migration 0005 registered from old events whose text the store never held; ``legacy_hash``
    is the hash events recorded for the same text before that migration."""

    version: int
    id: str
    hash: str
    toml: str | None
    published_by: str
    published_at: datetime
    note: str
    legacy_hash: str | None = None

    @classmethod
    def of(cls, row: PolicyVersionRow) -> PolicyVersion:
        return cls(row.version, row.policy_id, row.hash, row.toml, row.published_by,
                   from_utc_text(row.published_at).astimezone(SHANGHAI), row.note,
                   row.legacy_hash)

    @cached_property
    def policy(self) -> Policy | None:
        """The policy its text says (None: no text); its refusals name this version."""
        if self.toml is None:
            return None
        return parse_policy(self.toml, label(self.version), store_version=self.version)

    def names(self, hash_: str | None) -> bool:
        """Whether an event that recorded ``hash_`` was decided under this version."""
        return hash_ is not None and hash_ in (self.hash, self.legacy_hash)

    def as_json(self, with_text: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "id": self.id, "hash": self.hash,
                               "legacy_hash": self.legacy_hash,
                               "published_by": self.published_by,
                               "published_at": self.published_at.isoformat(),
                               "note": self.note, "has_text": self.toml is not None}
        if with_text:
            out["toml"] = self.toml
        return out


def versions(store: StorePort) -> list[PolicyVersion]:
    """Every version published to the store, oldest first."""
    with store.reads() as reads:
        return [PolicyVersion.of(r) for r in reads.policy_versions()]


def version(store: StorePort, number: int) -> PolicyVersion | None:
    """Version ``number`` of the store (None: there is none)."""
    with store.reads() as reads:
        row = reads.policy_version(number)
    return None if row is None else PolicyVersion.of(row)


def version_by_hash(store: StorePort, hash_: str) -> PolicyVersion | None:
    """The version an event's ``policy_hash`` names (its hash, or the alias it had before
    migration 0005)."""
    with store.reads() as reads:
        row = reads.policy_by_hash(hash_)
    return None if row is None else PolicyVersion.of(row)


def current(store: StorePort) -> PolicyVersion:
    """The store's current version: new commands are decided under it."""
    with store.reads() as reads:
        return _current_in(reads)


def _current_in(reads: ReadPort) -> PolicyVersion:
    number = reads.current_policy_number()
    row = None if number is None else reads.policy_version(number)
    if row is None:
        raise InvalidArgument("store", "the store holds no policy version: run `jiekun db "
                                       "upgrade`",
                              "数据库中没有政策版本：请先运行 jiekun db upgrade")
    return PolicyVersion.of(row)


class PolicyBook:
    """An engine's deciders, one per policy version it has met, built once each and shared by
    its threads. ``preferred``: a decider to use for the version whose hash is its policy's
    (a test's own calendar or machine)."""

    def __init__(self, preferred: Decider | None = None) -> None:
        self._preferred = preferred
        self._machine = preferred.machine if preferred is not None else None
        self._deciders: dict[int, Decider] = {}
        self._lock = threading.Lock()
        self.latest: Decider | None = None
        self.latest_number: int | None = None

    def decider(self, number: int | None, port: ReadPort | WritePort) -> Decider:
        """The decider of version ``number``, read through ``port`` (the transaction the
        number was read in) the first time."""
        if number is None:
            raise InvalidArgument("store", "the store holds no policy version: run `jiekun db "
                                           "upgrade`",
                                  "数据库中没有政策版本：请先运行 jiekun db upgrade")
        found = self._deciders.get(number)
        if found is None:
            row = port.policy_version(number)
            if row is None or row.toml is None:
                raise InvalidArgument("store", f"policy version {number} has no text",
                                      f"政策版本 {number} 没有文本")
            found = self._build(PolicyVersion.of(row))
            with self._lock:
                found = self._deciders.setdefault(number, found)
        if self.latest_number is None or number >= self.latest_number:
            self.latest, self.latest_number = found, number
        return found

    def _build(self, held: PolicyVersion) -> Decider:
        policy = held.policy
        assert policy is not None
        preferred = self._preferred
        if preferred is not None and held.names(preferred.policy.content_hash):
            return preferred
        decider = Decider(policy, self._machine)
        self._machine = decider.machine  # built once: every version shares the lifecycle
        return decider


@dataclass(frozen=True)
class WaitingTimer:
    """A pending publicity whose due time needs a calendar year the current version does not
    know: listed as ``waiting``, never fired, until a version with that year is published."""

    case_id: str
    kind: str
    armed_seq: int
    started: datetime
    earliest: datetime  # start + its length in calendar days: commands after it are E-POLICY
    year: int

    @property
    def reason(self) -> str:
        return f"calendar year {self.year} unknown"

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case_id, "timer": self.kind, "armed_seq": self.armed_seq,
                "started": self.started.isoformat(), "earliest": self.earliest.isoformat(),
                "status": "waiting", "waiting": self.reason}


def _undated(port: ReadPort | WritePort, page: int = 10_000) -> Iterator[tuple[str, str, int]]:
    yield from port.undated_timers(page)


def _due_of(port: ReadPort | WritePort, case_id: str, kind: str, calendar: WorkingCalendar,
            policy: Policy) -> tuple[datetime | None, datetime, int | None]:
    """(due time or None, start, the unknown year) of a case's undated publicity."""
    loaded = port.load(case_id)
    timer = None if loaded is None else case_of(loaded.row.snapshot, None).timer(TimerKind(kind))
    if timer is None:
        raise LookupError(case_id)
    days = policy.durations.working_days(kind)
    try:
        return publicity_elapsed_at(timer.started, days, calendar), timer.started, None
    except PolicyNotInForce as unknown:
        return None, timer.started, unknown.on.year


def waiting_timers(reads: ReadPort, decider: Decider) -> list[WaitingTimer]:
    """The pending timers that wait for a calendar year ``decider``'s policy does not know."""
    waiting: list[WaitingTimer] = []
    for case_id, kind, armed_seq in reads.undated_timers(10_000):
        try:
            due, started, year = _due_of(reads, case_id, kind, decider.calendar, decider.policy)
        except LookupError:
            continue
        if due is None and year is not None:
            days = decider.policy.durations.working_days(kind)
            waiting.append(WaitingTimer(case_id, kind, armed_seq, started,
                                        started + timedelta(days=days), year))
    return waiting


@dataclass
class Publication:
    """What ``publish`` did: the new version, the one it replaced, and the waiting timers it
    dated (case, kind, due time) or that still wait."""

    version: PolicyVersion
    previous: PolicyVersion | None
    dated: list[tuple[str, str, datetime]] = field(default_factory=list)
    still_waiting: list[str] = field(default_factory=list)


def publish(store: StorePort, text: str, *, by: str, at: datetime, note: str = "",
            source: str = "policy") -> Publication:
    """Publish ``text`` as the store's next policy version and make it current; in the same
    transaction, date every timer waiting for a calendar year it adds. InvalidPolicyFile when
    the text is not a valid policy (naming ``source`` and each field), InvalidArgument "no
    change" when it says what the current version says; either way nothing changes."""
    require_aware(at, "at")
    if not by.strip():
        raise InvalidArgument("by", "say who publishes the version", "请注明发布人")
    checked = parse_policy(text, source)  # every problem named before anything is written
    hash_ = policy_text_hash(text)
    with store.unit_of_work() as uow:
        number = uow.lock_for_write()
        before = None if number is None else uow.policy_version(number)
        previous = None if before is None else PolicyVersion.of(before)
        if previous is not None and previous.names(hash_):
            raise InvalidArgument("policy", f"no change: it says what version "
                                            f"{previous.version} (current) says",
                                  f"没有变化：与现行政策版本 {previous.version} 内容相同")
        new = uow.last_policy_number() + 1
        row = PolicyVersionRow(new, checked.id, hash_, None, text, by.strip(), utc_text(at),
                               note.strip())
        uow.insert_policy_version(row)
        held = PolicyVersion.of(row)
        policy = held.policy
        assert policy is not None
        calendar = WorkingCalendar.for_policy(policy)
        done = Publication(held, previous)
        # only a publicity (working days) is ever armed without a due time
        for case_id, kind, armed_seq in list(_undated(uow)):
            try:
                due, _started, _year = _due_of(uow, case_id, kind, calendar, policy)
            except LookupError:
                continue
            if due is None:
                done.still_waiting.append(case_id)
            elif uow.set_timer_due(case_id, armed_seq, utc_text(due)):
                done.dated.append((case_id, kind, due))
    return done


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _walk(path: str, old: Any, new: Any, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            here = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"- {here} = {_shown(old[key])}")
            elif key not in old:
                out.append(f"+ {here} = {_shown(new[key])}")
            else:
                _walk(here, old[key], new[key], out)
    elif (isinstance(old, list) and isinstance(new, list)
          and all(isinstance(v, dict) for v in (*old, *new))):
        for i in range(max(len(old), len(new))):
            here = f"{path}[{i}]"
            if i >= len(new):
                out.append(f"- {here} = {_shown(old[i])}")
            elif i >= len(old):
                out.append(f"+ {here} = {_shown(new[i])}")
            else:
                _walk(here, old[i], new[i], out)
    elif old != new:
        out.append(f"~ {path}: {_shown(old)} → {_shown(new)}")


def document_changes(old_text: str | None, new_text: str) -> list[str]:
    """What ``new_text`` says differently from ``old_text``, one line per value: ``+`` added,
    ``-`` removed, ``~`` changed (``old → new``); comments and layout are not values."""
    old = {} if old_text is None else tomllib.loads(old_text)
    out: list[str] = []
    _walk("", old, tomllib.loads(new_text), out)
    return out
