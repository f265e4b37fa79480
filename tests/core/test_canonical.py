import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.canonical import canonical_json, digest
from modelledger.core.errors import InvalidInput

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


def json_equal(a, b):
    """Equality as JSON sees it: like Python's, except that true/false are not the numbers 1/0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@given(json_values, json_values)
def test_equal_values_give_equal_bytes_and_ids(a, b):
    if json_equal(a, b):
        assert canonical_json(a) == canonical_json(b)
        assert digest(a) == digest(b)
    if canonical_json(a) == canonical_json(b):
        assert json_equal(a, b)


@given(json_values)
def test_equal_but_differently_built_values_agree(value):
    """1 and 1.0 (and -0.0 and 0) are one JSON number; the bytes must not tell them apart."""

    def floaty(v):
        if isinstance(v, int) and not isinstance(v, bool) and float(v) == v:
            return float(v)
        if isinstance(v, dict):
            return {k: floaty(x) for k, x in v.items()}
        if isinstance(v, list):
            return [floaty(x) for x in v]
        return v

    assert canonical_json(floaty(value)) == canonical_json(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_and_the_integer_it_equals_are_one_value(x):
    if x.is_integer():
        assert canonical_json(x) == canonical_json(int(x))


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
    assert canonical_json(1e300) == str(int(1e300)).encode()  # integral: written as the integer
    assert canonical_json(2.5e-300) == b"2.5e-300"
    assert canonical_json((1, 2)) == b"[1,2]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_nan_and_infinity_are_refused(bad):
    with pytest.raises(InvalidInput, match="NaN and Infinity"):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [{1: "a"}, {"s": {1, 2}}, {"b": b"bytes"}])
def test_non_json_values_are_refused(bad):
    with pytest.raises(InvalidInput):
        canonical_json(bad)


_any_values = st.recursive(
    scalars | st.floats() | st.sampled_from([1.0, -0.0, 2.5e300]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_any_values)
def test_the_quick_path_agrees_with_the_careful_one(value):
    """``canonical_value`` skips building error paths; it must accept, normalise and refuse
    exactly what the path-naming ``_normalise`` does."""
    from modelledger.core.canonical import _normalise, canonical_value

    try:
        expected = _normalise(value, "")
    except InvalidInput as exc:
        with pytest.raises(InvalidInput) as raised:
            canonical_value(value)
        assert str(raised.value) == str(exc)
        return
    assert canonical_value(value) == expected
