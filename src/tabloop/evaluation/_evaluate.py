"""Scoring a model on held-out rows: metrics, confusion matrix, ROC, cost; HTML + JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from tabloop.evaluation._metrics import compute_metrics, expected_cost, metrics_for
from tabloop.report import Report
from tabloop.report import evaluation_report as draw_evaluation_report


@dataclass
class EvaluationResult:
    task: str
    metric: str
    rows: int
    metrics: dict[str, float | None]
    classes: list[Any] = field(default_factory=list)
    threshold: float | None = None
    confusion_matrix: list[list[int]] | None = None
    roc_curve: dict[str, list[float]] | None = None
    cost: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_predictions(
    task: str,
    y_true: np.ndarray,
    *,
    metric: str,
    classes: list[Any] | None = None,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    threshold: float | None = None,
    costs: tuple[float, float] | None = None,
) -> EvaluationResult:
    """``y_true`` and ``y_pred`` are encoded labels (0..k-1) for classifiers, values for regression."""
    names = metrics_for(task, metric)
    result = EvaluationResult(task=task, metric=metric, rows=int(len(y_true)), metrics={}, classes=list(classes or []))
    if task == "regression":
        result.metrics = compute_metrics(task, y_true, y_pred=y_pred, metrics=names)
        return result
    assert proba is not None
    if y_pred is None:
        if task == "binary" and threshold is not None:
            y_pred = (proba[:, 1] >= threshold).astype(int)
        else:
            y_pred = proba.argmax(axis=1)
    result.threshold = threshold
    result.metrics = compute_metrics(task, y_true, proba=proba, y_pred=y_pred, metrics=names)
    k = proba.shape[1]
    result.confusion_matrix = skm.confusion_matrix(y_true, y_pred, labels=list(range(k))).tolist()
    if task == "binary" and len(np.unique(y_true)) == 2:
        fpr, tpr, thr = skm.roc_curve(y_true, proba[:, 1])
        result.roc_curve = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    if task == "binary" and costs is not None:  # mistakes cost the same whether or not both classes showed up
        result.cost = expected_cost(y_true, y_pred, *costs)
    return result


def evaluation_report(result: EvaluationResult, *, title: str, subtitle: str = "") -> Report:
    """The HTML + JSON report of ``result``, drawn by the report layer (``tabloop.report``)."""
    return draw_evaluation_report(result.to_dict(), title=title, subtitle=subtitle)
