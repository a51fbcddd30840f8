"""The Merkle Tree Hash of RFC 9162 §2.1 (Certificate Transparency 2.0, the tree of RFC 6962)
with SHA-256, its inclusion and consistency proofs and their verification. Pure functions over
bytes: no database, no clock; written from the RFC's definitions.

- leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)``, the
  empty tree ``SHA-256()``; a tree of n > 1 leaves splits at k, the largest power of two
  smaller than n (§2.1.1);
- the audit path of leaf m (§2.1.3.1) and its verification (§2.1.3.2);
- the consistency proof from size m to n (§2.1.4.1) and its verification (§2.1.4.2).

The store's log (``workflow/checkpoint.py``): every stored event is one leaf, in commit order
(``events.position``) at dense 0-based indices (PostgreSQL's positions have gaps: the index is
the rank, not the position), and **the leaf is the UTF-8 bytes of the event's hash text** as
the ``events.hash`` column holds it (``"sha256:" + 64 hex digits``, ``event_leaf``).

A proof is described twice: as the leaf ranges ``[start, end)`` whose subtree roots it lists
(``inclusion_ranges``, ``consistency_ranges``: no hashing, testable against the RFC's figures),
and as those roots. ``TreeHasher`` computes a root in one pass with a stack of at most
log2(n) + 1 subtree roots, and ``RangeHasher`` the roots of a proof's ranges in one pass, so a
million leaves never need to be in memory at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"
_sha256 = hashlib.sha256


def event_leaf(event_hash: str) -> bytes:
    """The leaf of a stored event: the UTF-8 bytes of its ``events.hash`` text."""
    return event_hash.encode("utf-8")


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


class TreeHasher:
    """The root of a growing tree, a leaf at a time: a stack of the roots of the perfect
    subtrees the leaves so far make (sizes the binary digits of the count, largest first), so
    O(1) amortised work per leaf and at most log2(n) + 1 hashes held."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        self.append_hash(leaf_hash(leaf))

    def append_hash(self, hashed: bytes) -> None:
        """Add a leaf by its leaf hash (or, for a tree over block roots, a block's root)."""
        stack = self._stack
        width = 1
        while stack and stack[-1][0] == width:
            hashed = node_hash(stack.pop()[1], hashed)
            width *= 2
        stack.append((width, hashed))
        self.size += 1

    def frontier(self) -> list[bytes]:
        """The roots of the perfect subtrees held, largest (leftmost) first: the tree's
        compact range [0, size)."""
        return [hashed for _, hashed in self._stack]

    def root(self) -> bytes:
        """MTH of the leaves so far: the perfect subtrees folded from the right, which is the
        RFC's split (the largest perfect subtree on the left is the largest power of two
        smaller than n). The hasher can go on growing afterwards."""
        if not self._stack:
            return EMPTY_ROOT
        hashed = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            hashed = node_hash(left, hashed)
        return hashed


def root(leaves: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of the leaves (raw leaf bytes, hashed here)."""
    tree = TreeHasher()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def root_of_hashes(hashes: Iterable[bytes]) -> bytes:
    """The tree over values already hashed, joined with the RFC's split and no leaf prefix.

    Given the roots of consecutive blocks of 2^j leaves each (the last may be shorter), this
    is the MTH of all their leaves: every split of a tree of more than 2^j leaves falls on a
    multiple of 2^j, so the blocks are its subtrees."""
    tree = TreeHasher()
    for hashed in hashes:
        tree.append_hash(hashed)
    return tree.root()


def subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    return root(leaves[start:end])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose subtree roots make PATH(index, D[size]) (§2.1.3.1), the leaf's
    neighbour first and the root's other child last."""
    if not 0 <= index < size:
        raise ValueError(f"no leaf {index} in a tree of {size}")
    path: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return path[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose subtree roots make PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
    (§2.1.4.1). Empty when m = n (nothing to prove) or m = 0 (every tree extends the empty
    one)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    m, start, end, whole = old_size, 0, new_size, True
    after: list[tuple[int, int]] = []  # each SUBPROOF level's appended root, outermost first
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            after.append((start + k, end))
            end = start + k
        else:
            after.append((start, start + k))
            start += k
            m -= k
            whole = False
    first = [] if whole else [(start, end)]
    return first + after[::-1]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of the leaves in memory (the reference; the store uses RangeHasher)."""
    return [subtree_root(leaves, a, b) for a, b in inclusion_ranges(index, len(leaves))]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of the leaves in memory."""
    return [subtree_root(leaves, a, b) for a, b in consistency_ranges(old_size, len(leaves))]


class RangeHasher:
    """The subtree roots of disjoint leaf ranges, fed the leaf hashes of a tree in index
    order: one pass, one range's stack at a time (for proofs over a store's million leaves)."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self._order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
        self._ranges = list(ranges)
        previous_end = 0
        for i in self._order:
            start, end = ranges[i]
            if start < previous_end or end <= start:
                raise ValueError(f"ranges must be non-empty and disjoint: {list(ranges)}")
            previous_end = end
        self._roots: list[bytes | None] = [None] * len(ranges)
        self._next = 0  # into _order: the range being hashed or the next one
        self._tree = TreeHasher()
        self.size = 0

    def append_hash(self, hashed: bytes) -> None:
        index = self.size
        self.size += 1
        if self._next == len(self._order):
            return
        which = self._order[self._next]
        start, end = self._ranges[which]
        if index < start:
            return
        self._tree.append_hash(hashed)
        if index == end - 1:
            self._roots[which] = self._tree.root()
            self._tree = TreeHasher()
            self._next += 1

    def roots(self) -> list[bytes]:
        """The roots in the order the ranges were given (ValueError: leaves still missing)."""
        done = [r for r in self._roots if r is not None]
        if len(done) != len(self._roots):
            raise ValueError(f"only {self.size} leaves were given for the ranges {self._ranges}")
        return done


def _well_formed(*hashes: bytes) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes],
                     root_hash: bytes) -> bool:
    """§2.1.3.2: whether ``proof`` shows the leaf whose leaf hash is ``hashed_leaf`` at
    ``index`` in the tree of ``size`` leaves whose root is ``root_hash``."""
    if not 0 <= index < size or not _well_formed(hashed_leaf, root_hash, *proof):
        return False
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """§2.1.4.2: whether ``proof`` shows the tree of ``old_size`` leaves with root
    ``old_root`` to be a prefix of the tree of ``new_size`` leaves with root ``new_root``.
    Equal sizes need equal roots and an empty proof; size 0 the empty tree's root."""
    if not 0 <= old_size <= new_size or not _well_formed(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class LevelTree:
    """A whole tree held in memory as its levels of perfect subtrees, for many proofs at once
    (an export proves each of its events): level j holds the roots of the aligned blocks of
    2^j leaves. Every range a proof lists is such a block, or runs from an aligned start to
    the tree's right edge — there are at most log2(n) of those, computed once each."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append([node_hash(below[i], below[i + 1])
                                 for i in range(0, len(below) - 1, 2)])
        self._edges: dict[int, bytes] = {}

    def range_root(self, start: int, end: int) -> bytes:
        """MTH of the leaves [start, end), a range a proof of this tree lists."""
        width = end - start
        if width <= 0 or end > self.size:
            raise ValueError(f"no range [{start}, {end}) in a tree of {self.size}")
        if width & (width - 1) == 0 and start % width == 0:
            return self._levels[width.bit_length() - 1][start // width]
        if end != self.size:
            raise ValueError(f"[{start}, {end}) is neither a block nor at the right edge")
        known = self._edges.get(start)
        if known is None:
            k = split_point(width)
            known = node_hash(self.range_root(start, start + k), self.range_root(start + k, end))
            self._edges[start] = known
        return known

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.range_root(0, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        return [self.range_root(a, b) for a, b in inclusion_ranges(index, self.size)]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        return [self.range_root(a, b) for a, b in consistency_ranges(old_size, self.size)]
