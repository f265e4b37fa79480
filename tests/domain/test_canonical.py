import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.domain.canonical import canonical_json, digest
from modelledger.domain.errors import InvalidInput

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


def _shuffled(value):
    """The same value with every mapping's insertion order reversed."""
    if isinstance(value, dict):
        return {k: _shuffled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_shuffled(v) for v in value]
    return value


@given(json_values)
def test_key_order_never_changes_bytes(value):
    assert canonical_json(value) == canonical_json(_shuffled(value))


@given(json_values)
def test_round_trip_is_a_fixed_point(value):
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


@given(json_values, json_values)
def test_equal_values_give_equal_bytes_and_ids(a, b):
    if a == b:
        assert canonical_json(a) == canonical_json(b)
        assert digest(a) == digest(b)
    if canonical_json(a) == canonical_json(b):
        assert json.loads(canonical_json(a)) == json.loads(canonical_json(b))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(x):
    assert float(json.loads(canonical_json(x))) == x


@given(st.text())
def test_unicode_is_utf8_not_escaped(s):
    out = canonical_json({"k": s})
    assert out.decode("utf-8") == json.dumps({"k": s}, ensure_ascii=False, separators=(",", ":"))


def test_known_bytes():
    assert (
        canonical_json({"b": 1, "a": [1.5, "é", None, True]})
        == '{"a":[1.5,"é",null,true],"b":1}'.encode()
    )
    assert canonical_json(1.0) == b"1" == canonical_json(1)
    assert canonical_json(-0.0) == b"0"
    assert canonical_json(0.1) == b"0.1"
    assert canonical_json(1e300) == b"1e+300"
    assert canonical_json((1, 2)) == b"[1,2]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_nan_and_infinity_are_refused(bad):
    with pytest.raises(InvalidInput, match="NaN and Infinity"):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [{1: "a"}, {"s": {1, 2}}, {"b": b"bytes"}])
def test_non_json_values_are_refused(bad):
    with pytest.raises(InvalidInput):
        canonical_json(bad)
