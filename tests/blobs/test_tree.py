"""Trees: the fast canonical form must be the canonical JSON, byte for byte."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.blobs.tree import Tree, TreeEntry
from modelledger.core.canonical import canonical_json, sha256_hex
from modelledger.core.errors import InvalidInput

segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
entry = st.builds(
    TreeEntry,
    path=st.lists(segment, min_size=1, max_size=3).map("/".join),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    size=st.integers(0, 2**40),
    mode=st.sampled_from([0o644, 0o755]),
)


@given(st.lists(entry, max_size=20, unique_by=lambda e: e.path))
def test_fast_canonical_equals_canonical_json(entries):
    tree = Tree.of(entries)
    assert tree.canonical() == canonical_json(tree.to_json())
    assert tree.sha256 == sha256_hex(canonical_json(tree.to_json()))
    assert Tree.from_json(tree.to_json()) == tree


@given(st.lists(entry, min_size=2, max_size=10, unique_by=lambda e: e.path), st.randoms())
def test_order_of_listing_does_not_change_the_tree(entries, rnd):
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert Tree.of(shuffled).sha256 == Tree.of(entries).sha256


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd"])
def test_paths_that_escape_are_refused(path):
    with pytest.raises(InvalidInput, match="escapes"):
        Tree.of([TreeEntry(path, "0" * 64, 1, 0o644)])
