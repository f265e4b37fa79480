"""RFC 6962 trees: the streaming root equals the recursive definition; every proof the tree
gives verifies, and no altered proof, leaf, index, size or root does."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from modelledger.core import merkle


def mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1, written as the RFC states it (leaves already hashed)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(str(i).encode()) for i in range(n)]


def test_known_answer() -> None:
    # a leaf is sha256(0x00 || data): the empty leaf's hash is fixed by RFC 6962's test vectors
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()


@given(st.integers(min_value=0, max_value=70))
def test_streaming_root_is_the_rfc_root(n: int) -> None:
    leaves = leaves_of(n)
    assert merkle.root_of(leaves) == mth(leaves)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_verify_and_nothing_else_does(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    root = merkle.root_of(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(leaves, i)
    assert len(proof) <= max(1, n.bit_length())
    assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
    other = merkle.leaf_hash(b"not a leaf")
    assert not merkle.verify_inclusion(other, i, n, proof, root)
    if n > 1:
        assert not merkle.verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bent = [*proof[:j], bytes(32), *proof[j + 1 :]]
        assert not merkle.verify_inclusion(leaves[i], i, n, bent, root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[i], i, n, [*proof, bytes(32)], root)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_verify_and_nothing_else_does(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    old_root, new_root = merkle.root_of(leaves[:m]), merkle.root_of(leaves)
    proof = merkle.consistency_proof(leaves, m)
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    # a rewritten history: one old leaf changed gives another old root, which does not verify
    rewritten = [merkle.leaf_hash(b"forged"), *leaves[1:m]]
    assert not merkle.verify_consistency(m, n, merkle.root_of(rewritten), new_root, proof)
    assert not merkle.verify_consistency(m, n, old_root, merkle.leaf_hash(b"x"), proof)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bent = [*proof[:j], bytes(32), *proof[j + 1 :]]
        assert not merkle.verify_consistency(m, n, old_root, new_root, bent)
    if m < n:
        assert not merkle.verify_consistency(m, n, old_root, new_root, [*proof, bytes(32)])
