"""Confidence intervals of a mean score over validation splits."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["score_interval"]


def score_interval(scores: list[float] | np.ndarray, *, test_to_train: float = 0.0,
                   confidence: float = 0.95) -> tuple[float, float]:
    """A t interval for the mean of ``scores``, one per validation split; (nan, nan) below two scores.

    Cross-validation's splits share training rows, so their scores are not independent and the
    plain standard error (sd / sqrt(J)) is too small. Nadeau & Bengio (2003) correct its variance
    by the test-to-train size ratio: sd^2 (1/J + n_test/n_train). ``test_to_train=0`` gives the
    plain interval, right for disjoint parts of one holdout scored by one fitted model.
    """
    a = np.asarray(scores, dtype="float64")
    a = a[np.isfinite(a)]
    if a.size < 2:
        return math.nan, math.nan
    mean = float(a.mean())
    se = float(a.std(ddof=1)) * math.sqrt(1.0 / a.size + test_to_train)
    t = float(special.stdtrit(a.size - 1, 0.5 + confidence / 2))
    return mean - t * se, mean + t * se
