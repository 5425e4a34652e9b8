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
from tabloop.training._cv import cross_validate, holdout_parts


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


# --- boosting rounds chosen by the folds' mean ------------------------------------------------------------------


def _noisy_regression(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, (X["a"] + rng.normal(scale=2.0, size=n)).to_numpy()  # mostly noise: many rounds overfit


def _boosters(rounds: int) -> list:
    import catboost as cb
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        Pipeline([("scale", StandardScaler()), ("model", lgb.LGBMRegressor(n_estimators=rounds, learning_rate=0.3, subsample=0.8,
                                                                              subsample_freq=1, random_state=0, n_jobs=1, verbose=-1))]),
        Pipeline([("scale", StandardScaler()), ("model", xgb.XGBRegressor(n_estimators=rounds, learning_rate=0.3, random_state=0,
                                                                             n_jobs=1))]),
        Pipeline([("scale", StandardScaler()), ("model", cb.CatBoostRegressor(iterations=rounds, learning_rate=0.3, random_seed=0,
                                                                                 thread_count=1, verbose=False,
                                                                                 allow_writing_files=False))]),
    ]


def test_stage_counts_are_evenly_spaced_and_end_with_every_round() -> None:
    from tabloop.training._cv import STAGE_POINTS, stage_counts

    assert stage_counts(120) == list(range(10, 121, 10))
    assert len(stage_counts(1000)) == STAGE_POINTS and stage_counts(1000)[-1] == 1000
    assert stage_counts(5) == [1, 2, 3, 4, 5]  # no count twice, none below one round


@pytest.mark.parametrize("index", [0, 1, 2], ids=["lightgbm", "xgboost", "catboost"])
def test_a_booster_keeps_the_rounds_whose_mean_over_the_folds_is_best(index: int) -> None:
    from sklearn.model_selection import KFold

    X, y = _noisy_regression()
    splits = list(KFold(4, shuffle=True, random_state=0).split(X))
    staged = cross_validate(_boosters(300)[index], X, y, splits, task="regression", n_classes=0, metrics=["rmse"],
                            choose_rounds=True)
    whole = cross_validate(_boosters(300)[index], X, y, splits, task="regression", n_classes=0, metrics=["rmse"])
    assert staged.complete and whole.rounds is None
    assert staged.rounds is not None and staged.rounds < 100  # noise: a few rounds at this rate, not 300
    assert np.mean(staged.fold_scores["rmse"]) < np.mean(whole.fold_scores["rmse"]) - 0.05
    # what the folds scored after those rounds is what a model of exactly that many rounds predicts
    kept = cross_validate(_boosters(staged.rounds)[index], X, y, splits, task="regression", n_classes=0, metrics=["rmse"])
    np.testing.assert_allclose(staged.oof, kept.oof, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(staged.fold_scores["rmse"], kept.fold_scores["rmse"], rtol=1e-6)


def test_the_first_fold_stops_once_its_validation_score_stops_improving() -> None:
    from sklearn.model_selection import KFold

    from tabloop.training._cv import _fit_stopping, patience

    X, y = _noisy_regression()
    tr, va = next(KFold(4, shuffle=True, random_state=0).split(X))
    for model in _boosters(2_000):
        _fit_stopping(model, X.iloc[tr], y[tr], X.iloc[va], y[va])
        booster = model.steps[-1][1]
        trained = {"LGBMRegressor": lambda m: m.booster_.current_iteration(),
                   "XGBRegressor": lambda m: m.get_booster().num_boosted_rounds(),
                   "CatBoostRegressor": lambda m: m.tree_count_}[type(booster).__name__](booster)
        assert patience(2_000) <= trained < 2_000 / 2, type(booster).__name__


def test_choosing_rounds_works_through_resampling_and_selection_and_for_classes() -> None:
    import lightgbm as lgb
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline as ImbPipeline
    from sklearn.feature_selection import SelectKBest
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(scale=1.5, size=300) > 1.2).astype(int).to_numpy()  # about one row in five is 1
    model = ImbPipeline([("smote", SMOTE(random_state=0)), ("select", SelectKBest(k=2)),
                         ("model", lgb.LGBMClassifier(n_estimators=400, learning_rate=0.2, random_state=0, n_jobs=1, verbose=-1))])
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    run = cross_validate(model, X, y, splits, task="binary", n_classes=2, metrics=["log_loss", "roc_auc"], choose_rounds=True)
    assert run.complete and run.rounds is not None and run.rounds < 400
    assert len(run.fold_scores["roc_auc"]) == 3 and np.isfinite(run.oof).all()
    np.testing.assert_allclose(run.oof.sum(axis=1), 1.0)


def test_a_model_that_is_not_a_booster_is_cross_validated_as_it_is() -> None:
    X, y = _noisy_regression(60)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=1, random_state=0).split(X))
    run = cross_validate(DummyRegressor(), X, y, splits, task="regression", n_classes=0, metrics=["rmse"], choose_rounds=True)
    assert run.complete and run.rounds is None


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_stages_summed_from_margins_equal_the_models_own_predictions_after_k_rounds(library: str, n_classes: int) -> None:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.pipeline import Pipeline

    from tabloop.training._cv import staged_predictions

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=list("abc"))
    y = np.digitize(X["a"] + rng.normal(size=300), [0.0, 1.0][: n_classes - 1])
    if library == "lightgbm":
        booster = lgb.LGBMClassifier(n_estimators=50, random_state=0, n_jobs=1, verbose=-1)
        after = lambda m, k: m.predict_proba(X, num_iteration=k)  # noqa: E731
    else:
        booster = xgb.XGBClassifier(n_estimators=50, random_state=0, n_jobs=1)
        after = lambda m, k: m.predict_proba(X, iteration_range=(0, k))  # noqa: E731
    model = Pipeline([("model", booster)]).fit(X, y)
    counts = [5, 17, 30, 50]
    for k, staged in zip(counts, staged_predictions(model, X, "multiclass", n_classes, counts), strict=True):
        np.testing.assert_allclose(staged, after(model.steps[-1][1], k), rtol=1e-5, atol=1e-6)


def test_a_first_fold_whose_validation_holds_a_class_its_training_lacks_still_chooses_rounds() -> None:
    import lightgbm as lgb
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    y = (X["a"] > 0).astype(int).to_numpy().copy()
    y[:5] = 2  # a rare class, all of it in the first fold's validation rows
    splits = [(np.arange(50, 200), np.arange(50)), (np.arange(50), np.arange(50, 200))]
    model = Pipeline([("model", lgb.LGBMClassifier(n_estimators=100, random_state=0, n_jobs=1, verbose=-1))])
    run = cross_validate(model, X, y, splits, task="multiclass", n_classes=3, metrics=["log_loss"], choose_rounds=True)
    assert run.complete and run.rounds is not None and np.isfinite(run.oof).all()


@pytest.mark.parametrize("forest", ["random_forest", "extra_trees"])
def test_a_forest_grown_in_parts_is_the_forest_of_one_fit(forest: str) -> None:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from tabloop.training._cv import _fit_growing

    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
    y = (X["a"] > 0).astype(int).to_numpy() if forest == "random_forest" else X["a"].to_numpy()
    model = RandomForestClassifier if forest == "random_forest" else ExtraTreesRegressor

    def make() -> Pipeline:
        return Pipeline([("scale", StandardScaler()), ("model", model(n_estimators=23, random_state=0, n_jobs=1))])

    shares: list[float] = []
    grown = make()
    _fit_growing(grown, X, y, lambda share: shares.append(share) or False)
    whole = make().fit(X, y)
    assert shares == [0.2, 0.4, 0.6, 0.8] and len(grown.steps[-1][1].estimators_) == 23
    predict = "predict_proba" if forest == "random_forest" else "predict"
    np.testing.assert_array_equal(getattr(grown, predict)(X), getattr(whole, predict)(X))


def test_a_first_fold_told_to_stop_part_way_scores_nothing() -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline

    X, y = _noisy_regression(100)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=1, random_state=0).split(X))
    model = Pipeline([("model", RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1))])
    shares: list[float] = []
    run = cross_validate(model, X, y, splits, task="regression", n_classes=0, metrics=["rmse"],
                         on_first_fold=lambda share: shares.append(share) or share >= 0.4)
    assert shares == [0.2, 0.4] and not run.complete
    assert run.fold_scores["rmse"] == [] and np.isnan(run.oof).all()
    # a model that is not a forest fits its first fold in one go
    run = cross_validate(DummyRegressor(), X, y, splits, task="regression", n_classes=0, metrics=["rmse"],
                         on_first_fold=lambda share: True)
    assert run.complete and len(run.fold_scores["rmse"]) == 3
