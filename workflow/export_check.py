"""``jiekun audit verify-export``: an export (workflow/proven_export.py) checked on its own,
without the store — every event's hash recomputed from the line byte for byte, every case's
chain link, every inclusion proof against the export's checkpoint, the checkpoint's signature
when a verifier key is given, and with ``--against`` the consistency proof from a checkpoint
the auditor kept.

A file that agrees only with itself proves nothing: whoever forged its events could have
rebuilt its hashes, proofs and checkpoint too. It proves the store's log only when its
checkpoint is tied to one the auditor holds (``--against``) or signed by a key the auditor
trusts (``--key``); the report says which of these held (``proven``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jiekun.persistence import merkle
from jiekun.persistence.chain import (
    GENESIS,
    SALTED,
    StoredEvent,
    canonical,
    digest,
    personal_digest,
    split_personal,
    utc_text,
)
from jiekun.policies.errors import InvalidInput
from jiekun.states import Lifecycle
from jiekun.workflow.checkpoint import Checkpoint
from jiekun.workflow.signing import Verifier

_PROOF_FIELDS = ("seq", "derived", "hash", "prev_hash", "position", "proof")


@dataclass(frozen=True)
class ExportFinding:
    """One thing the export fails, and where (its line; the case and sequence when known)."""

    line: int | None
    case: str | None
    seq: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "the file"
        if self.case is not None:
            where += f", case {self.case}" + (f" #{self.seq}" if self.seq is not None else "")
        return f"{where}: {self.kind}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "case": self.case, "seq": self.seq, "kind": self.kind,
                "message": self.message}


@dataclass
class ExportCheck:
    """What ``check_export`` found. ``signature``: ``verified``, ``invalid``, ``unsigned`` or
    ``not checked`` (no key given); ``against``: ``verified``, ``failed`` or None (none
    given)."""

    checkpoint: Checkpoint | None = None
    events: int = 0
    cases: set[str] = field(default_factory=set)
    findings: list[ExportFinding] = field(default_factory=list)
    signature: str = "not checked"
    against: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and self.checkpoint is not None

    @property
    def proven(self) -> bool:
        """Tied to something the auditor holds: their checkpoint, or their trusted key."""
        return self.ok and (self.against == "verified" or self.signature == "verified")

    def as_json(self) -> dict[str, Any]:
        mark = self.checkpoint
        return {"ok": self.ok, "proven": self.proven, "events": self.events,
                "cases": len(self.cases),
                "checkpoint": None if mark is None else mark.as_json(),
                "signature": self.signature, "against": self.against,
                "findings": [f.as_json() for f in self.findings]}


def _stored(lifecycle: Lifecycle, obj: dict[str, Any]) -> tuple[StoredEvent, str | None]:
    """The event as the store wrote it, re-derived from the line; and the digest of its
    personal part (None when it has none or it was destroyed: then the line's is taken)."""
    data = dict(obj.get("data") or {})
    redacted = data.pop("redacted", None) is True
    actor, public, personal = split_personal(lifecycle, obj["event"], obj["actor"], data)
    recorded = obj.get("personal_digest")
    computed = None if personal is None else digest(personal)
    if personal is not None and isinstance(recorded, str) and recorded.startswith(SALTED):
        # salted with the case's salt (issue 19), which an export carries (``personal_salt``,
        # hex) while the case's key exists; without it the personal data cannot be checked
        salt = obj.get("personal_salt")
        computed = (personal_digest(personal, bytes.fromhex(salt)) if isinstance(salt, str)
                    else None)
    chained = recorded if redacted else computed
    policy_id = policy_hash = None
    if obj.get("policy") is not None:
        policy_id, _, policy_hash = str(obj["policy"]).partition("@")
    moment = datetime.fromisoformat(obj["at"])
    stored = StoredEvent(obj["case"], obj["seq"], utc_text(moment), obj["event"],
                         canonical(actor), canonical(public), chained, policy_id,
                         policy_hash or None, obj["derived"], obj["prev_hash"])
    return stored, computed


class _Checker:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.report = ExportCheck()
        self.heads: dict[str, tuple[int, str]] = {}  # case -> (last seq, its hash)
        self.positions: dict[int, int] = {}  # leaf index -> line
        self.consistency: dict[str, Any] | None = None

    def problem(self, line: int | None, kind: str, message: str, case: str | None = None,
                seq: int | None = None) -> None:
        self.report.findings.append(ExportFinding(line, case, seq, kind, message))

    def meta(self, number: int, obj: dict[str, Any]) -> None:
        if "checkpoint" not in obj:
            return  # policy versions are checked by replay, which uses them
        if self.report.checkpoint is not None or self.report.events:
            self.problem(number, "checkpoint", "an export has one checkpoint, before its events")
            return
        body = obj["checkpoint"]
        try:
            self.report.checkpoint = Checkpoint.from_text(str(body.get("note", "")))
        except InvalidInput as error:
            self.problem(number, "checkpoint", str(error))
        consistency = body.get("consistency")
        self.consistency = consistency if isinstance(consistency, dict) else None

    def event(self, number: int, obj: dict[str, Any]) -> None:
        case, seq = obj.get("case"), obj.get("seq")
        self.report.events += 1
        missing = [f for f in _PROOF_FIELDS if f not in obj]
        if missing or self.report.checkpoint is None:
            self.problem(number, "not proving", "the line carries no "
                         + (", ".join(missing) if missing else "checkpoint before it")
                         + ": export it again with this version of jiekun", case, seq)
            return
        self.report.cases.add(str(case))
        try:
            stored, computed = _stored(self.lifecycle, obj)
        except (KeyError, TypeError, ValueError) as error:
            self.problem(number, "malformed", f"cannot re-derive the stored event: {error!r}",
                         case, seq)
            return
        if computed != obj.get("personal_digest") and not (obj.get("data") or {}).get("redacted"):
            self.problem(number, "personal", "the personal data does not give its recorded "
                         "digest" + ("" if "personal_salt" in obj or computed is not None
                                     else " (a salted digest, and the line carries no salt)"),
                         case, seq)
        if stored.chain_hash() != obj["hash"]:
            self.problem(number, "hash", "the line's content does not give its hash: it was "
                         "changed after the store wrote it", case, seq)
        self._link(number, stored, obj["hash"])
        self._included(number, obj, stored)

    def _link(self, number: int, stored: StoredEvent, hashed: str) -> None:
        case, seq = stored.case_id, stored.seq
        last_seq, last_hash = self.heads.get(case, (0, GENESIS))
        if seq != last_seq + 1:
            self.problem(number, "chain", f"sequence {seq} follows {last_seq}: events are "
                         "missing or out of order", case, seq)
        elif stored.prev_hash != last_hash:
            self.problem(number, "chain", "its previous hash is not the hash of the case's "
                         "event before it", case, seq)
        self.heads[case] = (seq, hashed)

    def _included(self, number: int, obj: dict[str, Any], stored: StoredEvent) -> None:
        mark = self.report.checkpoint
        assert mark is not None
        index, proof = obj["position"], obj["proof"]
        try:
            path = [bytes.fromhex(p) for p in proof]
        except (TypeError, ValueError):
            path = []
        earlier = self.positions.setdefault(index, number)
        if earlier != number:
            self.problem(number, "position", f"leaf {index} is also line {earlier}'s",
                         stored.case_id, stored.seq)
        leaf = merkle.leaf_hash(merkle.event_leaf(obj["hash"]))
        if not (isinstance(index, int) and merkle.verify_inclusion(
                index, mark.size, leaf, path, bytes.fromhex(mark.root))):
            self.problem(number, "proof", f"not leaf {index} of the checkpoint's log (its "
                         "inclusion proof fails)", stored.case_id, stored.seq)

    def tie(self, verifier: Verifier | None, held: Checkpoint | None) -> None:
        mark = self.report.checkpoint
        if mark is None:
            self.problem(None, "checkpoint", "the file has no checkpoint line: it is not an "
                         "export that proves itself")
            return
        if verifier is not None:
            self.report.signature = ("unsigned" if not mark.signatures else "verified"
                                     if verifier.signed(mark.note_text(), mark.signatures)
                                     else "invalid")
            if self.report.signature != "verified":
                self.problem(None, "signature", f"the checkpoint is not signed by "
                             f"{verifier.name} ({self.report.signature})")
        if held is not None:
            self.report.against = "verified" if self._consistent(held) else "failed"

    def _consistent(self, held: Checkpoint) -> bool:
        mark = self.report.checkpoint
        assert mark is not None
        proof = self.consistency
        if held.origin != mark.origin:
            self.problem(None, "against", f"the checkpoint held is of {held.origin}, the "
                         f"export of {mark.origin}")
            return False
        if proof is None or proof.get("from_size") != held.size or proof.get(
                "from_root") != held.root:
            self.problem(None, "against", "the export carries no consistency proof from the "
                         f"checkpoint held (size {held.size}): export it with --against it")
            return False
        try:
            path = [bytes.fromhex(p) for p in proof.get("proof", [])]
        except (TypeError, ValueError):
            path = []
        if not merkle.verify_consistency(held.size, mark.size, bytes.fromhex(held.root),
                                         bytes.fromhex(mark.root), path):
            self.problem(None, "against", f"the log of the checkpoint held ({held.size} "
                         "events) is not a prefix of the export's: the store changed what it "
                         "held then")
            return False
        return True


def check_export(lines: Iterable[str], lifecycle: Lifecycle, *,
                 verifier: Verifier | None = None, against: Checkpoint | None = None
                 ) -> ExportCheck:
    """Check an export's lines. A line that is not JSON is a finding, not an exception: the
    auditor gets every place the file fails."""
    checker = _Checker(lifecycle)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            checker.problem(number, "malformed", "not JSON")
            continue
        if not isinstance(obj, dict):
            checker.problem(number, "malformed", "not an object")
        elif len(obj) == 1 and next(iter(obj)) in ("checkpoint", "policy_version"):
            checker.meta(number, obj)
        else:
            checker.event(number, obj)
    checker.tie(verifier, against)
    return checker.report
