"""cross_validate: out-of-fold predictions, also when folds repeat."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import RepeatedKFold

from tabloop.train._cv import cross_validate


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
