"""compute_metrics, cost_threshold and expected_cost."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tabloop.evaluation import (
    SCORERS,
    TASK_METRICS,
    compute_metrics,
    cost_threshold,
    expected_cost,
    greater_is_better,
    metrics_for,
)

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 300)
P1 = np.clip(0.3 * Y + RNG.uniform(0, 0.7, 300), 0, 1)
PROBA = np.column_stack([1 - P1, P1])


def test_binary_metrics_match_scikit_learn() -> None:
    m = compute_metrics("binary", Y, proba=PROBA)
    pred = PROBA.argmax(axis=1)
    assert list(m) == list(TASK_METRICS["binary"])
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, P1))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(Y, P1))
    assert m["log_loss"] == pytest.approx(skm.log_loss(Y, PROBA))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(Y, pred))
    assert 0.5 < m["roc_auc"] < 1


def test_given_labels_override_the_argmax() -> None:
    all_yes = np.ones_like(Y)
    m = compute_metrics("binary", Y, proba=PROBA, y_pred=all_yes, metrics=["accuracy", "roc_auc"])
    assert list(m) == ["accuracy", "roc_auc"]
    assert m["accuracy"] == pytest.approx(Y.mean())
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, P1))  # ranking metrics use the probabilities


def test_multiclass_metrics() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3]])
    m = compute_metrics("multiclass", y, proba=proba)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert m["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, proba.argmax(1), average="macro"))


def test_regression_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 2.0, 2.0, 5.0])
    m = compute_metrics("regression", y, y_pred=pred)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)))
    assert m["mae"] == pytest.approx(0.625)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))


def test_undefined_metrics_are_none_not_nan() -> None:
    y = np.zeros(4, dtype=int)
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.7, 0.3]])
    m = compute_metrics("binary", y, proba=proba)
    assert m["roc_auc"] is None
    assert m["average_precision"] is None
    assert m["accuracy"] == pytest.approx(0.75)  # still defined
    assert m["log_loss"] is not None
    mc = compute_metrics("multiclass", np.array([0, 1, 1]), proba=np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]))
    assert mc["roc_auc_ovr"] is None
    assert compute_metrics("regression", np.array([1.0]), y_pred=np.array([2.0]))["r2"] is None


def test_directions_and_primary_first() -> None:
    assert greater_is_better("roc_auc") and greater_is_better("r2")
    assert not greater_is_better("log_loss") and not greater_is_better("rmse") and not greater_is_better("mae")
    assert metrics_for("binary", "f1") == ["f1", "roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy"]
    for task, names in TASK_METRICS.items():
        assert set(names) <= set(SCORERS), task


@pytest.mark.parametrize(("fp", "fn", "expected"), [(1, 1, 0.5), (1, 4, 0.2), (4, 1, 0.8), (0, 5, 0.0), (0, 0, 0.5)])
def test_cost_threshold(fp: float, fn: float, expected: float) -> None:
    assert cost_threshold(fp, fn) == pytest.approx(expected)


@pytest.mark.parametrize(("fp", "fn"), [(1.0, 1.0), (1.0, 5.0), (10.0, 1.0), (2.5, 7.0)])
def test_cost_threshold_is_bayes_optimal(fp: float, fn: float) -> None:
    """For a calibrated p, calling it positive costs (1-p)*fp on average and negative p*fn."""
    t = cost_threshold(fp, fn)
    for p in np.linspace(0, 1, 201):
        positive_is_cheaper = (1 - p) * fp <= p * fn
        if not np.isclose((1 - p) * fp, p * fn):
            assert (p >= t) == positive_is_cheaper, p


def test_expected_cost_counts_each_kind_of_mistake() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([1, 0, 0, 0, 1, 1])
    out = expected_cost(y, pred, false_positive=2.0, false_negative=10.0)
    assert out == {"false_positives": 2, "false_negatives": 2, "total_cost": 24.0, "cost_per_row": 4.0}
    assert expected_cost(np.array([], dtype=int), np.array([], dtype=int), 1, 1)["cost_per_row"] == 0.0
