"""The test rows the model got most confidently wrong: where to look first for label noise or a blind spot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabloop._plain import plain, scalar

__all__ = ["confident_errors"]


def confident_errors(
    task: str,
    features: pd.DataFrame,
    y: np.ndarray,
    *,
    count: int,
    classes: list[Any] | None = None,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Up to ``count`` rows, worst first: for classifiers the wrong answers given with the highest
    probability, for regression the largest absolute errors. Each holds the row's position in the test
    part, its features, the true and the predicted answer, and the probability (or the error)."""
    if count <= 0 or len(y) == 0:
        return []
    feats = features.reset_index(drop=True)

    def row_features(i: int) -> dict[str, Any]:
        return plain({str(c): scalar(v) for c, v in feats.iloc[i].items()})  # a missing value as null, not NaN

    if task == "regression":
        assert y_pred is not None
        err = np.asarray(y_pred, dtype="float64") - np.asarray(y, dtype="float64")
        worst = np.argsort(-np.abs(err), kind="mergesort")[:count]
        return [{"row": int(i), "true": float(y[i]), "predicted": float(y_pred[i]), "error": float(err[i]),
                 "features": row_features(int(i))} for i in worst]
    assert proba is not None
    labels = list(classes or range(proba.shape[1]))
    pred = np.asarray(y_pred, dtype=int) if y_pred is not None else proba.argmax(axis=1)
    y = np.asarray(y, dtype=int)
    confidence = proba[np.arange(len(y)), pred]
    wrong = np.flatnonzero(pred != y)
    worst = wrong[np.argsort(-confidence[wrong], kind="mergesort")][:count]
    return [{"row": int(i), "true": scalar(labels[y[i]]), "predicted": scalar(labels[pred[i]]),
             "probability": float(confidence[i]), "probability_of_true": float(proba[i, y[i]]),
             "features": row_features(int(i))} for i in worst]
