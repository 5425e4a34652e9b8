"""Cross-validation of one pipeline, fold by fold, with out-of-fold predictions.

Everything is fitted inside the fold (preparation, resampling, selection and model),
so no statistic of a validation row reaches the model that scores it.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tabloop.evaluate import compute_metrics
from tabloop.spec import HOLDOUT_PARTS

Split = tuple[np.ndarray, np.ndarray]
#: called after each fold with (fold index, running mean of the primary score); True stops the run
OnFold = Callable[[int, float], bool]


@dataclass
class FoldRun:
    fold_scores: dict[str, list[float]] = field(default_factory=dict)  # metric -> score per finished fold
    # (n, k) probabilities or (n,) values, averaged over repeats; rows no finished fold scored are NaN
    oof: np.ndarray | None = None
    fit_seconds: float = 0.0
    predict_seconds_per_row: float = 0.0
    model_bytes: int = 0
    complete: bool = False

    def stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for m, scores in self.fold_scores.items():
            arr = np.asarray(scores, dtype=float)
            out[m] = {"mean": _nanmean(arr), "std": _nanstd(arr)}
        return out


def _nanmean(a: np.ndarray) -> float:
    return float(np.nanmean(a)) if np.isfinite(a).any() else math.nan


def _nanstd(a: np.ndarray) -> float:
    return float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else math.nan


def predict_matrix(model: Any, X: pd.DataFrame, task: str, n_classes: int) -> np.ndarray:
    """Probabilities in all ``n_classes`` columns (a fold may lack a class), or regression values."""
    if task == "regression":
        return np.asarray(model.predict(X), dtype=float)
    proba = np.asarray(model.predict_proba(X), dtype=float)
    if proba.shape[1] == n_classes:
        return proba
    full = np.zeros((len(X), n_classes))
    full[:, np.asarray(model.classes_, dtype=int)] = proba
    return full


def score_predictions(task: str, y: np.ndarray, pred: np.ndarray, metrics: list[str]) -> dict[str, float]:
    """Metrics in natural units (higher or lower is better by metric); undefined ones are NaN."""
    if task == "regression":
        raw = compute_metrics(task, y, y_pred=pred, metrics=metrics)
    else:
        raw = compute_metrics(task, y, proba=pred, metrics=metrics)
    return {m: (math.nan if v is None else float(v)) for m, v in raw.items()}


def holdout_parts(y: np.ndarray, task: str, parts: int = HOLDOUT_PARTS) -> list[np.ndarray]:
    """Positions (into ``y``, a holdout's validation targets) of ``parts`` disjoint parts, stratified
    for classes where every class has a row in each part; always the same parts for the same ``y``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    parts = max(1, min(parts, n))
    if parts == 1:
        return [np.arange(n)]
    stratify = task != "regression" and np.bincount(np.asarray(y, dtype=int)).min(initial=n) >= parts
    cv = StratifiedKFold(parts, shuffle=True, random_state=0) if stratify else KFold(parts, shuffle=True, random_state=0)
    return [np.sort(va) for _, va in cv.split(np.zeros(n), y if stratify else None)]


def cross_validate(
    estimator: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[Split],
    *,
    task: str,
    n_classes: int,
    metrics: list[str],
    on_fold: OnFold | None = None,
) -> FoldRun:
    """Fit a clone of ``estimator`` on each training fold and score it on the matching validation fold
    (one split, a holdout: on each of :func:`holdout_parts` of its validation rows)."""
    run = FoldRun(fold_scores={m: [] for m in metrics})
    shape = (len(X),) if task == "regression" else (len(X), n_classes)
    # repeated k-fold scores each row once per repeat: its out-of-fold prediction is the mean of those
    total = np.zeros(shape)
    seen = np.zeros(len(X))
    predict_seconds = 0.0
    predicted_rows = 0
    model = None
    for i, (tr, va) in enumerate(splits):
        model = clone(estimator)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X.iloc[tr], y[tr])
            t1 = time.perf_counter()
            pred = predict_matrix(model, X.iloc[va], task, n_classes)
        t2 = time.perf_counter()
        run.fit_seconds += t1 - t0
        predict_seconds += t2 - t1
        predicted_rows += len(va)
        total[va] += pred
        seen[va] += 1
        for part in holdout_parts(y[va], task) if len(splits) == 1 else [np.arange(len(va))]:
            for m, v in score_predictions(task, y[va][part], pred[part], metrics).items():
                run.fold_scores[m].append(v)
        if on_fold is not None and i < len(splits) - 1:
            if on_fold(i, _nanmean(np.asarray(run.fold_scores[metrics[0]], dtype=float))):
                break
    else:
        run.complete = True
    counts = seen if task == "regression" else seen[:, None]
    run.oof = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    run.predict_seconds_per_row = predict_seconds / max(predicted_rows, 1)
    run.model_bytes = model_size(model)
    return run


def model_size(model: Any) -> int:
    """Bytes of the pickled fitted model (what a registered version would carry)."""
    if model is None:
        return 0
    try:
        return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # a model that cannot be pickled is reported as size 0, not fatal
        return 0
