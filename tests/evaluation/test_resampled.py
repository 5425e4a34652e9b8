"""Metrics under bootstrap weights: all ones is the plain metric; the intervals hold the estimate and narrow."""

from __future__ import annotations

import numpy as np
import pytest

from tabloop.evaluation import REPORT_METRICS, compute_metrics, evaluate_predictions, resampled_metrics
from tabloop.stats import bootstrap_counts


def _classification(k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y] += 0.4
    return y, proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("task", "k"), [("binary", 2), ("multiclass", 3)])
def test_weights_of_ones_give_the_plain_metrics(task: str, k: int) -> None:
    y, proba = _classification(k, 300)
    names = list(REPORT_METRICS[task])
    plain = compute_metrics(task, y, proba=proba, metrics=names)
    ones = resampled_metrics(task, names, y, np.ones((1, len(y))), proba=proba)
    assert set(ones) == set(names)
    for name in names:
        assert ones[name][0] == pytest.approx(plain[name], abs=1e-10), name


def test_regression_weights_of_ones_give_the_plain_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10, 2, 150)
    pred = y + rng.normal(0, 1, 150)
    names = list(REPORT_METRICS["regression"])
    plain = compute_metrics("regression", y, y_pred=pred, metrics=names)
    ones = resampled_metrics("regression", names, y, np.ones((1, 150)), y_pred=pred)
    for name in names:
        assert ones[name][0] == pytest.approx(plain[name], abs=1e-10), name


def test_a_resample_is_the_metric_of_the_rows_it_drew() -> None:
    y, proba = _classification(2, 120, seed=2)
    w = bootstrap_counts(120, 3, seed=9)
    got = resampled_metrics("binary", ["log_loss", "f1", "balanced_accuracy"], y, w, proba=proba)
    for i in range(3):
        rows = np.repeat(np.arange(120), w[i])
        want = compute_metrics("binary", y[rows], proba=proba[rows], metrics=["log_loss", "f1", "balanced_accuracy"])
        for name, value in want.items():
            assert got[name][i] == pytest.approx(value, abs=1e-10), name


def test_intervals_contain_the_estimate_and_narrow_with_more_rows() -> None:
    widths = []
    for n in (200, 3200):
        y, proba = _classification(2, n, seed=3)
        r = evaluate_predictions("binary", y, metric="roc_auc", proba=proba, threshold=0.5,
                                 weights=bootstrap_counts(n, 400, seed=0))
        assert r.resamples == 400
        for name, value in r.metrics.items():
            low, high = r.intervals[name]
            assert low <= value <= high, name
        widths.append(r.intervals["roc_auc"][1] - r.intervals["roc_auc"][0])
    # 16 times the rows: about a quarter of the width
    assert widths[1] < 0.4 * widths[0]


def test_undefined_in_every_resample_has_no_interval() -> None:
    y = np.zeros(40, dtype=int)
    proba = np.column_stack([np.full(40, 0.7), np.full(40, 0.3)])
    r = evaluate_predictions("binary", y, metric="roc_auc", proba=proba, weights=bootstrap_counts(40, 100))
    assert r.metrics["roc_auc"] is None and r.intervals["roc_auc"] is None
    assert r.intervals["accuracy"] is not None
