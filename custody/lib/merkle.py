"""RFC 6962 (Certificate Transparency) Merkle tree hashing, inclusion and consistency proofs.

Leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right); the tree over n leaves splits
at the largest power of two below n. Proof verification follows RFC 9162 section 2.1.3/2.1.4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof is malformed or does not verify."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Root of the tree over these leaf hashes, computed bottom-up in O(n) without recursion."""
    if not hashes:
        return EMPTY_ROOT
    # Pair from the left, carrying an odd last node up unchanged: for RFC 6962 this gives the same root
    # as the recursive split at the largest power of two.
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class CompactRange:
    """The right frontier of a growing tree: append leaves one by one, read the root at any time, O(log n)."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[bytes] = []  # roots of perfect subtrees, largest first

    def append(self, leaf_digest: bytes) -> None:
        self.nodes.append(leaf_digest)
        self.size += 1
        size = self.size
        while size % 2 == 0:
            right = self.nodes.pop()
            left = self.nodes.pop()
            self.nodes.append(node_hash(left, right))
            size //= 2

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = node_hash(node, acc)
        return acc


def inclusion_proof(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf `index` in the tree over `hashes` (RFC 6962 PATH)."""
    if not 0 <= index < len(hashes):
        raise ProofError(f"leaf index {index} is outside a tree of size {len(hashes)}")
    return _path(hashes, index)


def _path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(hashes[:k], index), root_from_leaf_hashes(hashes[k:])]
    return [*_path(hashes[k:], index - k), root_from_leaf_hashes(hashes[:k])]


def consistency_proof(hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the tree of old_size leaves is a prefix of the tree over `hashes` (RFC 6962 PROOF)."""
    if not 0 <= old_size <= len(hashes):
        raise ProofError(f"old size {old_size} is outside 0..{len(hashes)}")
    if old_size in (0, len(hashes)):
        return []
    return _subproof(hashes, old_size, True)


def _subproof(hashes: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [root_from_leaf_hashes(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(hashes[:k], m, complete), root_from_leaf_hashes(hashes[k:])]
    return [*_subproof(hashes[k:], m - k, False), root_from_leaf_hashes(hashes[:k])]


def verify_inclusion(leaf_digest: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `proof` shows leaf `index` with this digest is in the tree of `size` with `root`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    acc = leaf_digest
    for node in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree allows")
        if fn % 2 == 1 or fn == sn:
            acc = node_hash(node, acc)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = node_hash(acc, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree needs")
    if acc != root:
        raise ProofError("the inclusion proof does not lead to the tree head's root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless `proof` shows the old tree is a prefix of the new one."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"the tree went backwards: {old_size} -> {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("two tree heads of the same size have different roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    nodes = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a perfect subtree: its root starts the walk
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees allow")
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the trees need")
    if fr != old_root:
        raise ProofError("the consistency proof does not reproduce the old root")
    if sr != new_root:
        raise ProofError("the consistency proof does not reproduce the new root")
