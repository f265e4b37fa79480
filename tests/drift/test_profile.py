"""Reference profiles and the judging of drift signals: pure logic, property-tested."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.drift.judge import (
    STATUSES,
    Floor,
    distribution_signal,
    quality_signal,
    status_rank,
    worst,
)
from modelledger.drift.policy import DriftPolicy, parse_drift_policy, slice_rule
from modelledger.drift.profile import (
    FeatureProfile,
    ReferenceProfile,
    categorical_profile,
    category_counts,
    category_token,
    numeric_counts,
    numeric_profile,
)

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=150, deadline=None)
@given(st.lists(floats, max_size=300))
def test_numeric_profile_counts_every_non_null_value(values):
    array = np.asarray(values, dtype=np.float64)
    profile = numeric_profile(array)
    nan = int(np.isnan(array).sum())
    assert profile.rows == len(values)
    assert profile.nulls == nan
    assert sum(profile.counts) == len(values) - nan  # ±inf land in the end bins
    assert len(profile.counts) == len(profile.edges) + 1
    assert list(profile.edges) == sorted(set(profile.edges))
    assert all(math.isfinite(e) for e in profile.edges)
    again, nulls = numeric_counts(profile, array)
    assert again == list(profile.counts) and nulls == nan


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_profile_round_trips_through_json(values):
    feature = numeric_profile(np.asarray(values))
    cats = categorical_profile([("a", 3), (1, 2), (True, 1), (None, 4)])
    profile = ReferenceProfile({"x": feature, "c": cats}, {"kind": "training"}, len(values), cats)
    back = ReferenceProfile.from_json(profile.to_json())
    assert back.to_json() == profile.to_json()
    assert back.sha256() == profile.sha256()


def test_nan_and_inf_in_reference_and_traffic_keep_psi_finite():
    ref = numeric_profile(np.array([1.0, 2.0, 3.0, np.nan, np.inf, -np.inf] * 50))
    assert ref.nulls == 50 and ref.mean is not None and math.isfinite(ref.mean)
    current, nulls = numeric_counts(ref, np.array([np.inf] * 80 + [np.nan] * 20))
    signal = distribution_signal("input", "x", ref, current, nulls, DriftPolicy())
    assert signal.value is not None and math.isfinite(signal.value)
    assert signal.status == "alert"


def test_category_tokens_agree_across_sources():
    assert category_token(1) == category_token(1.0) == category_token("1") == "1"
    assert category_token(True) == "true"
    assert category_token(1.5) == "1.5"


def test_unseen_categories_are_new_only_when_the_reference_was_complete():
    complete = categorical_profile([("a", 60), ("b", 40)])
    found = category_counts(complete, [("a", 50), ("z", 10), (None, 5)])
    assert found.counts == [50, 0, 10] and found.nulls == 5 and found.new == {"z": 10}
    truncated = categorical_profile([("a", 60), ("b", 40)], top_k=1)
    assert truncated.other == 40
    assert category_counts(truncated, [("z", 10)]).new == {}  # may be one of the rare ones


def test_vanished_category_alerts_and_is_named():
    ref = categorical_profile([("north", 300), ("south", 300), ("west", 300)])
    found = category_counts(ref, [("north", 450), ("south", 450)])
    signal = distribution_signal("input", "region", ref, found.counts, 0, DriftPolicy())
    assert signal.status == "alert"
    assert signal.details["vanished_categories"] == ["west"]
    assert "vanished: west" in signal.message


def test_few_observations_are_insufficient_never_ok():
    ref = categorical_profile([("a", 500), ("b", 500)])
    signal = distribution_signal("input", "c", ref, [10, 0, 0], 0, DriftPolicy())
    assert signal.status == "insufficient"
    q = quality_signal("quality", "accuracy", 10, 10, Floor(0.9, "gate"), DriftPolicy())
    assert q.status == "insufficient"


def test_quality_below_floor_alerts():
    policy = DriftPolicy()
    assert quality_signal("slice", "s", 100, 60, Floor(0.8, "gate"), policy).status == "alert"
    assert quality_signal("slice", "s", 100, 90, Floor(0.8, "gate"), policy).status == "ok"
    no_floor = quality_signal("quality", "accuracy", 100, 10, Floor(None, "none set"), policy)
    assert no_floor.status == "ok" and "no floor" in no_floor.message


def test_worst_status():
    assert worst(["ok", "warn", "insufficient"]) == "warn"
    assert worst(["ok", "insufficient"]) == "insufficient"
    assert worst([]) == "insufficient"


def test_one_status_order_worst_first():
    assert STATUSES == ("alert", "warn", "insufficient", "ok")
    assert [status_rank(s) for s in STATUSES] == [3, 2, 1, 0]
    assert worst(list(reversed(STATUSES))) == STATUSES[0]


def test_slice_rules():
    policy = parse_drift_policy({"slices": {"new_routes": {"route": "new"}}})
    assert slice_rule(policy, "new_routes") == {"route": ["new"]}
    assert slice_rule(policy, "region=north") == {"region": ["north"]}
    assert slice_rule(policy, "unknown") is None


def test_feature_profile_labels_line_up_with_counts():
    ref = numeric_profile(np.arange(100, dtype=np.float64))
    assert len(ref.bin_labels()) == len(ref.reference_counts())
    cats = FeatureProfile("categorical", 3, 0, categories=("a", "b"), counts=(2, 1))
    assert cats.bin_labels() == ["a", "b", "other"]


def test_training_key_depends_on_data_label_and_inputs_only():
    from modelledger.drift.profile_key import training_key

    a, b = "ds-" + "a" * 64, "ds-" + "b" * 64
    base = training_key([a, b], {"label": "y"})
    assert training_key([b, a, a], {"label": "y", "intended_use": "x"}) == base
    assert training_key([a], {"label": "y"}) != base
    assert training_key([a, b], {"label": "z"}) != base
    assert training_key([a, b], {"label": "y", "inputs": {"f": "float"}}) != base
