"""Two-sample significance tests: Kolmogorov-Smirnov for numbers, chi-square of homogeneity for counts.

P-values come from the two distribution functions written out below (Kolmogorov's limiting
distribution and the chi-square survival function for whole degrees of freedom, both closed
series), not from SciPy: importing ``scipy.stats`` builds the docstrings of a hundred
distributions and costs most of a second, and even ``scipy.special`` costs 0.2 s of CPU
(it pulls in NumPy's f2py and an encoding detector), a tenth of the two seconds a standalone
``tabloop monitor`` on 10,000 rows may take in all. Both agree with ``scipy.special``'s
``kolmogorov`` and ``chdtrc`` to 1e-12 (tests/stats/test_stats.py). ``scipy.stats`` is
imported only for small samples, where the exact KS distribution differs from the limiting one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["EXACT_KS_MAX_ROWS", "chi2_homogeneity", "chi2_sf", "kolmogorov_sf", "ks_2samp_sorted"]

#: up to this many rows per side the KS p-value is scipy's exact one; above it Kolmogorov's
#: limiting distribution, which scipy itself uses above 10,000 rows. From 1,000 rows on the
#: limiting p-value is never smaller than the exact one and at most 7% larger at p = 1e-5 to 0.5
#: (4% at 0.001; equal and unequal sizes, against scipy's exact method in tests/stats/test_stats.py):
#: it errs toward "no drift" by a margin no threshold of the monitor notices
EXACT_KS_MAX_ROWS = 1_000


def ks_2samp_sorted(a: np.ndarray, b: np.ndarray, d: float) -> tuple[float, float]:
    """Two-sided two-sample KS on sorted, finite arrays with statistic ``d``: (statistic, p-value).

    ``d`` comes from :func:`tabloop.stats.cdf_distances`, which computes it in one pass;
    above :data:`EXACT_KS_MAX_ROWS` only the p-value is computed here, from it.
    """
    n1, n2 = a.size, b.size
    if max(n1, n2) <= EXACT_KS_MAX_ROWS:
        from scipy import stats

        with warnings.catch_warnings():
            # scipy falls back to the asymptotic p-value by itself where the exact one fails
            # (many ties); its warning would land on the terminal of every monitor run
            warnings.filterwarnings("ignore", message=".*Exact calculation unsuccessful.*", category=RuntimeWarning)
            res = stats.ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    en = n1 * n2 / (n1 + n2)
    p = kolmogorov_sf(math.sqrt(en) * d)
    return d, min(max(p, 0.0), 1.0)


def chi2_homogeneity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test that two count vectors over the same categories come from one distribution: (statistic, p-value).

    The statistic and p-value of ``scipy.stats.chi2_contingency`` on the 2 x k table,
    Yates' continuity correction included where it applies it (one degree of freedom).
    One category on both sides is identical distributions (0, 1): chi-square has no
    degrees of freedom there.
    """
    if len(ref_counts) < 2:
        return 0.0, 1.0
    observed = np.vstack([ref_counts, cur_counts]).astype("float64")
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / observed.sum()
    if not np.all(expected > 0):
        raise ValueError("chi-square of homogeneity needs counts on both sides in every category")
    dof = observed.shape[1] - 1
    if dof == 1:
        # Yates: every observed count moves half a count toward its expected count, never past it
        diff = expected - observed
        observed = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, chi2_sf(dof, statistic)


def kolmogorov_sf(y: float) -> float:
    """P(K > y) for Kolmogorov's limiting distribution (``scipy.special.kolmogorov``).

    Two series for the same function, each where it converges in a few terms: the alternating
    one 2 * sum (-1)^(k-1) exp(-2 k^2 y^2) for y >= 1, and one minus Jacobi's form of the
    distribution function, sqrt(2 pi) / y * sum exp(-(2k - 1)^2 pi^2 / (8 y^2)), below.
    """
    if not y > 0:
        return 1.0
    total = 0.0
    if y >= 1.0:
        for k in range(1, 101):
            term = math.exp(-2.0 * k * k * y * y)
            total += term if k % 2 else -term
            if term < 1e-18 * max(total, 1e-300):
                break
        return min(max(2.0 * total, 0.0), 1.0)
    for k in range(1, 101):
        term = math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * y * y))
        total += term
        if term < 1e-18 * max(total, 1e-300):
            break
    return min(max(1.0 - math.sqrt(2.0 * math.pi) / y * total, 0.0), 1.0)


def chi2_sf(dof: int, x: float) -> float:
    """P(X > x) for a chi-square variable with a whole number of degrees of freedom (``scipy.special.chdtrc``).

    The regularized upper incomplete gamma function Q(dof / 2, x / 2) has a finite sum for
    whole and half-whole shapes: exp(-a) * sum a^j / j! for even ``dof``; erfc(sqrt(a)) plus
    exp(-a) * sum a^(j + 1/2) / Gamma(j + 3/2) for odd. Every term is positive, so no digits
    cancel; each is taken through its logarithm, so none overflows.
    """
    if dof < 1 or dof != int(dof):
        raise ValueError(f"chi-square needs whole degrees of freedom >= 1, got {dof}")
    if not x > 0:
        return 1.0
    a = x / 2.0
    log_a = math.log(a)
    if dof % 2 == 0:
        total = sum(math.exp(-a + j * log_a - math.lgamma(j + 1.0)) for j in range(dof // 2))
    else:
        total = math.erfc(math.sqrt(a)) + sum(
            math.exp(-a + (j + 0.5) * log_a - math.lgamma(j + 1.5)) for j in range((dof - 1) // 2))
    return min(max(total, 0.0), 1.0)
