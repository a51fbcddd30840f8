"""``audit verify``: every chain recomputed, every case re-folded and compared with its
projection and its timer row. The first broken record is named (case and sequence number).

What it proves: no stored event was changed, removed, inserted or reordered (each hash covers
the event's stored text and the previous hash; the projection holds the head hash and the
version), the vault still matches the digests the chain committed to, and the projection and
timers are exactly the fold of the events.

Without a key (none configured) the vault stays sealed: chains, projections and timers are
still checked, each case's events folded as redacted ones are; the personal digests, the vault
and the projection's personal figures are not, and the report says so (``checks``,
``sealed_cases``). With a key configured, personal data that does not open is a finding.

A timer armed while its calendar year was unknown has no due time in the fold of its events;
publishing a policy version with that year dates its row (``workflow/policy_versions.py``). The
audit holds the row to the due time the decider's policy (the store's current version, as
``jiekun audit verify`` passes it) gives that timer: no due time while the year is unknown,
its true due time once it is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jiekun.persistence.chain import GENESIS, digest_matches, utc_text
from jiekun.persistence.ports import ReadPort
from jiekun.persistence.queries import EventRecord
from jiekun.policies.application import Application
from jiekun.policies.deadlines import publicity_elapsed_at
from jiekun.policies.errors import PolicyNotInForce
from jiekun.workflow.decider import Decider
from jiekun.workflow.records import CaseState
from jiekun.workflow.row_mapping import case_of, event_of, snapshot_personal
from jiekun.workflow.row_mapping import snapshot as snapshot_text

_CHUNK = 500  # case ids a query reads at a time


@dataclass(frozen=True)
class Problem:
    case_id: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"case {self.case_id}, event {self.seq}: {self.reason}"


@dataclass
class AuditReport:
    """``sealed``: cases whose personal data was not opened because no key is configured:
    their chains, projections and timers were checked, their personal digests and vault not
    (``checks`` says which checks ran on every case)."""

    cases: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    sealed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checks(self) -> dict[str, bool]:
        """Which checks ran on every case (the vault's only where it could be opened)."""
        return {"chains": True, "projections": True, "timers": True,
                "personal_digests": self.sealed == 0, "vault": self.sealed == 0}

    def as_json(self) -> dict[str, Any]:
        first = self.problems[0] if self.problems else None
        return {"ok": self.ok, "cases": self.cases, "events": self.events,
                "checks": self.checks, "sealed_cases": self.sealed,
                "first_problem": None if first is None else {
                    "case": first.case_id, "seq": first.seq, "reason": first.reason},
                "problems": len(self.problems),
                "broken": [{"case": p.case_id, "seq": p.seq, "reason": p.reason}
                           for p in self.problems]}


def _chain_problem(record: EventRecord, expected_seq: int, prev: str,
                   salt: bytes | None = None) -> str | None:
    row = record.stored
    if row.seq != expected_seq:
        return f"sequence {row.seq} where {expected_seq} was expected (missing or moved event)"
    if row.prev_hash != prev:
        return "its previous hash does not match the event before it"
    if row.chain_hash() != record.hash:
        return "its content does not match its hash (the stored event was changed)"
    if row.personal is not None and row.personal_digest is None:
        return "personal data is stored for an event whose chain holds none"
    if row.personal is not None and not digest_matches(row.personal, row.personal_digest, salt):
        # a salted digest without its salt (the case's key gone) cannot be told: not a match
        return "its personal data does not match the digest the chain holds"
    return None


def _strip(case: CaseState) -> CaseState:
    return case.evolve(application=None, applicant_id=None)


def vault_differs(folded: CaseState, vault: tuple[str, str] | None) -> bool:
    """The vault's copy of the current application (what the engine decides and authorizes
    reads from) must be the fold's; none is left only once personal data was destroyed."""
    if vault is None:
        return folded.application is not None
    if folded.application is not None and vault[1] == folded.application.model_dump_json():
        return vault[0] != folded.applicant_id  # the text the engine writes: no parse needed
    try:
        application = Application.model_validate_json(vault[1])
    except ValueError:
        return True
    return vault[0] != folded.applicant_id or application != folded.application


def _verify_case(decider: Decider, case_id: str, records: list[EventRecord],
                 stored: dict[str, Any] | None, timer: dict[str, Any] | None,
                 vault: tuple[str, str] | None, salt: bytes | None = None,
                 sealed: bool = False) -> Problem | None:
    """``sealed``: the case's personal data was not opened (no key): its events fold as
    redacted ones do, and what depends on personal data (the vault, the projection's
    personal figures) is not compared."""
    prev, folded = GENESIS, CaseState(case_id)
    before = folded
    last_at = ""
    for number, record in enumerate(records, start=1):
        reason = _chain_problem(record, number, prev, salt)
        if reason is None and record.stored.at < last_at:  # UTC text sorts as time does
            reason = (f"its time {record.stored.at} is before the event before it "
                      f"({last_at}): the case's events went back in time")
        if reason is not None:
            return Problem(case_id, record.stored.seq, reason)
        last_at = record.stored.at
        try:
            before, folded = folded, decider.apply(folded, event_of(record.stored))
        except Exception as error:  # any failure to fold is itself the finding
            return Problem(case_id, record.stored.seq, f"cannot be folded: {error}")
        prev = record.hash
    last = records[-1].stored.seq
    if stored is None:
        return Problem(case_id, last, "events without a case projection")
    if stored["head_hash"] != prev or stored["version"] != folded.version:
        return Problem(case_id, last, f"the projection is at version {stored['version']}, the "
                                      f"chain ends at {folded.version} (an event was removed, "
                                      "or added past the head)")
    differing = _differing_fields(stored, folded, sealed)
    if differing:
        return Problem(case_id, last, "the projection differs from the fold of the events in "
                                      + ", ".join(differing))
    # A purged case whose personal data the policy kept: the vault holds its last application.
    kept = folded.state == "purged" and vault is not None
    if not sealed and vault_differs(before if kept else folded, vault):
        return Problem(case_id, last, "the stored application differs from the fold of the "
                                      "events")
    return _timer_problem(case_id, last, folded, timer, decider)


_COLUMNS = ("state", "category", "reviewing_body", "grassroots_union")
# the projection's personal figures (sealed in ``cases.personal``): folded from personal data
_PERSONAL_FIGURES = frozenset({"medical_declared"})


def _differing_fields(stored: dict[str, Any], folded: CaseState,
                      sealed: bool = False) -> list[str]:
    """The fields in which the stored projection (its indexed columns, then its snapshot and
    personal figures) differs from the fold: what an auditor must look at."""
    fields = [f"column {k}" for k in _COLUMNS if stored[k] != getattr(folded, k)]
    if stored["snapshot"] == snapshot_text(folded) and (
            sealed or stored.get("personal") == snapshot_personal(folded)):
        return fields  # the texts the engine writes for this fold: nothing else to compare
    snapshot = vars(_strip(case_of(stored["snapshot"], None, stored.get("personal"))))
    fold = vars(_strip(folded))
    fields += [name for name in fold if snapshot.get(name) != fold[name]
               and not (sealed and name in _PERSONAL_FIGURES)]
    return fields


def _timer_problem(case_id: str, seq: int, folded: CaseState,
                   timer: dict[str, Any] | None, decider: Decider) -> Problem | None:
    if not folded.timers:
        if timer is not None and timer["status"] in ("pending", "blocked"):
            return Problem(case_id, seq, "a timer is armed that the fold does not have")
        return None
    armed = folded.timers[0]
    due = None if armed.due is None else utc_text(armed.due)
    if due is None:  # armed while its calendar year was unknown: dated under the current policy
        days = decider.policy.durations.working_days(armed.kind.value)
        try:
            due = utc_text(publicity_elapsed_at(armed.started, days, decider.calendar))
        except PolicyNotInForce:
            due = None
    if timer is None or timer["kind"] != armed.kind.value or (
            timer["status"] == "pending" and timer["due"] != due):
        return Problem(case_id, seq, "the timer row differs from the fold of the events")
    return None


def verify(reads: ReadPort, decider: Decider,
           only: Sequence[str] | None = None) -> AuditReport:
    """Verify every case, or only the cases named: a chunk of case ids at a time, reading
    for each chunk its events, projections, timer rows and vault rows (and nothing else)."""
    report = AuditReport()
    ids = sorted(only) if only is not None else reads.all_case_ids()
    for start in range(0, len(ids), _CHUNK):
        chunk = reads.case_chunk(ids[start:start + _CHUNK])
        for case_id in ids[start:start + _CHUNK]:
            records = chunk.events.get(case_id)
            if records is None:
                if case_id in chunk.projections:
                    report.problems.append(Problem(case_id, 0,
                                                   "a case projection without events"))
                continue
            report.cases += 1
            report.events += len(records)
            why = chunk.sealed.get(case_id)
            problem = _verify_case(decider, case_id, records, chunk.projections.get(case_id),
                                   chunk.timers.get(case_id), chunk.vaults.get(case_id),
                                   chunk.salts.get(case_id), sealed=why is not None)
            if why is not None and chunk.keys:
                # a key is configured, and the data does not open: changed, moved or keyless
                unopened = Problem(case_id, why[0], f"its personal data does not open: {why[1]}")
                if problem is None or problem.seq > unopened.seq:
                    problem = unopened
            elif why is not None:
                report.sealed += 1
            if problem is not None:
                report.problems.append(problem)
    return report
