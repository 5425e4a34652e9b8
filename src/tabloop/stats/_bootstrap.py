"""A vectorised bootstrap: every resample at once, as a matrix of row counts.

Drawing ``rows`` rows with replacement ``resamples`` times is the same as giving each row a
count from a multinomial; a statistic that is a weighted sum over rows (a mean, a share,
a sum of squares) is then one matrix product for all resamples, where a loop would call a
metric a thousand times. Rank statistics (ROC AUC, average precision) keep the rows' order,
which resampling does not change, so they too become cumulative sums over the counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_counts", "percentile_interval", "weighted_auc", "weighted_average_precision"]


def bootstrap_counts(rows: int, resamples: int, *, seed: int = 0) -> np.ndarray:
    """A ``(resamples, rows)`` matrix: how often each row is drawn in each resample (each row of it sums to ``rows``)."""
    rng = np.random.default_rng(seed)
    if rows == 0 or resamples == 0:
        return np.zeros((resamples, rows), dtype=np.int32)
    drawn = rng.integers(0, rows, size=(resamples, rows))
    # one bincount over all resamples at once: resample i's draws are offset by i * rows
    drawn += np.arange(resamples)[:, None] * rows
    return np.bincount(drawn.ravel(), minlength=resamples * rows).reshape(resamples, rows).astype(np.int32)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The central ``level`` percentile interval of the finite ``values``; None when fewer than 10 are finite."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size < 10:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(v, [tail, 100.0 - tail])
    return float(low), float(high)


def _groups(score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row order by score, and where each group of tied scores starts in that order."""
    order = np.argsort(-score if descending else score, kind="mergesort")
    s = score[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def _group_sums(weights: np.ndarray, order: np.ndarray, starts: np.ndarray,
                positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and tie group, the summed weights of the positive rows and of the others:
    two ``(resamples, groups)`` matrices (one gather of the weights serves both)."""
    w = weights[:, order].astype("float64", copy=False)
    pos = w * positive[order]
    if len(starts) == len(order):  # no ties (as with most models' probabilities): every row is its own group
        return pos, w - pos
    # summed along contiguous memory: reduceat across the columns of a row-major matrix is many times slower
    pos = np.ascontiguousarray(np.add.reduceat(np.ascontiguousarray(pos.T), starts, axis=0).T)
    total = np.ascontiguousarray(np.add.reduceat(np.ascontiguousarray(w.T), starts, axis=0).T)
    return pos, total - pos


def weighted_auc(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``score`` for the boolean ``positive`` under each row of ``weights`` (row counts); NaN where a
    resample lacks a class. Ties count one half, as in scikit-learn's ``roc_auc_score``."""
    pos = np.asarray(positive, dtype=bool)
    weights = np.atleast_2d(weights)
    if pos.size == 0:
        return np.full(weights.shape[0], np.nan)
    order, starts = _groups(np.asarray(score, dtype="float64"), descending=False)
    p, n = _group_sums(weights, order, starts, pos)
    below = np.cumsum(n, axis=1) - n  # negatives scored strictly lower than each group
    total_p, total_n = p.sum(axis=1), n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (p * (below + 0.5 * n)).sum(axis=1) / (total_p * total_n)
    return np.where((total_p > 0) & (total_n > 0), auc, np.nan)


def weighted_average_precision(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's step-wise area under the precision-recall curve) under each row of
    ``weights``; NaN where a resample has no positive."""
    pos = np.asarray(positive, dtype=bool)
    weights = np.atleast_2d(weights)
    if pos.size == 0:
        return np.full(weights.shape[0], np.nan)
    order, starts = _groups(np.asarray(score, dtype="float64"), descending=True)
    p, n = _group_sums(weights, order, starts, pos)
    tp, fp = np.cumsum(p, axis=1), np.cumsum(n, axis=1)
    total_p = tp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (p * precision).sum(axis=1) / total_p
    return np.where(total_p > 0, ap, np.nan)
