"""The drift check counts traffic in DuckDB; the reference's definition of a bin is numpy's.
They must agree value for value, nulls, NaN and infinities included."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.drift.features import binned_counts, numeric_columns
from modelledger.drift.profile import numeric_counts, numeric_profile
from modelledger.tabular import connect

values = st.lists(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64)), max_size=80
)


@settings(max_examples=60, deadline=None)
@given(reference=values.filter(lambda v: any(x is not None for x in v)), current=values)
def test_duckdb_bins_match_the_reference_definition(reference, current):
    ref = numeric_profile(np.array([math.nan if x is None else x for x in reference]))
    con = connect()
    try:
        con.execute("CREATE TABLE t (x DOUBLE)")
        if current:
            con.executemany("INSERT INTO t VALUES (?)", [[x] for x in current])
        counts, nulls = binned_counts(con, "t", {"x": ref.edges})["x"]
        as_array = numeric_columns(con, "t", ["x"])["x"]
    finally:
        con.close()
    expected, expected_nulls = numeric_counts(ref, as_array)
    assert counts == expected
    assert nulls == expected_nulls
