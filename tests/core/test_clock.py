from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.clock import format_time, parse_time

zones = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-14 * 60, 14 * 60)
)
# years before 1000 and after 9998 would leave the 4-digit, text-sortable form (or overflow
# when converted to UTC)
moments = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 31), timezones=zones
)


@given(moments)
def test_a_timestamp_is_utc_with_microseconds_and_reads_back_as_the_same_instant(moment):
    text = format_time(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(text) == 27 and text.endswith("Z")
    assert parse_time(text) == moment


@given(moments, moments)
def test_timestamps_sort_as_text_in_time_order(a, b):
    assert (format_time(a) < format_time(b)) == (a < b)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))
