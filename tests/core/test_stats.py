"""The statistics capabilities share: the Wilson interval, time windows (``--since``,
``--window``, durations) and label matching."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.core.stats import label_matches, parse_duration, parse_since, wilson_interval

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


# --- the Wilson interval -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (5, 10, 0.236593, 0.763407),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (1, 1, 0.206549, 1.0),
        (81, 263, 0.255289, 0.366210),
        (950, 1000, 0.934686, 0.961870),
        (871, 1000, 0.848796, 0.890365),
    ],
)
def test_wilson_known_values(k, n, low, high):
    """Against the roots of (p̂ - p)² = z²·p(1 - p)/n, solved independently."""
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-5)
    assert hi == pytest.approx(high, abs=1e-5)


@given(
    st.integers(min_value=1, max_value=10**7).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_wilson_interval_is_within_unit_and_contains_the_share(case):
    k, n = case
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    # Symmetric: the interval for failures mirrors the one for successes.
    flo, fhi = wilson_interval(n - k, n)
    assert lo == pytest.approx(1 - fhi, abs=1e-12)
    assert hi == pytest.approx(1 - flo, abs=1e-12)


@given(st.integers(0, 50), st.integers(1, 50))
def test_wilson_interval_narrows_with_more_data(k, n):
    k = min(k, n)
    lo, hi = wilson_interval(k, n)
    lo10, hi10 = wilson_interval(10 * k, 10 * n)
    assert hi10 - lo10 < hi - lo


def test_wilson_refuses_nonsense():
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


# --- time windows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 3h ", NOW - timedelta(hours=3)),
        ("2024-05-01T08:30:00Z", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
        ("2024-05-01T10:30:00+02:00", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01 08:30", datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),  # naive is UTC
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "24", "h", "-3h", "0h", "3y", "1.5h", "2024-13-01", "nan"]
)
def test_parse_since_refuses_with_the_value(text):
    with pytest.raises(InvalidInput, match=r"--since '.*': expected an ISO-8601 time"):
        parse_since(text, NOW)


def test_parse_since_too_far_back_and_option_name():
    with pytest.raises(InvalidInput, match="too far back"):
        parse_since("99999999d", NOW)
    with pytest.raises(InvalidInput, match="--until 'soon'"):
        parse_since("soon", NOW, "--until")


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "output", "same"),
    [
        ("1", "1", True),
        ("2", "2.0", True),
        ('{"a":1,"b":[2]}', '{"a":1.0,"b":[2.0]}', True),
        ("10000000000000000", "1e+16", True),
        ("0", "-0.0", True),
        ('"fraud"', '"fraud"', True),
        ("1", '{"label":1}', False),
        ("1", "0", False),
        ('"1"', "1", False),
        ("true", "1", False),
    ],
)
def test_label_matches_as_canonical_json(label, output, same):
    assert label_matches(label, output) is same


def test_parse_duration():
    assert parse_duration("90s", "--bucket") == timedelta(seconds=90)
    assert parse_duration(" 2w ", "--bucket") == timedelta(weeks=2)
    with pytest.raises(InvalidInput, match="--bucket '0h': expected a duration"):
        parse_duration("0h", "--bucket")
    with pytest.raises(InvalidInput, match="too long"):
        parse_duration("99999999999w", "--bucket")
