"""Checkpoints of a store (issue 16): a few lines an auditor keeps, and later holds the store
to — it must still hold exactly that log, perhaps followed by more.

**The log.** Every stored event is a leaf of one Merkle tree (RFC 9162 §2.1, SHA-256;
``persistence/merkle.py``), in commit order (``events.position``) at dense 0-based indices —
PostgreSQL's positions have gaps, so a leaf's index is its rank, not its position. The leaf is
the UTF-8 bytes of the event's hash text (``events.hash``, ``"sha256:" + 64 hex``), which
covers the event's stored text and its case's previous hash (``persistence/chain.py``).

**A checkpoint** is the head of that tree, ``{"origin", "size", "root", "time"}``, written as
the text of a C2SP tlog-checkpoint signed note (c2sp.org/tlog-checkpoint, c2sp.org/signed-note):
the origin, the size in decimal, the root in base64, one extension line ``time <ISO +08:00>``;
signature lines (``— <key name> <base64>``) follow a blank line. jiekun signs nothing yet (the
``cryptography`` package is not a dependency): signature lines read are kept, unverified.

**Its block index.** A root says whether the store still holds the log, not where it does not.
A checkpoint therefore comes with the roots of the tree's aligned blocks of 2^j leaves (at most
``DEFAULT_BLOCKS`` of them: one leaf a block up to that many events, 256 for a million), kept
beside the note. They need no signature of their own: they must rebuild the checkpoint's root
(``merkle.root_of_hashes``). ``verify_against`` names the first block that differs — the exact
event while blocks are single leaves, else the block's first and last events. Since the leaves
are the stored hashes, it also recomputes every event's hash from its stored text: an event
changed without its hash leaves the root as it was, and is named by that check.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from jiekun.persistence import merkle
from jiekun.persistence.ports import ReadPort, StorePort
from jiekun.persistence.queries import EventRecord, LeafRow
from jiekun.policies.deadlines import SHANGHAI, require_aware
from jiekun.policies.errors import FieldProblem, InvalidInput

DEFAULT_BLOCKS = 4096  # block roots a checkpoint's index holds at most
_PAGE = 5000  # events a query reads at a time
_BEFORE_ALL = -(2**63)  # a position before every stored one (positions are 64-bit)
_SHOWN = 20  # events with a changed content listed; the others are counted
_SIGNATURE = re.compile(r"— [^\s+]+ (\S+)")


def block_size(size: int, blocks: int = DEFAULT_BLOCKS) -> int:
    """The smallest power of two that cuts ``size`` leaves into at most ``blocks`` blocks."""
    block = 1
    while -(-size // block) > blocks:
        block *= 2
    return block


def _problem(where: str, message: str) -> InvalidInput:
    return InvalidInput("checkpoint", [FieldProblem(where, message)])


@dataclass(frozen=True)
class BlockIndex:
    """The hex roots of a checkpoint's consecutive blocks of ``block`` leaves (the last block
    may be shorter)."""

    block: int
    roots: tuple[str, ...]

    def root(self) -> str:
        return merkle.root_of_hashes(bytes.fromhex(r) for r in self.roots).hex()

    def fits(self, checkpoint: Checkpoint) -> bool:
        """Whether this is the index of ``checkpoint``: its blocks cover the size and rebuild
        the root."""
        return (self.block > 0 and self.block & (self.block - 1) == 0
                and len(self.roots) == -(-checkpoint.size // self.block)
                and self.root() == checkpoint.root)

    def as_json(self) -> dict[str, Any]:
        return {"block": self.block, "roots": list(self.roots)}

    @classmethod
    def from_json(cls, data: Any) -> BlockIndex:
        if not isinstance(data, dict) or not isinstance(data.get("block"), int) or not (
                isinstance(data.get("roots"), list)
                and all(isinstance(r, str) and re.fullmatch(r"[0-9a-f]{64}", r)
                        for r in data["roots"])):
            raise _problem("index", 'expected {"block": <int>, "roots": [<64 hex digits>, …]}')
        return cls(data["block"], tuple(data["roots"]))


@dataclass(frozen=True)
class Checkpoint:
    """The head of a store's log at ``time``: its first ``size`` events make the tree whose
    root (hex) is ``root``. ``index``: its block roots, when known (not part of the note)."""

    origin: str
    size: int
    root: str
    time: datetime
    signatures: tuple[str, ...] = ()
    index: BlockIndex | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root,
                "time": self.time.isoformat()}

    def note_text(self) -> str:
        """The note's text, what a signature covers (each line ends in a newline)."""
        root = base64.b64encode(bytes.fromhex(self.root)).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\ntime {self.time.isoformat()}\n"

    def to_text(self) -> str:
        """The signed note: the text, then a blank line and the signature lines, if any."""
        if not self.signatures:
            return self.note_text()
        return self.note_text() + "\n" + "".join(s + "\n" for s in self.signatures)

    @classmethod
    def from_text(cls, text: str, index: BlockIndex | None = None) -> Checkpoint:
        """Read a checkpoint (InvalidInput naming the line that is wrong)."""
        signatures: tuple[str, ...]
        if re.search(r"[\x00-\x09\x0b-\x1f]", text) or not text.endswith("\n"):
            raise _problem("text", "a note is lines ending in a newline, without control "
                                   "characters")
        body, signatures = text, ()
        if "\n\n" in text:  # the last blank line separates the signatures
            cut = text.rindex("\n\n")
            body, signatures = text[:cut + 1], tuple(text[cut + 2:].splitlines())
        for number, line in enumerate(signatures, start=1):
            if not _is_signature(line):
                raise _problem(f"signature {number}", "not '— <key name> <base64 of a key id "
                                                      f"and a signature>': {line!r}")
        return cls(*_read_body(body.splitlines()), signatures=signatures, index=index)


def _is_signature(line: str) -> bool:
    """``— <key name> <base64>`` (c2sp.org/signed-note): a name without spaces or plus signs,
    then at least the 4-byte key id and one byte of signature."""
    match = _SIGNATURE.fullmatch(line)
    if match is None:
        return False
    try:
        return len(base64.b64decode(match.group(1), validate=True)) > 4
    except binascii.Error:
        return False


def _read_body(lines: list[str]) -> tuple[str, int, str, datetime]:
    if len(lines) != 4 or not lines[0]:
        raise _problem("text", "expected 4 lines: origin, size, base64 root, time")
    origin, size, root, time = lines
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise _problem("line 2", f"the size must be a decimal without leading zeros: {size!r}")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != merkle.HASH_SIZE:
        raise _problem("line 3", f"the root must be the base64 of 32 bytes: {root!r}")
    try:
        moment = require_aware(datetime.fromisoformat(time.removeprefix("time ")), "time")
    except (ValueError, InvalidInput):
        moment = None
    if moment is None or not time.startswith("time "):
        raise _problem("line 4", f"expected 'time <ISO time with offset>': {time!r}")
    return origin, int(size), digest.hex(), moment.astimezone(SHANGHAI)


Row = TypeVar("Row", LeafRow, EventRecord)


def _first(fetch: Callable[[int, int], list[Row]], start: int, count: int) -> Iterator[Row]:
    """The first ``count`` rows of ``fetch(after_position, limit)``, a page at a time."""
    after = start
    while count > 0:
        page = fetch(after, min(_PAGE, count))
        if not page:
            return
        yield from page
        count -= len(page)
        after = page[-1].position


def read_leaves(reads: ReadPort, count: int) -> Iterator[LeafRow]:
    """The first ``count`` leaves of the log (position and event hash), in leaf order."""
    return _first(reads.event_hashes, _BEFORE_ALL, count)


def _records(reads: ReadPort, count: int) -> Iterator[EventRecord]:
    """The first ``count`` events with their stored text."""
    return _first(reads.events_since, _BEFORE_ALL, count)


class _Blocks:
    """Block roots of a stream of leaf hashes."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.roots: list[bytes] = []
        self._tree = merkle.TreeHasher()

    def add(self, hashed: bytes) -> bytes | None:
        """Add a leaf; the block's root when this leaf completes it."""
        self._tree.append_hash(hashed)
        if self._tree.size < self.block:
            return None
        return self.close()

    def close(self) -> bytes | None:
        """End the block being filled (None: it is empty)."""
        if self._tree.size == 0:
            return None
        done = self._tree.root()
        self.roots.append(done)
        self._tree = merkle.TreeHasher()
        return done


def checkpoint_of(reads: ReadPort, now: datetime, *, blocks: int = DEFAULT_BLOCKS
                  ) -> Checkpoint:
    """The checkpoint of the store ``reads`` reads, dated ``now``, with its block index.

    Its size is the events counted first; only that many are read (writers commit in
    position order, so those are the first ones even while others commit)."""
    moment = require_aware(now, "now").astimezone(SHANGHAI)
    size = reads.event_count()
    cut = _Blocks(block_size(size, blocks))
    read = 0
    for row in read_leaves(reads, size):
        cut.add(merkle.leaf_hash(merkle.event_leaf(row.hash)))
        read += 1
    cut.close()
    if read != size:
        raise RuntimeError(f"the store counted {size} events but {read} could be read")
    index = BlockIndex(cut.block, tuple(r.hex() for r in cut.roots))
    return Checkpoint(reads.store_origin(), size, index.root(), moment, index=index)


def take_checkpoint(store: StorePort, now: datetime, *, blocks: int = DEFAULT_BLOCKS
                    ) -> Checkpoint:
    """The store's checkpoint now, in one read transaction."""
    with store.reads() as reads:
        return checkpoint_of(reads, now, blocks=blocks)


@dataclass(frozen=True)
class Finding:
    """One way the store fails its checkpoint, and where: the leaf's ``index`` and the event
    the store holds there now (None: none). Kinds: ``origin``, ``index`` (the block index
    does not fit the checkpoint), ``truncated`` (fewer events than the checkpoint's size),
    ``differs`` (the first ``size`` events no longer make its root), ``content`` (an event
    whose stored text no longer gives its hash), ``consistency``."""

    kind: str
    message: str
    index: int | None = None
    case_id: str | None = None
    seq: int | None = None
    position: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "index": self.index,
                "case": self.case_id, "seq": self.seq, "position": self.position}


@dataclass
class CheckpointCheck:
    """A store held to a checkpoint: its size and root now, what is wrong, and — when it only
    grew — the verified consistency proof (hex) from the checkpoint's size to its size."""

    checkpoint: Checkpoint
    size: int = 0
    root: str = ""
    proof: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checkpoint": self.checkpoint.as_json(), "size": self.size,
                "root": self.root, "consistency_proof": self.proof,
                "findings": [f.as_json() for f in self.findings]}


def _place(row: EventRecord | LeafRow) -> tuple[str, int, int]:
    """(case, sequence, position) of a leaf read with or without its event's text."""
    if isinstance(row, EventRecord):
        return row.stored.case_id, row.stored.seq, row.position
    return row.case_id, row.seq, row.position


def _event(row: EventRecord | LeafRow) -> str:
    case_id, seq, position = _place(row)
    return f"case {case_id}, event {seq} (position {position})"


class _Pass:
    """One pass over the store's events: its root, the root of the checkpoint's prefix, the
    prefix's block roots against the index, the proof ranges, each event's content."""

    def __init__(self, checkpoint: Checkpoint, size: int) -> None:
        self.checkpoint = checkpoint
        self.size = size
        index = checkpoint.index
        self.index = index if index is not None and index.fits(checkpoint) else None
        self.blocks = _Blocks(self.index.block if self.index else block_size(checkpoint.size))
        self.held: list[EventRecord | LeafRow] = []  # the events of the block being filled
        self.tree = merkle.TreeHasher()
        self.prefix = merkle.EMPTY_ROOT if checkpoint.size == 0 else None
        grew = size > checkpoint.size
        self.ranges = merkle.RangeHasher(merkle.consistency_ranges(checkpoint.size, size)
                                         if grew else [])
        self.first: Finding | None = None  # the first block that differs
        self.changed: list[Finding] = []
        self.changed_count = 0

    def add(self, row: EventRecord | LeafRow) -> None:
        number = self.tree.size
        hashed = merkle.leaf_hash(merkle.event_leaf(row.hash))
        self.tree.append_hash(hashed)
        self.ranges.append_hash(hashed)
        if self.tree.size == self.checkpoint.size:
            self.prefix = self.tree.root()
        if number < self.checkpoint.size:
            self.held.append(row)
            self._compare(self.blocks.add(hashed))
        if isinstance(row, EventRecord) and row.stored.chain_hash() != row.hash:
            self.changed_count += 1
            if len(self.changed) < _SHOWN:
                self.changed.append(Finding(
                    "content", f"leaf {number}, {_event(row)}: its stored text no longer "
                               "gives its hash (the event was changed)",
                    number, row.stored.case_id, row.stored.seq, row.position))

    def _compare(self, done: bytes | None) -> None:
        """Compare a block the store just completed (or ended) with the index's."""
        if done is None:
            return
        number = len(self.blocks.roots) - 1
        held, self.held = self.held, []
        if self.index is None or self.first is not None:
            return
        if done.hex() != self.index.roots[number]:
            self.first = self._where(number * self.blocks.block, held)

    def _where(self, start: int, held: list[EventRecord | LeafRow]) -> Finding:
        if not held:
            return Finding("differs", f"leaf {start} and after: the store holds no event "
                                      f"there (it ends at {self.size})", start)
        first = held[0]
        if self.blocks.block == 1:
            text = f"leaf {start} differs: the store holds there {_event(first)}"
        else:
            end = min(start + self.blocks.block, self.checkpoint.size) - 1
            text = (f"the first difference lies in leaves {start}…{end}: the store holds "
                    f"there {_event(first)} … {_event(held[-1])}")
        return Finding("differs", text, start, *_place(first))

    def finish(self) -> CheckpointCheck:
        self._compare(self.blocks.close())
        m = self.checkpoint.size
        check = CheckpointCheck(self.checkpoint, self.size, self.tree.root().hex())
        if self.checkpoint.index is not None and self.index is None:
            check.findings.append(Finding("index", "the block index does not rebuild the "
                                                   "checkpoint's root: it was not used"))
        if self.size < m or self.prefix is None or self.prefix.hex() != self.checkpoint.root:
            check.findings.append(self._located())
        elif self.size > m:
            check.proof = [h.hex() for h in self.ranges.roots()]
            if not merkle.verify_consistency(m, self.size, bytes.fromhex(self.checkpoint.root),
                                             self.tree.root(), self.ranges.roots()):
                check.findings.append(Finding("consistency", f"no consistency proof from "
                                                             f"size {m} to {self.size}"))
        check.findings += self.changed
        if self.changed_count > len(self.changed):
            check.findings.append(Finding("content", f"{self.changed_count - len(self.changed)}"
                                                     " more changed events"))
        return check

    def _located(self) -> Finding:
        m = self.checkpoint.size
        where = self.first
        if where is None and self.size < m and self.index is not None:
            start = self.size  # every block the store holds agrees: the rest is gone
            where = self._where(start - start % self.blocks.block, [])
        what = (f"the store holds {self.size} events, the checkpoint {m}: truncated"
                if self.size < m else f"its first {m} events no longer make the checkpoint's "
                                      "root")
        if where is None:
            return Finding("truncated" if self.size < m else "differs",
                           f"{what} (no block index: the place cannot be named)")
        return Finding("truncated" if self.size < m else "differs",
                       f"{what}; {where.message}", where.index, where.case_id, where.seq,
                       where.position)


def verify_reads(reads: ReadPort, checkpoint: Checkpoint, *, content: bool = True
                 ) -> CheckpointCheck:
    """Hold the store ``reads`` reads to ``checkpoint`` (see ``verify_against``)."""
    size = reads.event_count()
    check = _Pass(checkpoint, size)
    rows: Iterator[EventRecord] | Iterator[LeafRow] = (
        _records(reads, size) if content else read_leaves(reads, size))
    for row in rows:
        check.add(row)
    if check.tree.size != size:
        raise RuntimeError(f"the store counted {size} events but {check.tree.size} were read")
    report = check.finish()
    origin = reads.store_origin()
    if origin != checkpoint.origin:
        report.findings.insert(0, Finding("origin", f"the checkpoint is of {checkpoint.origin}"
                                                    f", this store is {origin}"))
    return report


def verify_against(store: StorePort, checkpoint: Checkpoint, *, content: bool = True
                   ) -> CheckpointCheck:
    """Whether the store still holds exactly the checkpoint's log as a prefix of its own.

    The first ``checkpoint.size`` events must make its root (else ``differs`` or
    ``truncated``, at the first block of the index that differs); every event's stored text
    must give its hash (``content``: an event changed without its hash). A store that only
    grew passes, with the consistency proof from the old size to the new (produced and
    verified). One read transaction, one pass over the events, memory bounded by a page.

    ``content=False`` reads only the leaves (a few times faster) and leaves the events' text to
    the caller: ``audit verify`` does so, since its chain check recomputes every hash anyway."""
    with store.reads() as reads:
        return verify_reads(reads, checkpoint, content=content)
