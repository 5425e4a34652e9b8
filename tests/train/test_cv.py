"""cross_validate: out-of-fold predictions, also when folds repeat; a holdout scored in parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import RepeatedKFold

from tabloop.spec import HOLDOUT_PARTS
from tabloop.train._cv import cross_validate, holdout_parts


def test_out_of_fold_predictions_are_the_mean_over_repeats() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60)})
    y = rng.normal(size=60)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=2, random_state=0).split(X))
    run = cross_validate(DummyRegressor(), X, y, splits, task="regression", n_classes=0, metrics=["rmse"])
    expected = np.zeros(60)
    for tr, va in splits:  # a mean model predicts its training rows' mean for every validation row
        expected[va] += y[tr].mean() / 2
    assert run.complete and len(run.fold_scores["rmse"]) == 6
    np.testing.assert_allclose(run.oof, expected)


def test_rows_no_finished_fold_scored_stay_empty() -> None:
    X = pd.DataFrame({"x": np.arange(40.0)})
    y = np.arange(40.0)
    splits = list(RepeatedKFold(n_splits=4, n_repeats=1, random_state=0).split(X))
    run = cross_validate(DummyRegressor(), X, y, splits, task="regression", n_classes=0, metrics=["rmse"],
                         on_fold=lambda i, _score: i == 0)  # stop after the first fold
    assert not run.complete
    assert np.isfinite(run.oof[splits[0][1]]).all() and np.isnan(np.delete(run.oof, splits[0][1])).all()


def test_a_holdout_is_fitted_once_and_scored_in_parts_that_cover_its_rows() -> None:
    rng = np.random.default_rng(0)
    n = 1_000
    X = pd.DataFrame({"x": rng.normal(size=n)})
    y = (X["x"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    tr, va = np.arange(800), np.arange(800, n)
    run = cross_validate(LogisticRegression(), X, y, [(tr, va)], task="binary", n_classes=2, metrics=["log_loss"])
    parts = holdout_parts(y[va], "binary")
    assert len(parts) == HOLDOUT_PARTS and np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(va)))
    # stratified: each part holds its share of each class
    assert all(abs(y[va][p].mean() - y[va].mean()) < 0.02 for p in parts)
    scores = run.fold_scores["log_loss"]
    assert len(scores) == HOLDOUT_PARTS and np.std(scores) > 0
    # equal parts: the mean of the parts' log-loss is the whole holdout's
    whole = log_loss(y[va], run.oof[va])
    assert np.mean(scores) == pytest.approx(whole)


def test_holdout_parts_are_plain_when_a_class_is_too_rare_to_stratify() -> None:
    y = np.array([0] * 97 + [1] * 3)
    parts = holdout_parts(y, "binary")
    assert len(parts) == HOLDOUT_PARTS and sum(len(p) for p in parts) == 100
    assert all(np.array_equal(a, b) for a, b in zip(holdout_parts(y, "binary"), parts, strict=True))  # the same each time
    assert len(holdout_parts(np.arange(3.0), "regression")) == 3  # never more parts than rows
