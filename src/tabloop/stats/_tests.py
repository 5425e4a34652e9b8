"""Two-sample significance tests: Kolmogorov-Smirnov for numbers, chi-square of homogeneity for counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

__all__ = ["EXACT_KS_MAX_ROWS", "chi2_homogeneity", "ks_2samp_sorted"]

#: up to this many rows per side scipy's exact KS p-value is cheap; above it the
#: exact distribution (scipy.stats.kstwo) costs up to a second per column, so we
#: use Kolmogorov's limiting distribution, which is within 0.002 of it there
EXACT_KS_MAX_ROWS = 10_000


def ks_2samp_sorted(a: np.ndarray, b: np.ndarray, d: float) -> tuple[float, float]:
    """Two-sided two-sample KS on sorted, finite arrays with statistic ``d``: (statistic, p-value).

    ``d`` comes from :func:`tabloop.stats.cdf_distances`, which computes it in one pass;
    above :data:`EXACT_KS_MAX_ROWS` only the p-value is computed here, from it.
    """
    n1, n2 = a.size, b.size
    if max(n1, n2) <= EXACT_KS_MAX_ROWS:
        with warnings.catch_warnings():
            # scipy falls back to the asymptotic p-value by itself where the exact one fails
            # (many ties); its warning would land on the terminal of every monitor run
            warnings.filterwarnings("ignore", message=".*Exact calculation unsuccessful.*", category=RuntimeWarning)
            res = stats.ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    en = n1 * n2 / (n1 + n2)
    p = float(stats.kstwobign.sf(math.sqrt(en) * d))
    return d, min(max(p, 0.0), 1.0)


def chi2_homogeneity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test that two count vectors over the same categories come from one distribution: (statistic, p-value).

    One category on both sides is identical distributions (0, 1): chi-square has no
    degrees of freedom there.
    """
    if len(ref_counts) < 2:
        return 0.0, 1.0
    res = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
    return float(res.statistic), float(res.pvalue)
