"""The engine's reads: cases, lists, histories, a case as of a moment, the commit-order cursor and
the timers waiting to fire, the refused commands. Who may read what is
``authorization.read_scope``, nothing else.
Each read is its own read transaction through the store's read port."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jiekun.persistence.chain import from_utc_text, utc_text
from jiekun.persistence.ports import ReadPort, StorePort
from jiekun.persistence.queries import CaseFilter
from jiekun.policies.authorization import Actor, Parties, ReadScope, read_scope
from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import CaseNotFound, NotAuthorized
from jiekun.workflow.attempts import attempt_actor
from jiekun.workflow.decider import Decider
from jiekun.workflow.policy_versions import PolicyBook, waiting_timers
from jiekun.workflow.records import CaseState, Event
from jiekun.workflow.row_mapping import case_of, event_of


class CaseReader:
    """Reads of one store: folds under ``decider``'s lifecycle; what needs a policy (the
    timers waiting for a calendar year) under the store's current version, from ``book``."""

    def __init__(self, store: StorePort, decider: Decider,
                 book: PolicyBook | None = None) -> None:
        self.store = store
        self.decider = decider
        self.book = book or PolicyBook(decider)

    def stored_case(self, case_id: str) -> CaseState | None:
        """The case as stored, without a reader's check (for the engine's own tools)."""
        with self.store.reads() as reads:
            found = reads.load(case_id)
        return None if found is None else case_of(found.row.snapshot, found.application,
                                                  found.row.personal)

    def readable(self, case_id: str, reader: Actor) -> CaseState:
        """The case now; CaseNotFound, or NotAuthorized outside the reader's remit."""
        case = self.stored_case(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        scope = read_scope(reader)
        if scope is None or not scope.admits(case.parties):
            raise NotAuthorized(f"case {case_id}", reader.label, "outside its remit",
                                verb="read")
        return case

    def event_for(self, case_id: str, seq: int, reader: Actor) -> Event | None:
        """One event, to a reader allowed to read its case (NotAuthorized otherwise)."""
        self.readable(case_id, reader)
        with self.store.reads() as reads:
            record = reads.event_at(case_id, seq)
        return None if record is None else event_of(record.stored)

    def history(self, case_id: str, reader: Actor, until: datetime | None = None
                ) -> list[Event]:
        """The case's events in order; with ``until``, those before the first one dated
        after it (a prefix: a store whose times went back, which ``audit verify`` reports,
        still folds)."""
        self.readable(case_id, reader)
        with self.store.reads() as reads:
            records = reads.case_events(case_id)
        events = [event_of(r.stored) for r in records]
        if until is None:
            return events
        later = next((i for i, e in enumerate(events) if e.at > until), len(events))
        return events[:later]

    def state_as_of(self, case_id: str, when: datetime, reader: Actor) -> CaseState | None:
        case: CaseState | None = None
        for event in self.history(case_id, reader, until=when):
            case = self.decider.apply(case, event)
        return case

    def cases(self, reader: Actor, *, state: str | None = None,
              reviewing_body: str | None = None, recheck_due_before: datetime | None = None,
              limit: int | None = None, after: str | None = None) -> list[dict[str, object]]:
        scope = read_scope(reader)
        if scope is None:
            return []
        if reviewing_body is not None and scope.reviewing_body not in (None, reviewing_body):
            return []  # a federation asking for another body's cases
        where = CaseFilter(
            state=state, reviewing_body=scope.reviewing_body or reviewing_body,
            grassroots_union=scope.grassroots_union, applicant_id=scope.applicant_id,
            recheck_due_before=None if recheck_due_before is None
            else utc_text(recheck_due_before))
        with self.store.reads() as reads:
            return reads.case_rows(where, limit, after)

    def events_since(self, position: int, limit: int | None = None
                     ) -> list[tuple[int, Event]]:
        with self.store.reads() as reads:
            records = reads.events_since(position, limit)
        return [(r.position, event_of(r.stored)) for r in records]

    def pending_timers(self, reader: Actor, until: datetime, *, limit: int = 1000,
                       after: tuple[datetime, str] | None = None,
                       blocked: bool = False, waiting: bool = False) -> list[dict[str, Any]]:
        """Pending timers due by ``until``, in due order, within the reader's remit;
        ``after`` = (due, case) of the last one seen, for the next page. ``blocked``: then,
        up to ``limit`` more, the due timers that wait for an objection to be settled.
        ``waiting``: then, up to ``limit`` more, the timers whose due time needs a calendar
        year the store's current policy version does not know, and whose earliest possible
        due time is by ``until`` (``due`` None, ``status`` "waiting", ``waiting`` "calendar
        year 2027 unknown", ``earliest``)."""
        scope = read_scope(reader)
        if scope is None:
            return []
        start = None if after is None else (utc_text(after[0]), after[1])
        fires = {t.kind.value: t for t in self.decider.lifecycle.timers}
        listed: list[dict[str, Any]] = []
        with self.store.reads() as reads:
            remit = _Remit(reads, scope)
            for status in ("pending", "blocked") if blocked else ("pending",):
                found: list[dict[str, Any]] = []
                page_start = start if status == "pending" else None
                while len(found) < limit:
                    page = reads.due_timers(until, limit, page_start, status)
                    if not page:
                        break
                    page_start = (utc_text(page[-1].due), page[-1].case_id)
                    found += [{"case": t.case_id, "timer": t.kind, "due": t.due,
                               "status": t.status, "fires": fires[t.kind].fires,
                               "rule": fires[t.kind].guard}
                              for t in page if remit.admits(t.case_id)]
                listed += found[:limit]
            if waiting and after is None:  # the first page only: they have no due time
                decider = self.book.decider(reads.current_policy_number(), reads)
                late = [w for w in waiting_timers(reads, decider)
                        if w.earliest <= until and remit.admits(w.case_id)]
                listed += [{"case": w.case_id, "timer": w.kind, "due": None,
                            "status": "waiting", "waiting": w.reason,
                            "earliest": w.earliest, "fires": fires[w.kind].fires,
                            "rule": fires[w.kind].guard} for w in late[:limit]]
        return listed

    def attempts(self, reader: Actor, *, case_id: str | None = None,
                 actor: Actor | None = None, since: datetime | None = None,
                 limit: int = 1000, page: int = 500) -> list[dict[str, Any]]:
        """Refused commands (``workflow/attempts.py``), oldest first, that ``reader`` may
        read: all for whoever reads every case; else its own role and organisation's, and
        those on a case it may read. Times in Asia/Shanghai."""
        scope = read_scope(reader)
        me = attempt_actor(reader)
        role, org = (None, None) if actor is None else attempt_actor(actor)
        when = None if since is None else utc_text(since)
        out: list[dict[str, Any]] = []
        after: int | None = None
        with self.store.reads() as reads:
            remit = None if scope is None else _Remit(reads, scope)
            while len(out) < limit:
                rows = reads.attempts(case_id, org, when, page, actor_role=role, after=after)
                for row in rows:
                    own = me[1] is not None and (row["actor_role"], row["actor_org"]) == me
                    if own or (remit is not None and remit.admits(str(row["case_id"]))):
                        out.append({**row, **{k: from_utc_text(str(row[k])).astimezone(SHANGHAI)
                                              for k in ("at", "recorded_at")}})
                if len(rows) < page:
                    break
                after = int(str(rows[-1]["position"]))
        return out[:limit]


class _Remit:
    """Which cases a reader's scope admits, looked up once per case in the read transaction
    already open (not a transaction of its own per row)."""

    def __init__(self, reads: ReadPort, scope: ReadScope) -> None:
        self._reads, self._scope = reads, scope
        self._seen: dict[str, bool] = {}

    def admits(self, case_id: str) -> bool:
        if self._scope == ReadScope():
            return True
        known = self._seen.get(case_id)
        if known is None:
            loaded = self._reads.load(case_id)
            known = self._seen[case_id] = loaded is not None and self._scope.admits(Parties(
                loaded.applicant_id, loaded.row.grassroots_union, loaded.row.reviewing_body))
        return known
