"""Realized performance: how each model version did on the rows whose labels came back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def realized_performance(
    joined: pd.DataFrame, *, task: str, target: str, metric: str, classes: list[Any]
) -> list[dict[str, Any]]:
    """Metrics per model version on ``joined`` (logged predictions with a ``label`` column)."""
    out: list[dict[str, Any]] = []
    if joined.empty:
        return out
    # evaluation and data import scikit-learn: loaded when there is something to score, not with the package
    from tabloop.data import encode_target
    from tabloop.evaluation import compute_metrics, metrics_for

    names = metrics_for(task, metric)
    for version, part in joined.groupby("version", dropna=False):
        y = encode_target(part["label"].rename(target), classes)
        if task == "regression":
            m = compute_metrics("regression", y, y_pred=part["prediction"].to_numpy(float), metrics=names)
        else:
            proba = np.array([[p[str(c)] for c in classes] for p in part["probabilities"]])
            lookup = {str(c): i for i, c in enumerate(classes)}
            y_pred = np.array([lookup[str(p)] for p in part["prediction"]])
            m = compute_metrics(task, y, proba=proba, y_pred=y_pred, metrics=names)
        out.append({"version": None if pd.isna(version) else str(version), "rows": len(part), "metrics": m})
    return out


def performance_of(performance: list[dict[str, Any]], version: str | None) -> dict[str, Any] | None:
    """The entry of ``realized_performance`` for one version, or None when none of its rows is labelled."""
    return next((p for p in performance if p["version"] == version), None)


def holdout_labelled_rows(joined: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows answered with the prior (feedback holdout), not shadow copies."""
    from tabloop.monitoring import holdout_rows

    if joined.empty:
        return joined
    held, _ = holdout_rows(joined)
    return joined.iloc[held]
