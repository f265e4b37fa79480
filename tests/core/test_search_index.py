"""The rows search filters on: text as the canonical JSON of the value (a string as it is),
numbers kept as numbers, nested keys flattened, no two rows alike."""

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.canonical import canonical_value
from modelledger.core.search_index import TEXT_LIMIT, as_text, param_rows

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _expected(value):
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    return (
        text if len(text) <= TEXT_LIMIT else "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    )


@given(values)
def test_text_is_the_compact_json_of_the_canonical_value(value):
    value = canonical_value(value)
    assert as_text(value) == _expected(value)


@given(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=6))
def test_rows_are_unique_and_numbers_kept(params):
    params = canonical_value(params)
    rows = param_rows(params)
    assert len({(r.key, r.text) for r in rows}) == len(rows)
    for r in rows:
        if r.num is not None and not r.text.startswith("sha256:"):
            assert float(json.loads(r.text)) == r.num


def test_nested_keys_join_with_dots_and_a_clash_keeps_both():
    rows = param_rows({"a.b": 1, "a": {"b": 2}, "c": [1, 2], "d": {}})
    assert sorted((r.key, r.text, r.num) for r in rows) == [
        ("a.b", "1", 1.0), ("a.b", "2", 2.0), ("c", "[1,2]", None), ("d", "{}", None),
    ]  # fmt: skip
