"""The Merkle tree of RFC 9162 §2.1 (``persistence/merkle.py``): the published test vectors,
every proof of every small tree, and proofs that must fail.

The vectors are data copied from transparency-dev/merkle (Apache-2.0; the reference
implementation of Certificate Transparency's tree, carried over from
google/certificate-transparency): the leaves, node hashes and roots of
``testonly/constants.go``; the inclusion and consistency proofs of ``proof/verify_test.go``
(whose leaf numbers are 1-based: leaf 1 is index 0 here); the node lists of the proofs of
``proof/proof_test.go`` (as ``(level, index)`` node ids, ``rehash`` marking the ids that are
hashed together into one node of a tree that is not perfect). The 7-leaf examples are those of
RFC 9162 §2.1.5.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiekun.persistence import merkle
from tests.soak_settings import examples

# testonly/constants.go, LeafInputs
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]

# testonly/constants.go, RootHashes: the root of the first n leaves, n = 0 … 8
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]

# testonly/constants.go, NodeHashes: [level][index] of every perfect subtree of the 8 leaves
NODES = [[bytes.fromhex(h) for h in level] for level in (
    ("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",),
)]

# proof/verify_test.go, inclusionProofs: (index, size, audit path)
INCLUSION = [
    (0, 8, ("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, ("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, ("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",)),
    (1, 5, ("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (0, 1, ()),
]

# proof/verify_test.go, consistencyProofs: (size1, size2, proof)
CONSISTENCY = [
    (1, 1, ()),
    (1, 8, ("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, ("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, ("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, ("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]

Ids = tuple[tuple[int, int], ...]
# proof/proof_test.go, TestInclusion: (size, index, node ids, rehash span or None)
INCLUSION_NODES: list[tuple[int, int, Ids, tuple[int, int] | None]] = [
    (1, 0, (), None),
    (2, 0, ((0, 1),), None),
    (2, 1, ((0, 0),), None),
    (3, 1, ((0, 0), (0, 2)), None),
    (7, 0, ((0, 1), (1, 1), (0, 6), (1, 2)), (2, 4)),
    (7, 1, ((0, 0), (1, 1), (0, 6), (1, 2)), (2, 4)),
    (7, 2, ((0, 3), (1, 0), (0, 6), (1, 2)), (2, 4)),
    (7, 3, ((0, 2), (1, 0), (0, 6), (1, 2)), (2, 4)),
    (7, 4, ((0, 5), (0, 6), (2, 0)), None),
    (7, 5, ((0, 4), (0, 6), (2, 0)), None),
    (7, 6, ((1, 2), (2, 0)), None),
    (4, 2, ((0, 3), (1, 0)), None),
    (5, 3, ((0, 2), (1, 0), (0, 4)), None),
    (6, 3, ((0, 2), (1, 0), (1, 2)), None),
    (6, 4, ((0, 5), (2, 0)), None),
    (15, 10, ((0, 11), (1, 4), (0, 14), (1, 6), (3, 0)), (2, 4)),
    (31, 24, ((0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)), (2, 4)),
    (95, 81, ((0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)), (3, 6)),
]
# proof/proof_test.go, TestConsistency: (size1, size2, node ids, rehash span or None)
CONSISTENCY_NODES: list[tuple[int, int, Ids, tuple[int, int] | None]] = [
    (1, 2, ((0, 1),), None),
    (1, 4, ((0, 1), (1, 1)), None),
    (1, 6, ((0, 1), (1, 1), (1, 2)), None),
    (2, 3, ((0, 2),), None),
    (2, 8, ((1, 1), (2, 1)), None),
    (3, 7, ((0, 2), (0, 3), (1, 0), (0, 6), (1, 2)), (3, 5)),
    (4, 7, ((0, 6), (1, 2)), (0, 2)),
    (5, 7, ((0, 4), (0, 5), (0, 6), (2, 0)), None),
    (6, 7, ((1, 2), (0, 6), (2, 0)), None),
    (7, 8, ((0, 6), (0, 7), (1, 2), (2, 0)), None),
    (1, 1, (), None), (2, 2, (), None), (3, 3, (), None), (4, 4, (), None),
    (5, 5, (), None), (7, 7, (), None), (8, 8, (), None),
    (2, 4, ((1, 1),), None),
    (3, 5, ((0, 2), (0, 3), (1, 0), (0, 4)), None),
    (3, 6, ((0, 2), (0, 3), (1, 0), (1, 2)), None),
    (4, 6, ((1, 2),), None),
    (1, 7, ((0, 1), (1, 1), (0, 6), (1, 2)), (2, 4)),
    (10, 15, ((1, 4), (1, 5), (0, 14), (1, 6), (3, 0)), (2, 4)),
    (24, 31, ((3, 2), (0, 30), (1, 14), (2, 6), (4, 0)), (1, 4)),
    (81, 95, ((0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4),
              (6, 0)), (4, 7)),
]


def ranges_of(ids: Ids, rehash: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Node ids as leaf ranges; the ids of a rehash span joined into the one range they
    cover."""
    spans = [(index << level, (index + 1) << level) for level, index in ids]
    if rehash is None:
        return spans
    begin, end = rehash
    joined = (min(s for s, _ in spans[begin:end]), max(e for _, e in spans[begin:end]))
    return [*spans[:begin], joined, *spans[end:]]


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1's recursive definition, written out again as the reference."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def hx(values: tuple[str, ...]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- the published vectors -------------------------------------------------------------------

def test_roots_of_the_vector_leaves() -> None:
    assert ROOTS[0] == merkle.EMPTY_ROOT
    for n in range(9):
        assert merkle.root(LEAVES[:n]) == ROOTS[n], n
        assert mth(LEAVES[:n]) == ROOTS[n], n


def test_every_perfect_subtree_of_the_vectors() -> None:
    for level, hashes in enumerate(NODES):
        for index, expected in enumerate(hashes):
            width = 1 << level
            assert merkle.subtree_root(LEAVES, index * width, (index + 1) * width) == expected


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: tuple[str, ...]) -> None:
    assert merkle.inclusion_proof(LEAVES[:size], index) == hx(path)
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), hx(path),
                                   ROOTS[size])


@pytest.mark.parametrize(("m", "n", "path"), CONSISTENCY)
def test_consistency_vectors(m: int, n: int, path: tuple[str, ...]) -> None:
    assert merkle.consistency_proof(LEAVES[:n], m) == hx(path)
    assert merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], hx(path))


@pytest.mark.parametrize(("size", "index", "ids", "rehash"), INCLUSION_NODES)
def test_inclusion_nodes(size: int, index: int, ids: Ids, rehash: tuple[int, int] | None
                         ) -> None:
    assert merkle.inclusion_ranges(index, size) == ranges_of(ids, rehash)


@pytest.mark.parametrize(("m", "n", "ids", "rehash"), CONSISTENCY_NODES)
def test_consistency_nodes(m: int, n: int, ids: Ids, rehash: tuple[int, int] | None) -> None:
    assert merkle.consistency_ranges(m, n) == ranges_of(ids, rehash)


def test_the_rfc_examples_of_seven_leaves() -> None:
    """RFC 9162 §2.1.5: d0's path is b h l, d3's c g l, d4's f j k, d6's i k; the proof from
    3 to 7 is c d g l, from 4 to 7 l, from 6 to 7 i j k."""
    a, b, c, d, e, f, j = ((i, i + 1) for i in range(7))
    g, h, i = (0, 2), (2, 4), (4, 6)
    k, l_ = (0, 4), (4, 7)
    assert merkle.inclusion_ranges(0, 7) == [b, h, l_]
    assert merkle.inclusion_ranges(3, 7) == [c, g, l_]
    assert merkle.inclusion_ranges(4, 7) == [f, j, k]
    assert merkle.inclusion_ranges(6, 7) == [i, k]
    assert merkle.consistency_ranges(3, 7) == [c, d, g, l_]
    assert merkle.consistency_ranges(4, 7) == [l_]
    assert merkle.consistency_ranges(6, 7) == [i, j, k]
    assert a == (0, 1) and e == (4, 5)


def test_what_the_vectors_refuse() -> None:
    """proof/verify_test.go's probes: a wrong index, a tree twice or half as large, a
    wrong leaf or root, garbage before or after, a flipped bit, a component removed."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    for index, size, path in INCLUSION[:4]:
        proof, leaf, good = hx(path), merkle.leaf_hash(LEAVES[index]), ROOTS[size]
        probes = [(index - 1, size, leaf, proof, good), (index + 1, size, leaf, proof, good),
                  (index ^ 2, size, leaf, proof, good), (index, size * 2, leaf, proof, good),
                  (index, size // 2, leaf, proof, good),
                  (index, size, merkle.leaf_hash(b"WrongLeaf"), proof, good),
                  (index, size, leaf, proof, merkle.EMPTY_ROOT), (index, size, leaf, proof, some),
                  (index, size, leaf, [*proof, good], good), (index, size, leaf, [good, *proof],
                                                              good),
                  (index, size, leaf, proof[:-1], good)]
        for n, _ in enumerate(proof):
            flipped = list(proof)
            flipped[n] = bytes([flipped[n][0] ^ 8]) + flipped[n][1:]
            probes.append((index, size, leaf, flipped, good))
        assert [p for p in probes if merkle.verify_inclusion(*p)] == []
    for m, n, path in CONSISTENCY[1:]:
        proof, one, two = hx(path), ROOTS[m], ROOTS[n]
        bad = [(m - 1, n, one, two, proof), (m + 1, n, one, two, proof),
               (m ^ 2, n, one, two, proof), (m, n * 2, one, two, proof),
               (m, n // 2, one, two, proof), (m, n, some, two, proof), (m, n, one, some, proof),
               (m, n, two, one, proof), (m, n, one, two, []), (m, n, one, two, [*proof, one]),
               (m, n, one, two, [*proof, two]), (m, n, one, two, [one, *proof]),
               (m, n, one, two, [two, *proof]), (m, n, one, two, [proof[0], *proof]),
               (m, n, one, two, proof[:-1])]
        for k, _ in enumerate(proof):
            flipped = list(proof)
            flipped[k] = bytes([flipped[k][0] ^ 16]) + flipped[k][1:]
            bad.append((m, n, one, two, flipped))
        assert [p[:2] for p in bad if merkle.verify_consistency(*p)] == []


def test_sizes_that_are_always_consistent() -> None:
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])
    assert merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])
    assert not merkle.verify_consistency(4, 3, ROOTS[4], ROOTS[3], [])  # back in time


# --- every proof of every small tree --------------------------------------------------------

SMALL = [f"leaf {i}".encode() for i in range(64)]
SMALL_ROOTS = [merkle.root(SMALL[:n]) for n in range(65)]


def test_the_stream_is_the_recursive_definition() -> None:
    leaves = [bytes([i % 256, i // 256]) for i in range(300)]
    tree = merkle.TreeHasher()
    for n, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.root() == mth(leaves[:n]), n
    assert tree.size == 300


def test_every_inclusion_proof_up_to_64_leaves_verifies() -> None:
    for size in range(1, 65):
        for index in range(size):
            proof = merkle.inclusion_proof(SMALL[:size], index)
            assert len(proof) == len(merkle.inclusion_ranges(index, size))
            assert merkle.verify_inclusion(index, size, merkle.leaf_hash(SMALL[index]), proof,
                                           SMALL_ROOTS[size]), (index, size)


def test_every_consistency_proof_up_to_64_leaves_verifies() -> None:
    for n in range(65):
        for m in range(n + 1):
            proof = merkle.consistency_proof(SMALL[:n], m)
            assert merkle.verify_consistency(m, n, SMALL_ROOTS[m], SMALL_ROOTS[n], proof), (m, n)


def test_streamed_proofs_are_the_proofs_in_memory() -> None:
    """RangeHasher fed every leaf once gives the proofs computed from the leaves in memory."""
    hashes = [merkle.leaf_hash(leaf) for leaf in SMALL]
    for n in range(1, 65):
        for m in range(n + 1):
            streamed = merkle.RangeHasher(merkle.consistency_ranges(m, n))
            for hashed in hashes[:n]:
                streamed.append_hash(hashed)
            assert streamed.roots() == merkle.consistency_proof(SMALL[:n], m), (m, n)
    lacking = merkle.RangeHasher([(0, 4)])
    lacking.append_hash(hashes[0])
    with pytest.raises(ValueError, match="only 1 leaves"):
        lacking.roots()


@pytest.mark.parametrize("block", [1, 2, 4, 8, 32])
def test_block_roots_rebuild_the_root(block: int) -> None:
    """The roots of aligned blocks of 2^j leaves (the last shorter) make the tree's root."""
    for n in range(0, 65):
        blocks = [merkle.root(SMALL[s:min(s + block, n)]) for s in range(0, n, block)]
        assert merkle.root_of_hashes(blocks) == SMALL_ROOTS[n], (block, n)


def test_the_frontier_is_the_compact_range() -> None:
    """testonly/constants.go, CompactTrees: the perfect subtrees a tree of n leaves holds."""
    compact = [[], [NODES[0][0]], [NODES[1][0]], [NODES[1][0], NODES[0][2]], [NODES[2][0]],
               [NODES[2][0], NODES[0][4]], [NODES[2][0], NODES[1][2]],
               [NODES[2][0], NODES[1][2], NODES[0][6]], [NODES[3][0]]]
    tree = merkle.TreeHasher()
    for n in range(9):
        assert tree.frontier() == compact[n], n
        if n < 8:
            tree.append(LEAVES[n])


def test_the_stack_stays_logarithmic() -> None:
    """What a pass over a store holds: one root per binary digit of the count."""
    tree = merkle.TreeHasher()
    deepest = 0
    for i in range(2**17 + 5):
        tree.append_hash(hashlib.sha256(i.to_bytes(4, "big")).digest())
        deepest = max(deepest, len(tree.frontier()))
    assert deepest == 17 and tree.size == 2**17 + 5 and len(tree.frontier()) == 3


def test_a_split_point_is_the_largest_power_of_two_below() -> None:
    assert [merkle.split_point(n) for n in (2, 3, 4, 5, 8, 9, 1000)] == [1, 2, 2, 4, 4, 8, 512]
    with pytest.raises(ValueError):
        merkle.split_point(1)
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(6, 5)


def test_an_event_leaf_is_the_utf8_of_its_hash_text() -> None:
    text = "sha256:" + "ab" * 32
    assert merkle.event_leaf(text) == text.encode("ascii")
    assert merkle.leaf_hash(merkle.event_leaf(text)) == hashlib.sha256(
        b"\x00" + text.encode()).digest()


# --- proofs that must fail (hypothesis) ------------------------------------------------------

# distinct leaves: with repeated ones two proofs can be equal by content (e.g. the proof
# from 1 to 2 and from 2 to 3 of x, x, x are both [leaf_hash(x)])
leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=80, unique=True)


def _shape(index: int, size: int) -> list[bool]:
    """Which side each node of the leaf's path is on."""
    return [end <= index for _, end in merkle.inclusion_ranges(index, size)]


@settings(max_examples=examples(200), deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_a_changed_leaf_proof_or_size_fails_inclusion(leaves: list[bytes],
                                                      data: st.DataObject) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof, top = merkle.inclusion_proof(leaves, index), merkle.root(leaves)
    hashed = merkle.leaf_hash(leaves[index])
    assert merkle.verify_inclusion(index, size, hashed, proof, top)
    other = data.draw(st.binary(max_size=12).filter(lambda b: b != leaves[index]))
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(other), proof, top)
    if proof:
        n = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        changed = list(proof)
        changed[n] = changed[n][:bit // 8] + bytes([changed[n][bit // 8] ^ (1 << bit % 8)]) + \
            changed[n][bit // 8 + 1:]
        assert not merkle.verify_inclusion(index, size, hashed, changed, top)
    # another size proves the leaf only where its path has the same shape, never at twice or
    # half the size (the depth changes)
    wrong = data.draw(st.integers(1, 2 * size).filter(lambda s: s != size))
    same_shape = index < wrong and _shape(index, wrong) == _shape(index, size)
    assert merkle.verify_inclusion(index, wrong, hashed, proof, top) == same_shape
    assert not merkle.verify_inclusion(index, 2 * size, hashed, proof, top)
    assert not merkle.verify_inclusion(index, size // 2, hashed, proof, top)


@settings(max_examples=examples(200), deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_a_changed_leaf_proof_or_size_fails_consistency(leaves: list[bytes],
                                                        data: st.DataObject) -> None:
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    proof = merkle.consistency_proof(leaves, m)
    old, new = merkle.root(leaves[:m]), merkle.root(leaves)
    assert merkle.verify_consistency(m, n, old, new, proof)
    # the old tree with one leaf changed is not a prefix of the new one
    where = data.draw(st.integers(0, m - 1))
    other = data.draw(st.binary(max_size=12).filter(lambda b: b != leaves[where]))
    changed_old = merkle.root([*leaves[:where], other, *leaves[where + 1:m]])
    assert not merkle.verify_consistency(m, n, changed_old, new, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        flipped = list(proof)
        flipped[k] = bytes([flipped[k][0] ^ 16]) + flipped[k][1:]
        assert not merkle.verify_consistency(m, n, old, new, flipped)
    # other sizes with the roots of those sizes: this proof proves none of them
    more = data.draw(st.lists(st.binary(min_size=13, max_size=16), max_size=40, unique=True))
    grown = [*leaves, *more]  # still distinct: the leaves are at most 12 bytes long
    n2 = data.draw(st.integers(1, len(grown)))
    m2 = data.draw(st.integers(0, n2))
    if (m2, n2) != (m, n) and proof:
        assert not merkle.verify_consistency(m2, n2, merkle.root(grown[:m2]),
                                             merkle.root(grown[:n2]), proof)
    # and the sizes verify_test.go probes fail even with the true roots of (m, n)
    for m3, n3 in ((m - 1, n), (m + 1, n), (m ^ 2, n), (m, 2 * n), (m, n // 2)):
        if (m3, n3) != (m, n) and proof:
            assert not merkle.verify_consistency(m3, n3, old, new, proof), (m3, n3)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 16, 31, 33, 64, 100])
def test_a_level_tree_gives_the_proofs_of_the_definition(size: int) -> None:
    leaves = [f"leaf {i}".encode() for i in range(size)]
    tree = merkle.LevelTree([merkle.leaf_hash(leaf) for leaf in leaves])
    assert tree.root() == merkle.root(leaves)
    for index in range(size):
        assert tree.inclusion_proof(index) == merkle.inclusion_proof(leaves, index)
    for old in range(size + 1):
        assert tree.consistency_proof(old) == merkle.consistency_proof(leaves, old)


def test_a_level_tree_refuses_a_range_no_proof_lists() -> None:
    tree = merkle.LevelTree([merkle.leaf_hash(b"x")] * 7)
    with pytest.raises(ValueError, match="neither a block"):
        tree.range_root(1, 4)
    assert merkle.LevelTree([]).root() == merkle.EMPTY_ROOT
