"""Drift statistics: each function against scipy (a dev-only dependency), the properties drift
reports rely on (bounds, symmetry, scale invariance, finiteness with empty bins) and the refusal
of malformed counts."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import spatial, special, stats

from modelledger.drift.stats import (
    chi2_sf,
    chi_square,
    js_distance,
    kolmogorov_sf,
    ks_from_bins,
    psi,
)

FAST = settings(max_examples=150, deadline=None)


def _nonempty(counts: list[float]) -> list[float]:
    """A side must have observations: give an all-zero draw one."""
    return counts if math.fsum(counts) > 0 else [1.0, *counts[1:]]


def _unzip(bins: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    return _nonempty([r for r, _ in bins]), _nonempty([c for _, c in bins])


def _pairs(element: st.SearchStrategy[float], max_bins: int = 60) -> st.SearchStrategy:
    """Two count vectors over the same bins, each with a positive total (drawn bin by bin, which
    keeps generation cheap enough for a fast suite)."""
    return st.lists(st.tuples(element, element), min_size=1, max_size=max_bins).map(_unzip)


# Integer counts (what histograms produce), zeros included so that empty bins turn up often.
COUNTS = st.one_of(st.just(0.0), st.integers(0, 10**6).map(float))
INT_PAIRS = _pairs(COUNTS, max_bins=40)
# Any valid weights, down to subnormals: the bounds must hold for all of them.
WEIGHTS = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
FLOAT_PAIRS = _pairs(st.one_of(st.just(0.0), WEIGHTS))
# scipy is an oracle only for weights of ordinary size: on subnormals its mixture (p + q)/2
# underflows (jensenshannon returns inf) and chi2_contingency refuses a zero expectation.
ORDINARY_PAIRS = _pairs(st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e12)), 40)
SCALES = st.integers(2, 10_000).map(float)


def _samples(counts: list[float]) -> np.ndarray:
    """Integer bin counts back to a sample of bin indices (for scipy's unbinned KS)."""
    return np.repeat(np.arange(len(counts)), np.array(counts, dtype=np.int64))


# --- PSI ---------------------------------------------------------------------------------------


def test_psi_known_value():
    # Hand computation: (0.6−0.5)·ln(0.6/0.5) + (0.4−0.5)·ln(0.4/0.5).
    expected = 0.1 * math.log(1.2) - 0.1 * math.log(0.8)
    assert psi([50, 50], [60, 40]) == pytest.approx(expected, rel=1e-12)


def test_psi_vanished_category_is_large_but_finite():
    value = psi([50, 50], [100, 0])
    assert math.isfinite(value)
    assert value > 0.2
    expected = 0.5 * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)
    # A brand-new category is the same situation seen from the other side.
    assert psi([100, 0], [50, 50]) == value


def test_psi_eps_sets_the_penalty_for_an_empty_bin():
    assert psi([50, 50], [100, 0], eps=1e-6) > psi([50, 50], [100, 0], eps=1e-2)


@FAST
@given(INT_PAIRS)
def test_psi_is_the_symmetrised_kl_divergence_when_no_bin_is_empty(pair):
    ref, cur = pair
    if 0.0 in ref or 0.0 in cur:
        ref, cur = [r + 1 for r in ref], [c + 1 for c in cur]
    expected = stats.entropy(cur, ref) + stats.entropy(ref, cur)
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@FAST
@given(FLOAT_PAIRS)
def test_psi_is_finite_non_negative_and_symmetric(pair):
    ref, cur = pair
    value = psi(ref, cur)
    assert math.isfinite(value)
    assert value >= 0.0
    assert psi(cur, ref) == value


@FAST
@given(FLOAT_PAIRS)
def test_psi_of_a_distribution_with_itself_is_zero(pair):
    ref, _ = pair
    assert psi(ref, ref) == 0.0


@FAST
@given(INT_PAIRS, SCALES)
def test_psi_ignores_the_sample_sizes(pair, scale):
    ref, cur = pair
    scaled = psi([r * scale for r in ref], [c * scale for c in cur])
    assert scaled == pytest.approx(psi(ref, cur), rel=1e-12, abs=1e-15)


def test_psi_rejects_a_bad_eps():
    for eps in (0.0, -1e-4, math.nan, math.inf):
        with pytest.raises(ValueError, match="eps"):
            psi([1, 2], [2, 1], eps=eps)


# --- Jensen–Shannon ----------------------------------------------------------------------------


@FAST
@given(ORDINARY_PAIRS)
def test_js_distance_matches_scipy(pair):
    ref, cur = pair
    # scipy takes the square root of a divergence that rounding can leave a hair below 0.
    with np.errstate(invalid="ignore"):
        expected = float(spatial.distance.jensenshannon(ref, cur, base=2))
    expected = 0.0 if math.isnan(expected) else expected
    value = js_distance(ref, cur)
    # The square root magnifies rounding near 0, so compare divergences tightly as well.
    assert value**2 == pytest.approx(expected**2, abs=1e-12)
    assert value == pytest.approx(expected, abs=1e-6)


@FAST
@given(FLOAT_PAIRS)
def test_js_distance_is_bounded_and_symmetric(pair):
    ref, cur = pair
    value = js_distance(ref, cur)
    assert 0.0 <= value <= 1.0
    assert js_distance(cur, ref) == value
    assert js_distance(ref, ref) == 0.0


@FAST
@given(INT_PAIRS, SCALES)
def test_js_distance_ignores_the_sample_sizes(pair, scale):
    ref, cur = pair
    scaled = js_distance([r * scale for r in ref], [c * scale for c in cur])
    assert scaled == pytest.approx(js_distance(ref, cur), rel=1e-12, abs=1e-15)


def test_js_distance_extremes():
    assert js_distance([5, 0], [0, 7]) == 1.0
    assert js_distance([1, 2, 3], [2, 4, 6]) == 0.0
    # Disjoint support is disjoint however small the weight (scipy answers inf here).
    assert js_distance([1.0, 0.0], [0.0, 2.2e-311]) == 1.0


# --- Kolmogorov distribution and KS ------------------------------------------------------------


def test_kolmogorov_sf_matches_scipy_on_a_grid():
    xs = np.linspace(0.0, 10.0, 4001)
    ours = np.array([kolmogorov_sf(float(x)) for x in xs])
    np.testing.assert_allclose(ours, special.kolmogorov(xs), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours, stats.kstwobign.sf(xs), rtol=0, atol=1e-9)


@FAST
@given(st.floats(min_value=0.0, max_value=10.0))
def test_kolmogorov_sf_matches_scipy(x):
    assert kolmogorov_sf(x) == pytest.approx(float(special.kolmogorov(x)), rel=1e-9, abs=1e-9)


def test_kolmogorov_sf_limits():
    assert kolmogorov_sf(-1.0) == 1.0
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(1e-300) == 1.0
    assert kolmogorov_sf(30.0) == 0.0
    assert kolmogorov_sf(math.inf) == 0.0
    with pytest.raises(ValueError):
        kolmogorov_sf(math.nan)


@FAST
@given(_pairs(st.integers(0, 30).map(float), max_bins=12))
def test_ks_statistic_matches_scipy_on_the_expanded_samples(pair):
    ref, cur = pair
    d, _ = ks_from_bins(ref, cur)
    # the statistic alone is compared; scipy warns when its exact p-value cannot be computed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.ks_2samp(_samples(ref), _samples(cur)).statistic
    assert d == pytest.approx(float(expected), abs=1e-12)


@FAST
@given(INT_PAIRS)
def test_ks_p_value_is_stephens_corrected_asymptotic_tail(pair):
    ref, cur = pair
    d, p = ks_from_bins(ref, cur)
    n, m = sum(ref), sum(cur)
    en = math.sqrt(n * m / (n + m))
    expected = 1.0 if d == 0 else float(stats.kstwobign.sf((en + 0.12 + 0.11 / en) * d))
    assert p == pytest.approx(expected, abs=1e-9)


@FAST
@given(FLOAT_PAIRS)
def test_ks_is_bounded(pair):
    ref, cur = pair
    d, p = ks_from_bins(ref, cur)
    assert 0.0 <= d <= 1.0
    assert 0.0 <= p <= 1.0
    assert ks_from_bins(ref, ref) == (0.0, 1.0)


@FAST
@given(INT_PAIRS, SCALES)
def test_ks_statistic_ignores_the_sample_sizes(pair, scale):
    ref, cur = pair
    d_scaled, _ = ks_from_bins([r * scale for r in ref], [c * scale for c in cur])
    assert d_scaled == pytest.approx(ks_from_bins(ref, cur)[0], rel=1e-12, abs=1e-15)


def _binned_normals(shift: float, size: int = 5000) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(20240510)
    edges = np.linspace(-4.0, 4.5, 41)
    ref = np.histogram(np.clip(rng.normal(0.0, 1.0, size), -4.0, 4.5), edges)[0]
    cur = np.histogram(np.clip(rng.normal(shift, 1.0, size), -4.0, 4.5), edges)[0]
    return ref.astype(float).tolist(), cur.astype(float).tolist()


def test_ks_detects_a_shifted_normal():
    d, p = ks_from_bins(*_binned_normals(0.5))
    assert 0.15 < d < 0.25  # the population value is Φ(0.25) − Φ(−0.25) ≈ 0.197
    assert p < 1e-30


def test_ks_does_not_flag_the_same_normal():
    _, p = ks_from_bins(*_binned_normals(0.0))
    assert p > 0.01


# --- chi-square --------------------------------------------------------------------------------


def test_chi2_sf_matches_scipy_on_a_grid():
    for dof in (*range(1, 31), 50, 99, 100, 101, 150, 199, 200):
        spread = math.sqrt(2 * dof)
        xs = np.concatenate(
            [
                np.linspace(0.0, 2000.0, 81),
                np.linspace(max(0.0, dof - 5 * spread), dof + 12 * spread, 60),
                np.geomspace(1e-6, 5.0, 10),
            ]
        )
        expected = stats.chi2.sf(xs, dof)
        ours = np.array([chi2_sf(float(x), dof) for x in xs])
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
        tail = expected > 1e-300
        np.testing.assert_allclose(ours[tail], expected[tail], rtol=1e-6, atol=0)


@FAST
@given(st.floats(min_value=0.0, max_value=2000.0), st.integers(1, 200))
def test_chi2_sf_matches_scipy(x, dof):
    expected = float(stats.chi2.sf(x, dof))
    value = chi2_sf(x, dof)
    assert value == pytest.approx(expected, abs=1e-9)
    if expected > 1e-300:
        assert value == pytest.approx(expected, rel=1e-6)


def test_chi2_sf_limits_and_bad_arguments():
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-2.0, 3) == 1.0
    assert chi2_sf(5e-324, 1) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    for dof in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="dof"):
            chi2_sf(1.0, dof)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        chi2_sf(math.nan, 3)


def _scipy_chi_square(ref: list[float], cur: list[float]) -> tuple[float, int, float] | None:
    kept = [(r, c) for r, c in zip(ref, cur, strict=True) if r + c > 0]
    if len(kept) < 2:
        return None
    result = stats.chi2_contingency(np.array(kept).T, correction=False)
    return float(result.statistic), int(result.dof), float(result.pvalue)


@FAST
@given(st.one_of(INT_PAIRS, ORDINARY_PAIRS))
def test_chi_square_matches_scipy(pair):
    ref, cur = pair
    statistic, dof, p = chi_square(ref, cur)
    expected = _scipy_chi_square(ref, cur)
    if expected is None:
        assert (statistic, dof, p) == (0.0, 0, 1.0)
        return
    assert statistic == pytest.approx(expected[0], rel=1e-9, abs=1e-9)
    assert dof == expected[1]
    assert p == pytest.approx(expected[2], abs=1e-9)


def test_chi_square_known_table():
    statistic, dof, p = chi_square([10, 20, 30], [30, 20, 10])
    assert statistic == pytest.approx(20.0)
    assert dof == 2
    assert p == pytest.approx(math.exp(-10.0))  # χ²₂ tail is exp(−x/2)


@FAST
@given(FLOAT_PAIRS)
def test_chi_square_is_defined_for_any_valid_weights(pair):
    statistic, dof, p = chi_square(*pair)
    assert math.isfinite(statistic)
    assert statistic >= 0.0
    assert 0 <= dof < len(pair[0])
    assert 0.0 <= p <= 1.0


def test_chi_square_with_a_subnormal_weight():
    # A perfect split gives χ² = N; the textbook (O − E)²/E would divide by an expectation
    # rounded to 0 here.
    statistic, dof, p = chi_square([1.0, 0.0], [0.0, 5e-324])
    assert (statistic, dof) == (pytest.approx(1.0), 1)
    assert p == pytest.approx(chi2_sf(1.0, 1))


def test_chi_square_drops_columns_empty_on_both_sides():
    assert chi_square([10, 0, 20, 0], [15, 0, 5, 0]) == chi_square([10, 20], [15, 5])
    assert chi_square([0, 7, 0], [0, 3, 0]) == (0.0, 0, 1.0)


# --- malformed counts --------------------------------------------------------------------------

ALL = [psi, js_distance, ks_from_bins, chi_square]


@pytest.mark.parametrize("function", ALL)
@pytest.mark.parametrize(
    ("ref", "cur", "message"),
    [
        ([1, 2, 3], [1, 2], "same bins"),
        ([1, -1, 3], [1, 2, 3], "reference bin 1"),
        ([1, 2, 3], [1, 2, -0.5], "current bin 2"),
        ([1, math.nan, 3], [1, 2, 3], "reference bin 1"),
        ([1, 2, 3], [math.inf, 2, 3], "current bin 0"),
        ([0, 0, 0], [1, 2, 3], "reference has no observations"),
        ([1, 2, 3], [0, 0, 0], "current has no observations"),
        ([], [], "no observations"),
        ([1e308, 1e308], [1, 1], "largest float"),
    ],
)
def test_malformed_counts_are_refused(function, ref, cur, message):
    with pytest.raises(ValueError, match=message):
        function(ref, cur)
