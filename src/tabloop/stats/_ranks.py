"""Rank statistics: the area under the ROC curve as a Mann-Whitney U, in NumPy alone."""

from __future__ import annotations

import numpy as np

__all__ = ["roc_auc"]


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the binary labels ``y_true`` (1 positive), ties counted half.

    The same number as ``sklearn.metrics.roc_auc_score`` (to rounding), without its input
    validation: the domain classifier scores each fold once per feature, and there the
    checks cost more than the sort. NaN when one class is absent.
    """
    y = np.asarray(y_true) == 1
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(score, dtype="float64"), return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    average_rank = last - (counts - 1) / 2.0  # 1-based ranks, ties sharing their mean
    rank_sum = float(average_rank[inverse.ravel()][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
