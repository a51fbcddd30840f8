"""Exports that prove themselves (issue 16; workflow/CONTRACT.md §2.1).

An export is a history file (§2) whose first line is the export's own checkpoint and whose
event lines carry, beside the event as replay reads it, what its chain hash was computed from
as stored and where it sits in the store's log:

- ``{"policy_version": {"id", "version", "hash", "toml"}}`` before the first event that names
  each version, so replay decides every event under its own version without ``--policy``;
- ``{"checkpoint": {"note": <the checkpoint's signed-note text>, "consistency": {"from_size",
  "from_root", "proof"}}}`` — the note of the log when the export was read (signed when a key
  is given); ``consistency`` only with ``--against``: the RFC 9162 proof that the auditor's
  older checkpoint (its size and root) is a prefix of this one;
- on each event line: ``seq``, ``policy`` (``ID@HASH``), ``derived`` (the stored text),
  ``personal_digest``, ``prev_hash``, ``hash``, ``position`` (its leaf index) and ``proof``
  (its inclusion proof against the export's checkpoint, hex, the leaf's neighbour first).

Everything else the hash covers is re-derived from the line as the store derived it when it
wrote the event (``persistence/chain.py``): the time as fixed-width UTC text, the public actor
and data as canonical JSON, the personal part split off by the trigger's definition and hashed.
``workflow/export_check.py`` checks such a file.

The checkpoint, the leaves and the events are read in one read transaction, so the proofs are
of one state of the log even while others write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from jiekun.persistence import merkle
from jiekun.persistence.ports import StorePort
from jiekun.persistence.queries import EventRecord
from jiekun.policies.deadlines import SHANGHAI, require_aware
from jiekun.workflow.checkpoint import Checkpoint, read_leaves
from jiekun.workflow.history_versions import version_line
from jiekun.workflow.policy_versions import PolicyVersion, versions
from jiekun.workflow.row_mapping import event_of
from jiekun.workflow.signing import Signer


def event_record_line(record: EventRecord, index: int, proof: list[bytes]) -> str:
    """One event of an export: the event as replay reads it, then its proof fields."""
    stored = record.stored
    event = event_of(stored)
    line: dict[str, Any] = {"case": stored.case_id, "at": event.at.astimezone(SHANGHAI).isoformat(),
                            "event": stored.trigger, "actor": dict(event.actor)}
    if event.data:
        line["data"] = dict(event.data)
    line["seq"] = stored.seq
    if stored.policy_id is not None:
        line["policy"] = f"{stored.policy_id}@{stored.policy_hash or ''}"
    line["derived"] = stored.derived
    line["personal_digest"] = stored.personal_digest
    if record.personal_salt is not None:  # a salted digest (sealed vault): what recomputes it
        line["personal_salt"] = record.personal_salt.hex()
    line["prev_hash"] = stored.prev_hash
    line["hash"] = record.hash
    line["position"] = index
    line["proof"] = [p.hex() for p in proof]
    return json.dumps(line, ensure_ascii=False)


def checkpoint_line(mark: Checkpoint, consistency: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"note": mark.to_text()}
    if consistency is not None:
        body["consistency"] = consistency
    return json.dumps({"checkpoint": body}, ensure_ascii=False)


def proven_export(store: StorePort, now: datetime, case_id: str | None = None, *,
                  against: Checkpoint | None = None, signer: Signer | None = None
                  ) -> Iterator[str]:
    """The export's lines: its checkpoint dated ``now`` (signed by ``signer``), then every
    event of ``case_id`` (all cases when None) in commit order with its proofs. ``against``:
    an older checkpoint of the same store, whose consistency proof the export then carries."""
    moment = require_aware(now, "now").astimezone(SHANGHAI)
    with store.reads() as reads:
        size = reads.event_count()
        hashes: list[bytes] = []
        index_of: dict[int, int] = {}
        for row in read_leaves(reads, size):
            index_of[row.position] = len(hashes)
            hashes.append(merkle.leaf_hash(merkle.event_leaf(row.hash)))
        tree = merkle.LevelTree(hashes)
        mark = Checkpoint(reads.store_origin(), len(hashes), tree.root().hex(), moment)
        if signer is not None:
            mark = Checkpoint(mark.origin, mark.size, mark.root, mark.time,
                              signatures=(signer.sign(mark.note_text()),))
        consistency = None
        if against is not None and against.size <= tree.size:
            consistency = {"from_size": against.size, "from_root": against.root,
                           "proof": [p.hex() for p in tree.consistency_proof(against.size)]}
        yield checkpoint_line(mark, consistency)
        books = _VersionLines(store)
        records = reads.case_events(case_id) if case_id is not None else reads.all_events()
        for record in records:
            index = index_of.get(record.position)
            if index is None:  # committed after the count: not in this checkpoint
                continue
            yield from books.before(record.stored.policy_hash)
            yield event_record_line(record, index, tree.inclusion_proof(index))


class _VersionLines:
    """The ``policy_version`` line of each version the exported events name, written once,
    before the first event that names it, with the hash the events recorded (the store's
    current hash of the text, or the older one events recorded before versions existed). A
    version whose text the store never held gets no line: replay decides those events under
    its own policy."""

    def __init__(self, store: StorePort) -> None:
        self.store = store
        self.known = versions(store)
        self.written: set[str] = set()

    def before(self, hash_: str | None) -> Iterator[str]:
        if hash_ is None or hash_ in self.written:
            return
        self.written.add(hash_)
        held = self._find(hash_)
        if held is None:  # published after the versions were read
            self.known = versions(self.store)
            held = self._find(hash_)
        if held is not None and held.toml is not None:
            yield version_line(held.version, held.id, hash_, held.toml)

    def _find(self, hash_: str) -> PolicyVersion | None:
        return next((v for v in self.known if v.names(hash_)), None)
