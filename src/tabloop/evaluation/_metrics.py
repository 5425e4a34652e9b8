"""Metrics by task, with their direction, computed the same way everywhere."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm

#: metric -> (scikit-learn scorer name, greater is better)
SCORERS: dict[str, tuple[str, bool]] = {
    "roc_auc": ("roc_auc", True),
    "average_precision": ("average_precision", True),
    "log_loss": ("neg_log_loss", False),
    "accuracy": ("accuracy", True),
    "balanced_accuracy": ("balanced_accuracy", True),
    "f1": ("f1", True),
    "roc_auc_ovr": ("roc_auc_ovr", True),
    "f1_macro": ("f1_macro", True),
    "rmse": ("neg_root_mean_squared_error", False),
    "mae": ("neg_mean_absolute_error", False),
    "r2": ("r2", True),
}

#: the metrics reported for each task, the spec's metric first
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy", "f1"),
    "multiclass": ("log_loss", "roc_auc_ovr", "accuracy", "balanced_accuracy", "f1_macro"),
    "regression": ("rmse", "mae", "r2"),
}


#: the metrics 'tabloop evaluate' reports for each task (a superset of TASK_METRICS, which training scores)
REPORT_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "balanced_accuracy", "precision",
               "recall", "f1"),
    "multiclass": ("log_loss", "roc_auc_ovr", "average_precision_macro", "brier", "accuracy", "balanced_accuracy",
                   "precision_macro", "recall_macro", "f1_macro"),
    "regression": ("rmse", "mae", "mape", "r2"),
}

#: the direction of the reported metrics that no training scorer names
_REPORT_ONLY: dict[str, bool] = {
    "brier": False, "precision": True, "recall": True, "average_precision_macro": True, "precision_macro": True,
    "recall_macro": True, "mape": False,
}


def greater_is_better(metric: str) -> bool:
    return SCORERS[metric][1] if metric in SCORERS else _REPORT_ONLY[metric]


def metrics_for(task: str, primary: str) -> list[str]:
    return [primary] + [m for m in TASK_METRICS[task] if m != primary]


def report_metrics_for(task: str, primary: str) -> list[str]:
    """Every metric the evaluation reports for ``task``, the spec's metric first."""
    return [primary] + [m for m in REPORT_METRICS[task] if m != primary]


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    metrics: list[str] | None = None,
) -> dict[str, float | None]:
    """Metrics on encoded labels (0..k-1) and probabilities, or on regression values.

    A metric that is undefined on these rows (e.g. AUC with one class present) is None.
    """
    names = metrics or list(TASK_METRICS[task])
    out: dict[str, float | None] = {}
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined metrics are reported as None below
                value = float(_one(name, task, y_true, proba, y_pred))
        except ValueError:
            value = math.nan
        # scikit-learn returns NaN (with a warning) rather than raising for most undefined cases
        out[name] = None if math.isnan(value) else value
    return out


def _one(name: str, task: str, y: np.ndarray, proba: np.ndarray | None, y_pred: np.ndarray | None) -> float:
    if task == "regression":
        assert y_pred is not None
        if name == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y, y_pred)))
        if name == "mae":
            return skm.mean_absolute_error(y, y_pred)
        if name == "mape":
            return _resampled(name, task, y, None, y_pred)
        return skm.r2_score(y, y_pred)
    assert proba is not None
    labels = np.arange(proba.shape[1])
    pred = y_pred if y_pred is not None else proba.argmax(axis=1)
    if name in ("roc_auc", "average_precision") and len(np.unique(y)) < 2:
        raise ValueError(f"{name} needs both classes in y_true")
    if name == "roc_auc":
        return skm.roc_auc_score(y, proba[:, 1])
    if name == "roc_auc_ovr":
        return skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels)
    if name == "average_precision":
        return skm.average_precision_score(y, proba[:, 1])
    if name == "log_loss":
        return skm.log_loss(y, proba, labels=labels)
    if name == "accuracy":
        return skm.accuracy_score(y, pred)
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, pred)
    if name == "f1":
        return skm.f1_score(y, pred, zero_division=0)
    if name == "f1_macro":
        return skm.f1_score(y, pred, average="macro", zero_division=0)
    if name == "precision":
        return skm.precision_score(y, pred, zero_division=0)
    if name == "recall":
        return skm.recall_score(y, pred, zero_division=0)
    if name == "precision_macro":
        return skm.precision_score(y, pred, average="macro", zero_division=0)
    if name == "recall_macro":
        return skm.recall_score(y, pred, average="macro", zero_division=0)
    if name == "brier" and proba.shape[1] == 2:
        return skm.brier_score_loss(y, proba[:, 1], pos_label=1)
    if name in ("brier", "average_precision_macro"):  # multi-class Brier, macro AP: no scikit-learn function
        return _resampled(name, task, y, proba, pred)
    raise ValueError(f"unknown metric {name}")


def _resampled(name: str, task: str, y: np.ndarray, proba: np.ndarray | None, pred: np.ndarray | None) -> float:
    """``name`` on all rows once, by the bootstrap's own formula (NaN, i.e. None, where undefined)."""
    from tabloop.evaluation._resampled import resampled_metrics

    return float(resampled_metrics(task, [name], y, np.ones((1, len(y))), proba=proba, y_pred=pred)[name][0])


def cost_threshold(false_positive: float, false_negative: float) -> float:
    """Bayes-optimal cut on calibrated probabilities: predict positive when p >= c_fp / (c_fp + c_fn)."""
    total = false_positive + false_negative
    return 0.5 if total == 0 else false_positive / total


def expected_cost(y: np.ndarray, pred: np.ndarray, false_positive: float, false_negative: float) -> dict[str, Any]:
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    total = fp * false_positive + fn * false_negative
    return {"false_positives": fp, "false_negatives": fn, "total_cost": total, "cost_per_row": total / max(len(y), 1)}
