"""Two-sample significance tests: Kolmogorov-Smirnov for numbers, chi-square of homogeneity for counts.

P-values come from ``scipy.special``'s distribution functions (``kolmogorov``, ``chdtrc``),
not from ``scipy.stats``: importing ``scipy.stats`` builds the docstrings of a hundred
distributions and costs most of a second, more than a standalone ``tabloop monitor`` on
10,000 rows spends computing. ``scipy.stats`` is imported only for small samples, where
the exact KS distribution differs from the limiting one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import special

__all__ = ["EXACT_KS_MAX_ROWS", "chi2_homogeneity", "ks_2samp_sorted"]

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
    p = float(special.kolmogorov(math.sqrt(en) * d))
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
    return statistic, float(special.chdtrc(dof, statistic))
