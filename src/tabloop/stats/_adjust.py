"""Adjusting p-values for testing many hypotheses at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm_adjust"]


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN.

    Holm controls the family-wise error rate without assuming independence, which
    the features of one table never have.
    """
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    finite = p[ok]
    m = finite.size
    if m == 0:
        return out
    order = np.argsort(finite, kind="stable")
    scaled = (m - np.arange(m)) * finite[order]
    # running maximum keeps the adjusted values in the same order as the raw ones
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    ranked = np.empty(m)
    ranked[order] = adjusted
    out[ok] = ranked
    return out
