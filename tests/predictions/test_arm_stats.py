"""Arm statistics: percentiles, proportions and the verdict's refusal to name a winner on thin
data. The shared helpers (Wilson interval, time windows, label matching) are tested in
tests/core/test_stats.py."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.predictions.arm_stats import (
    ArmSummary,
    Latency,
    Proportion,
    arm_order,
    percentile,
    percentile_position,
    verdict,
)

# --- percentiles -------------------------------------------------------------------------------


def test_percentiles_of_known_values():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0], 0.5) == 1.5


def test_percentile_position():
    assert percentile_position(101, 0.5) == (50, 0.0)
    index, fraction = percentile_position(10, 0.95)
    assert index == 8 and fraction == pytest.approx(0.55)
    with pytest.raises(ValueError):
        percentile_position(0, 0.5)
    with pytest.raises(ValueError):
        percentile_position(3, 1.5)


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=200),
    st.sampled_from([1, 5, 50, 95, 99]),
)
def test_percentile_matches_inclusive_quantiles(values, pct):
    """Linear interpolation as numpy's default and PostgreSQL's percentile_cont: the same cut
    points as ``statistics.quantiles(method="inclusive")``."""
    values.sort()
    expected = statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
    assert percentile(values, pct / 100) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert values[0] <= percentile(values, pct / 100) <= values[-1]


# --- proportions -----------------------------------------------------------------------------


def test_proportion_describes_itself():
    p = Proportion.of(912, 1000)
    assert p.estimate == 0.912
    assert p.describe() == "0.912 [0.89, 0.93]"
    assert p.to_json()["n"] == 1000 and p.to_json()["correct"] == 912
    assert not p.overlaps(Proportion.of(871 - 100, 1000))
    assert p.overlaps(Proportion.of(905, 1000))


# --- the verdict -------------------------------------------------------------------------------


def arm(name, label, correct=None, n=0, mode="served", count=100):
    return ArmSummary(
        arm=name if mode == "served" else None,
        mode=mode,
        version_id="mv-" + label.encode().hex().ljust(64, "0"),
        label=label,
        count=count,
        share=None,
        latency=Latency(0),
        mean_confidence=None,
        confidence_n=0,
        quality=Proportion.of(correct, n) if n else None,
    )


def test_verdict_names_the_better_arm_when_intervals_do_not_overlap():
    a = arm("primary", "fraud@2", 871, 1000)
    b = arm("canary-1", "fraud@3", 912, 1000)
    v = verdict([a, b])
    assert v.significant and v.winner is b and v.loser is a
    assert v.text.startswith("fraud@3 is better: 0.912 [0.89, 0.93] vs 0.871 [0.85, 0.89]")
    assert v.to_json()["winner"]["label"] == "fraud@3"


def test_verdict_overlapping_intervals_are_not_significant():
    v = verdict([arm("primary", "fraud@2", 90, 100), arm("canary-1", "fraud@3", 93, 100)])
    assert not v.significant and v.winner is None
    assert "not yet significant" in v.text and "overlap" in v.text
    assert "100 feedback row(s)" in v.text


def test_verdict_never_claims_a_winner_on_too_little_feedback():
    # 29 out of 29 against 0 out of 29: the intervals are far apart, but 30 each are needed.
    v = verdict([arm("primary", "fraud@2", 0, 29), arm("canary-1", "fraud@3", 29, 29)])
    assert not v.significant
    assert "too little feedback" in v.text
    assert "fraud@2 (primary) has 29 feedback row(s)" in v.text
    assert "fraud@3 (canary-1) has 29 feedback row(s)" in v.text
    v = verdict([arm("primary", "fraud@2", 0, 300), arm("canary-1", "fraud@3")])
    assert not v.significant and "fraud@3 (canary-1) has 0 feedback" in v.text
    assert (
        verdict([arm("primary", "a", 0, 30), arm("canary-1", "b", 30, 30)], 31).significant is False
    )


def test_verdict_needs_exactly_two_served_arms():
    shadow = arm("x", "fraud@4", 300, 300, mode="shadow")
    one = verdict([arm("primary", "fraud@2", 10, 300), shadow])
    assert not one.significant and "1 served arm(s)" in one.text
    three = verdict(
        [
            arm("primary", "fraud@2", 10, 300),
            arm("canary-1", "fraud@3", 290, 300),
            arm("canary-2", "fraud@4", 150, 300),
        ]
    )
    assert not three.significant and "exactly two" in three.text
    assert verdict([]).text == "no predictions in the window"


def test_arm_names_and_order():
    shadow = arm("ignored", "fraud@4", mode="shadow")
    arms = [
        shadow,
        arm("canary-2", "fraud@3"),
        arm("primary", "fraud@1"),
        arm("canary-1", "fraud@2"),
    ]
    assert [a.name for a in sorted(arms, key=arm_order)] == [
        "primary",
        "canary-1",
        "canary-2",
        "shadow fraud@4",
    ]
    unlabelled = ArmSummary(
        None, "served", "mv-" + "ab" * 32, None, 1, 1.0, Latency(0), None, 0, None
    )
    assert unlabelled.name == "(no arm)" and unlabelled.version == "mv-abababababab"
    assert unlabelled.to_json()["feedback_n"] == 0 and unlabelled.to_json()["quality"] is None
