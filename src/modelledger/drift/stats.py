"""Drift statistics over binned feature values: PSI, Jensen–Shannon distance, a binned two-sample
Kolmogorov–Smirnov test and a chi-square test of homogeneity, plus the two distribution tails
they need. Pure: inputs are bin counts, outputs are numbers; no I/O.

Why hand-written rather than scipy: scipy is a development dependency only (the tests check every
function here against it), and the inputs are small (a feature is summarised in at most a few
dozen bins), so plain Python is both fast enough and free of a heavy runtime dependency.

Inputs are two sequences of bin counts of equal length — the reference window and the current
one, bin ``i`` meaning the same bucket or category on both sides. Counts may be fractional
(weighted) but must be finite and non-negative, and each side must have a positive total;
anything else raises :class:`ValueError`.

Definitions, so that every reader gets the same numbers:

- **PSI** ``Σ (q−p)·ln(q/p)`` over the proportions ``p`` (reference) and ``q`` (current), with a
  zero proportion replaced by ``eps`` so that a vanished or brand-new category gives a large but
  finite value. Symmetric in its two arguments and never negative.
- **Jensen–Shannon distance**: the square root of the JS divergence in bits, in ``[0, 1]``.
- **Binned KS**: ``D`` is the largest gap between the two cumulative proportions at a bin
  boundary; its p-value is the asymptotic Kolmogorov tail with Stephens' small-sample correction
  (Numerical Recipes' ``kstwo``). Binning can only hide differences, so ``D`` is at most the
  unbinned statistic.
- **Chi-square** homogeneity on the 2×k table ``[reference; current]`` without Yates' correction,
  ignoring bins empty on both sides (scipy's ``chi2_contingency(correction=False)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate

__all__ = [
    "PSI_EPS",
    "chi2_sf",
    "chi_square",
    "js_distance",
    "kolmogorov_sf",
    "ks_from_bins",
    "psi",
]

PSI_EPS = 1e-4

# Series and continued-fraction tolerances: stop when a step changes the result by less than
# about one unit in the last place, well inside the 1e-9 the callers rely on.
_EPS = 1e-16
_FPMIN = 1e-300  # stands in for zero in Lentz's method, which divides by its running terms
_MAX_ITERATIONS = 10_000  # far beyond need: both expansions converge in O(√a) terms

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_PI2_8 = math.pi * math.pi / 8.0


# --- validation ----------------------------------------------------------------------------------


def _checked(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Both totals, after checking the counts; ValueError names the first problem."""
    if len(reference) != len(current):
        raise ValueError(
            f"reference has {len(reference)} bins but current has {len(current)}: "
            "both sides must use the same bins"
        )
    totals = []
    for side, counts in (("reference", reference), ("current", current)):
        for i, count in enumerate(counts):
            if not math.isfinite(count) or count < 0:
                raise ValueError(f"{side} bin {i}: count {count!r} is not a finite number ≥ 0")
        try:
            total = math.fsum(counts)
        except OverflowError:  # fsum raises rather than returning inf
            total = math.inf
        if total <= 0:
            raise ValueError(f"{side} has no observations: its counts sum to 0")
        if not math.isfinite(total):
            raise ValueError(f"{side} counts sum past the largest float")
        totals.append(total)
    return totals[0], totals[1]


def _proportions(counts: Sequence[float], total: float) -> list[float]:
    return [count / total for count in counts]


# --- divergences ---------------------------------------------------------------------------------


def psi(reference: Sequence[float], current: Sequence[float], eps: float = PSI_EPS) -> float:
    """Population Stability Index of ``current`` against ``reference`` (≥ 0, finite). A zero
    proportion on either side counts as ``eps``: without it a category that vanished or first
    appeared would make the index infinite and hide how the other bins moved."""
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps {eps!r} must be a finite number > 0")
    ref_total, cur_total = _checked(reference, current)
    terms = []
    for ref_share, cur_share in zip(
        _proportions(reference, ref_total), _proportions(current, cur_total), strict=True
    ):
        p, q = ref_share or eps, cur_share or eps
        # ln q − ln p rather than ln(q/p): it negates exactly when p and q swap, so the index is
        # exactly symmetric; and log is monotonic, so both factors share a sign and no term is < 0.
        terms.append((q - p) * (math.log(q) - math.log(p)))
    return math.fsum(terms)


def js_distance(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen–Shannon distance (base 2) between the two distributions, in ``[0, 1]``: 0 for
    identical proportions, 1 for disjoint support. Unlike PSI it needs no ``eps``: the mixture
    is positive wherever either side is."""
    ref_total, cur_total = _checked(reference, current)
    terms = []
    for p, q in zip(
        _proportions(reference, ref_total), _proportions(current, cur_total), strict=True
    ):
        # p / m written as 2p / (p + q): halving a subnormal p + q can round the mixture to 0.
        both = p + q
        if p > 0:
            terms.append(p * math.log2(2.0 * p / both))
        if q > 0:
            terms.append(q * math.log2(2.0 * q / both))
    # Rounding can leave a hair below 0 or above 1; the true divergence is in [0, 1].
    divergence = min(max(math.fsum(terms) / 2.0, 0.0), 1.0)
    return math.sqrt(divergence)


# --- Kolmogorov–Smirnov --------------------------------------------------------------------------


def kolmogorov_sf(x: float) -> float:
    """``P(K > x)`` for the Kolmogorov distribution (scipy's ``special.kolmogorov`` and
    ``stats.kstwobign.sf``), within 1e-9 absolute."""
    if math.isnan(x):
        raise ValueError("x is NaN")
    if x < 0.04:
        # The CDF is below exp(−π²/(8x²)) < 1e−300 here: indistinguishable from 0.
        return 1.0
    if x < 1.0:
        # The alternating tail series needs ever more terms as x → 0 and cancels badly; the
        # Jacobi-theta form of the CDF converges fast here (its terms fall like exp(−k²/x²)).
        inv = 1.0 / (x * x)
        cdf = 0.0
        for k in range(1, 50):
            term = math.exp(-((2 * k - 1) ** 2) * _PI2_8 * inv)
            cdf += term
            if term <= _EPS * cdf or term == 0.0:
                break
        return min(max(1.0 - _SQRT_2PI / x * cdf, 0.0), 1.0)
    # x ≥ 1: terms fall like exp(−2k²), so a handful suffice and the result keeps full relative
    # precision deep into the tail (it underflows to 0 only past x ≈ 19).
    total = 0.0
    for k in range(1, 50):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term <= _EPS * total:
            break
    return min(max(2.0 * total, 0.0), 1.0)


def ks_from_bins(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sample KS statistic ``D`` and its asymptotic p-value from binned counts. The bins must
    be ordered (a numeric feature's histogram): for unordered categories use :func:`chi_square`.
    The sample sizes are the totals, so weighted counts act as that many observations."""
    n, m = _checked(reference, current)
    # Running sums divided by their own final value: the last boundary is exactly 1 on both
    # sides, every value stays in [0, 1], and identical inputs give exactly D = 0.
    ref_cum = list(accumulate(reference, initial=0.0))
    cur_cum = list(accumulate(current, initial=0.0))
    ref_end, cur_end = ref_cum[-1], cur_cum[-1]
    d = max(abs(r / ref_end - c / cur_end) for r, c in zip(ref_cum[1:], cur_cum[1:], strict=True))
    d = min(d, 1.0)
    if d == 0.0:
        return 0.0, 1.0
    # n·m/(n+m) written so that neither the product nor the sum can overflow.
    en = math.sqrt(n / (1.0 + n / m)) if n <= m else math.sqrt(m / (1.0 + m / n))
    # Stephens' correction makes the asymptotic tail usable for samples as small as a few dozen.
    p = kolmogorov_sf((en + 0.12 + 0.11 / en) * d)
    return d, p


# --- chi-square ----------------------------------------------------------------------------------


def _log_gamma_prefactor(a: float, x: float) -> float:
    """``ln(x^a · e^−x / Γ(a))``, the common factor of both incomplete-gamma expansions, kept as a
    logarithm so that it cannot underflow before the final exponent."""
    return a * math.log(x) - x - math.lgamma(a)


def _gamma_p_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)`` by its power series (for ``x < a + 1``)."""
    ap = a
    term = total = 1.0 / a
    for _ in range(_MAX_ITERATIONS):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return math.exp(_log_gamma_prefactor(a, x) + math.log(total))


def _gamma_q_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x)`` by its continued fraction (modified
    Lentz), for ``x ≥ a + 1``, where it keeps relative precision in the far tail."""
    b = x + 1.0 - a
    c = 1.0 / _FPMIN
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = b + an / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(_log_gamma_prefactor(a, x) + math.log(h))


def chi2_sf(x: float, dof: int) -> float:
    """``P(X > x)`` for a chi-square variable with ``dof`` degrees of freedom: the regularized
    upper incomplete gamma ``Q(dof/2, x/2)`` (Numerical Recipes' ``gammq``)."""
    if isinstance(dof, bool) or not isinstance(dof, int) or dof < 1:
        raise ValueError(f"dof {dof!r} must be a positive integer")
    if math.isnan(x):
        raise ValueError("x is NaN")
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half_x = dof / 2.0, x / 2.0
    if half_x == 0.0:  # x was subnormal: P(a, x) ~ x^a is far below one ulp of 1
        return 1.0
    # Each expansion is used where it converges fast; below a + 1, Q = 1 − P loses nothing
    # because Q there is not small (x is at most about the mean).
    if half_x < a + 1.0:
        return min(max(1.0 - _gamma_p_series(a, half_x), 0.0), 1.0)
    return min(max(_gamma_q_fraction(a, half_x), 0.0), 1.0)


def chi_square(reference: Sequence[float], current: Sequence[float]) -> tuple[float, int, float]:
    """Pearson's chi-square test that both samples come from one distribution over the bins:
    ``(statistic, dof, p)``. Bins empty on both sides carry no information (and would divide by a
    zero expectation), so they are dropped; with fewer than two left there is nothing to compare
    and the result is ``(0.0, 0, 1.0)``."""
    ref_total, cur_total = _checked(reference, current)
    columns = [(r, c) for r, c in zip(reference, current, strict=True) if r + c > 0]
    if len(columns) < 2:
        return 0.0, 0, 1.0
    # For two rows, Σ (O − E)²/E over a column's two cells reduces to
    # (r·C − c·R)² / (R·C·n) = (a·C − b·R)·(p − q), with a = r/n, b = c/n the column's split and
    # p = r/R, q = c/C the bin's proportions. Every factor is a ratio of like magnitudes, so
    # fractional or tiny weights cannot underflow an expectation to 0 and divide by it.
    terms = []
    for r, c in columns:
        column = r + c
        split_gap = (r / column) * cur_total - (c / column) * ref_total
        terms.append(split_gap * (r / ref_total - c / cur_total))
    statistic = max(math.fsum(terms), 0.0)  # rounding near homogeneity can dip below 0
    dof = len(columns) - 1
    return statistic, dof, chi2_sf(statistic, dof)
