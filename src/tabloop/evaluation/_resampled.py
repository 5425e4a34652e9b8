"""Every evaluation metric under many row weightings at once: the bootstrap's resamples as one matrix.

``weights`` is ``(resamples, rows)``, how often each row is drawn (``tabloop.stats.bootstrap_counts``);
a metric comes back as one value per resample. A weighting of all ones is the plain metric, which
the tests hold equal to scikit-learn's. A slice is the same weights restricted to its rows, so a
slice's figure and the overall one in the same resample come from the same draw, and their gap
has an interval too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from tabloop.stats import weighted_auc, weighted_average_precision

__all__ = ["resampled_metrics"]

_EPS = float(np.finfo("float64").eps)
#: resamples x rows computed at once, at most (each metric makes a few temporaries of this size)
CHUNK_CELLS = 2_000_000


def _mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights @ values) / np.maximum(total, 1e-300), np.nan)


def _nanmean(values: np.ndarray) -> np.ndarray:
    """The mean of each row over its defined entries; NaN for a row with none (numpy would warn)."""
    defined = np.isfinite(values)
    count = defined.sum(axis=1)
    return np.where(count > 0, np.where(defined, values, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), empty)


def resampled_metrics(
    task: str,
    names: list[str],
    y: np.ndarray,
    weights: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``name -> (resamples,)`` values; NaN where a metric is undefined in a resample (one class only, ...).

    ``y`` and ``y_pred`` are encoded labels (0..k-1) for classifiers and values for regression.
    """
    weights = np.atleast_2d(weights)
    rows = max(weights.shape[1], 1)
    step = max(1, CHUNK_CELLS // rows)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(len(weights), 1), step):  # in chunks of resamples: memory stays bounded
        w = np.asarray(weights[start:start + step], dtype="float64")
        makers = _regression(y, y_pred, w) if task == "regression" else _classification(task, y, proba, y_pred, w)
        parts.append({name: makers[name]() for name in names if name in makers})
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _regression(y: np.ndarray, y_pred: np.ndarray | None, w: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    assert y_pred is not None
    y = np.asarray(y, dtype="float64")
    err = np.asarray(y_pred, dtype="float64") - y
    total = w.sum(axis=1)

    def r2() -> np.ndarray:
        sse = w @ err**2
        sst = w @ y**2 - (w @ y) ** 2 / np.maximum(total, 1e-300)
        return np.where(sst > 1e-12 * np.maximum(w @ y**2, 1e-300), 1.0 - _ratio(sse, sst, np.nan), np.nan)

    def mape() -> np.ndarray:
        if (y == 0).any():  # undefined: a relative error of a true zero is infinite
            return np.full(w.shape[0], np.nan)
        return _mean(w, np.abs(err) / np.abs(y))

    return {
        "rmse": lambda: np.sqrt(_mean(w, err**2)),
        "mae": lambda: _mean(w, np.abs(err)),
        "mape": mape,
        "r2": r2,
    }


def _classification(
    task: str, y: np.ndarray, proba: np.ndarray | None, y_pred: np.ndarray | None, w: np.ndarray
) -> dict[str, Callable[[], np.ndarray]]:
    assert proba is not None
    y = np.asarray(y, dtype=int)
    proba = np.asarray(proba, dtype="float64")
    k = proba.shape[1]
    pred = np.asarray(y_pred, dtype=int) if y_pred is not None else proba.argmax(axis=1)
    correct = (pred == y).astype("float64")
    onehot = np.eye(k)[y] if y.size else np.zeros((0, k))
    truth = (y[:, None] == np.arange(k)).astype("float64")
    said = (pred[:, None] == np.arange(k)).astype("float64")

    @functools.cache
    def counts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """True positives, false positives and false negatives per resample and class."""
        return w @ (truth * said), w @ ((1 - truth) * said), w @ (truth * (1 - said))

    def log_loss() -> np.ndarray:
        p_true = np.clip(proba[np.arange(y.size), y], _EPS, 1 - _EPS) if y.size else np.zeros(0)
        return _mean(w, -np.log(p_true))

    def brier() -> np.ndarray:
        if task == "binary":  # scikit-learn's brier_score_loss: the positive class's squared error
            return _mean(w, (proba[:, 1] - y) ** 2)
        return _mean(w, ((proba - onehot) ** 2).sum(axis=1))  # Brier (1950): summed over the classes

    def balanced_accuracy() -> np.ndarray:
        tp, _, fn = counts()
        recall = _ratio(tp, tp + fn, np.nan)
        return _nanmean(recall)

    def macro(kind: str) -> np.ndarray:
        tp, fp, fn = counts()
        present = (tp + fp + fn) > 0  # the labels scikit-learn averages over: seen in truth or prediction
        if kind == "precision":
            per = _ratio(tp, tp + fp, 0.0)
        elif kind == "recall":
            per = _ratio(tp, tp + fn, 0.0)
        else:
            per = _ratio(2 * tp, 2 * tp + fp + fn, 0.0)
        return _ratio((per * present).sum(axis=1), present.sum(axis=1), np.nan)

    def binary(kind: str) -> np.ndarray:
        tp, fp, fn = counts()
        t, f_pos, f_neg = tp[:, 1], fp[:, 1], fn[:, 1]
        if kind == "precision":
            return _ratio(t, t + f_pos, 0.0)
        if kind == "recall":
            return _ratio(t, t + f_neg, 0.0)
        return _ratio(2 * t, 2 * t + f_pos + f_neg, 0.0)

    def per_class(fn_: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], skip_absent: bool) -> np.ndarray:
        values = np.column_stack([fn_(y == c, proba[:, c], w) for c in range(k)])
        return _nanmean(values) if skip_absent else values.mean(axis=1)

    makers: dict[str, Callable[[], np.ndarray]] = {
        "log_loss": log_loss,
        "brier": brier,
        "accuracy": lambda: _mean(w, correct),
        "balanced_accuracy": balanced_accuracy,
    }
    if task == "binary":
        makers.update({
            "roc_auc": lambda: weighted_auc(y == 1, proba[:, 1], w),
            "average_precision": lambda: weighted_average_precision(y == 1, proba[:, 1], w),
            "precision": lambda: binary("precision"),
            "recall": lambda: binary("recall"),
            "f1": lambda: binary("f1"),
        })
    else:
        makers.update({
            # scikit-learn's one-vs-rest macro AUC is undefined unless every class is present
            "roc_auc_ovr": lambda: per_class(weighted_auc, skip_absent=False),
            "average_precision_macro": lambda: per_class(weighted_average_precision, skip_absent=True),
            "precision_macro": lambda: macro("precision"),
            "recall_macro": lambda: macro("recall"),
            "f1_macro": lambda: macro("f1"),
        })
    return makers
