"""RFC 6962 Merkle tree code against the Certificate Transparency reference vectors, plus proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.lib import merkle
from custody.lib.canonical_json import NotCanonicalizable, canonical_json

# The 8 leaves used by RFC 6962 implementations' tests (certificate-transparency, transparency-dev).
LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
]]
ROOTS = [  # root of the tree over the first 1..8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_empty_tree_root_is_sha256_of_empty_string() -> None:
    assert merkle.root_from_leaf_hashes([]) == hashlib.sha256(b"").digest()
    assert merkle.CompactRange().root().hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_reference_vectors(size: int) -> None:
    assert merkle.root_from_leaf_hashes(HASHES[:size]).hex() == ROOTS[size - 1]
    compact = merkle.CompactRange()
    for digest in HASHES[:size]:
        compact.append(digest)
    assert compact.root().hex() == ROOTS[size - 1]


def test_reference_inclusion_proof() -> None:
    proof = merkle.inclusion_proof(HASHES, 0)
    assert [p.hex() for p in proof] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_reference_consistency_proofs() -> None:
    assert [p.hex() for p in merkle.consistency_proof(HASHES, 1)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in merkle.consistency_proof(HASHES, 6)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [p.hex() for p in merkle.consistency_proof(HASHES, 2)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@given(size=st.integers(min_value=1, max_value=70), data=st.data())
@settings(max_examples=150, deadline=None)
def test_every_inclusion_proof_verifies_and_corruptions_fail(size: int, data: st.DataObject) -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    root = merkle.root_from_leaf_hashes(hashes)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = merkle.inclusion_proof(hashes, index)
    merkle.verify_inclusion(hashes[index], index, size, proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
    if proof:
        bad = list(proof)
        at = data.draw(st.integers(min_value=0, max_value=len(bad) - 1))
        bad[at] = bytes(32)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[index], index, size, bad, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[index], index, size, proof[:-1], root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(hashes[index], index, size, [*proof, bytes(32)], root)
    if size > 1:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(hashes[index], (index + 1) % size, size, proof, root)


@given(new_size=st.integers(min_value=1, max_value=70), data=st.data())
@settings(max_examples=150, deadline=None)
def test_every_consistency_proof_verifies_and_corruptions_fail(new_size: int, data: st.DataObject) -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(new_size)]
    old_size = data.draw(st.integers(min_value=1, max_value=new_size))
    old_root = merkle.root_from_leaf_hashes(hashes[:old_size])
    new_root = merkle.root_from_leaf_hashes(hashes)
    proof = merkle.consistency_proof(hashes, old_size)
    merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    if old_size < new_size:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, bytes(32), new_root, proof)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, old_root, bytes(32), proof)
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[at] = bytes(32)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, old_root, new_root, bad)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
    with pytest.raises(merkle.ProofError, match="backwards"):
        merkle.verify_consistency(new_size, old_size - 1, new_root, old_root, proof)


def test_canonical_json_rfc8785_subset() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "x"], "é": "\u00e9\n\"\\"}) == (
        '{"a":[true,null,"x"],"b":1,"é":"é\\n\\"\\\\"}'.encode()
    )
    # keys sort by UTF-16 code units: U+1F600 (surrogates D83D...) sorts before U+FB01
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()
    assert canonical_json({"c": "\u0001"}) == b'{"c":"\\u0001"}'
    with pytest.raises(NotCanonicalizable):
        canonical_json({"f": 1.5})
    with pytest.raises(NotCanonicalizable):
        canonical_json({1: "x"})


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127), max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(_json_values)
@settings(max_examples=300, deadline=None)
def test_fast_canonical_encoder_agrees_with_the_reference(value: object) -> None:
    from custody.lib.canonical_json import canonical_json_fast

    assert canonical_json_fast(value) == canonical_json(value)
