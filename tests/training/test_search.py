"""The search: reproducible with a fixed number of trials, resumable from storage, pruning bad trials and
stopping trials that cannot finish in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold

from tabloop.data import Contract, check_frame, split_train_test
from tabloop.spec import Spec
from tabloop.training import TrainResult, search_trials, study_name, train_candidates
from tabloop.training._search import _run_trial

MakeSpec = Callable[..., Spec]
CLASSES = ["no", "yes"]


@pytest.fixture(scope="module")
def small(hmda: pd.DataFrame, make_spec: MakeSpec) -> pd.DataFrame:
    train, _ = split_train_test(hmda, make_spec(["linear"]))
    return train.head(500)


def _spec(make_spec: MakeSpec, candidates: list[str], trials: int | None, **train: object) -> Spec:
    return make_spec(candidates, train={"candidates": candidates, "trials": trials, **train})


def _board(res: TrainResult) -> list[tuple[object, ...]]:
    return [(c.name, c.status, c.params, c.metrics, c.fold_scores, c.trial) for c in res.leaderboard]


@pytest.fixture(scope="module")
def searched(small: pd.DataFrame, contract: Contract, make_spec: MakeSpec) -> TrainResult:
    spec = _spec(make_spec, ["linear", "tree", "lightgbm"], 8)
    return train_candidates(small, spec, contract, CLASSES)


def test_same_seed_and_trials_give_the_same_leaderboard_and_model(
    searched: TrainResult, small: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    again = train_candidates(small, _spec(make_spec, ["linear", "tree", "lightgbm"], 8), contract, CLASSES)
    assert _board(again) == _board(searched)
    assert [(t.family, t.params, t.state, t.value) for t in again.trials] == [
        (t.family, t.params, t.state, t.value) for t in searched.trials
    ]
    assert again.winner == searched.winner
    X = check_frame(small, contract)
    np.testing.assert_array_equal(again.pipeline.predict_proba(X), searched.pipeline.predict_proba(X))
    reseeded = train_candidates(small, make_spec(["linear", "tree", "lightgbm"], seed=9, train={
        "candidates": ["linear", "tree", "lightgbm"], "trials": 8}), contract, CLASSES)
    assert [t.params for t in reseeded.trials] != [t.params for t in searched.trials]


def test_every_family_gets_its_defaults_first_then_the_search_continues(searched: TrainResult) -> None:
    assert len(searched.trials) == 8 and searched.stopped_because == "8 trials finished"
    first = [t.family for t in searched.trials[:3]]
    assert first == ["linear", "lightgbm", "tree"]  # FIRST_TRIAL_ORDER: cheap and strong families first
    assert searched.trials[0].params["C"] == 1.0  # defaults before sampling
    assert {t.family for t in searched.trials[3:]} <= {"linear", "tree", "lightgbm"}
    rows = {c.name: c for c in searched.leaderboard}
    assert sum(c.trials for c in rows.values()) == 8
    for t in searched.trials:
        assert t.state in ("complete", "pruned")
        assert t.seconds > 0 and t.worker


def test_the_leaderboard_reports_cost_and_size(searched: TrainResult, contract: Contract) -> None:
    ok = [c for c in searched.leaderboard if c.status == "ok"]
    for c in ok:
        assert c.fit_seconds > 0 and c.predict_seconds_per_row > 0 and c.model_bytes > 0, c.name
        assert set(c.metrics) == {"roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy", "f1"}
    by = {c.name: c for c in ok}
    assert by["lightgbm"].model_bytes > by["logistic"].model_bytes  # 300 trees weigh more than 12 coefficients
    assert set(searched.importance) == set(contract.feature_names)
    assert "one standard error" in searched.rule or searched.rule.startswith("best mean")
    doc = searched.to_dict()
    assert len(doc["trials"]) == 8 and doc["winner"] == searched.winner and doc["greater_is_better"] is True


def test_a_stopped_search_resumes_from_its_storage(
    tmp_path: Path, small: pd.DataFrame, contract: Contract, make_spec: MakeSpec
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = search_trials(small, _spec(make_spec, ["linear", "tree"], 3), contract, CLASSES, storage=url)
    assert first.ran == 3 and len(first.records) == 3
    # more trials (or a later budget) continue the same study: only the missing trials run
    res = train_candidates(small, _spec(make_spec, ["linear", "tree"], 5), contract, CLASSES, storage=url)
    assert res.study == first.study_name
    assert len(res.trials) == 5
    assert [(t.number, t.params, t.value) for t in res.trials[:3]] == [(t.number, t.params, t.value) for t in first.records]
    # asking for what is already there runs nothing
    again = search_trials(small, _spec(make_spec, ["linear", "tree"], 5), contract, CLASSES, storage=url)
    assert again.ran == 0 and len(again.records) == 5
    # other data is another study
    assert study_name("abc", _spec(make_spec, ["linear"], 5)) != study_name("abd", _spec(make_spec, ["linear"], 5))
    # the budget and the number of trials do not change the study, the candidates do
    assert study_name("abc", _spec(make_spec, ["linear"], 5)) == study_name("abc", _spec(make_spec, ["linear"], None))
    assert study_name("abc", _spec(make_spec, ["linear"], 5)) != study_name("abc", _spec(make_spec, ["tree"], 5))


def test_bad_trials_are_pruned_after_a_few_folds(small: pd.DataFrame, contract: Contract, make_spec: MakeSpec) -> None:
    res = train_candidates(small, _spec(make_spec, ["linear", "knn", "tree"], 16), contract, CLASSES)
    pruned = [t for t in res.trials if t.state == "pruned"]
    complete = [t for t in res.trials if t.state == "complete"]
    assert pruned, "with 16 trials some clearly bad ones must stop early"
    for t in pruned:
        assert len(t.fold_scores["roc_auc"]) < 3
        assert t.value < np.median([c.value for c in complete])
        assert "pruned after" in t.note
    assert all(len(t.fold_scores["roc_auc"]) == 3 for t in complete)


def test_a_time_budget_ends_the_search(small: pd.DataFrame, contract: Contract, make_spec: MakeSpec) -> None:
    messages: list[str] = []
    res = train_candidates(small, _spec(make_spec, ["linear", "lightgbm", "tree"], None), contract, CLASSES,
                           budget_seconds=1e-6, progress=messages.append)
    assert res.stopped_because == "time budget spent"
    assert [t.family for t in res.trials] == ["linear"]  # one real model is always trained
    status = {c.name: c.status for c in res.leaderboard}
    assert status == {"dummy": "ok", "logistic": "ok", "lightgbm": "skipped", "tree": "skipped"}
    assert any(m.startswith("skipped lightgbm: budget of 0s spent") for m in messages)


class _SlowMean(BaseEstimator, RegressorMixin):
    """Predicts the training mean after sleeping: a model whose folds each take a known time."""

    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds = seconds

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _SlowMean:
        time.sleep(self.seconds)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.mean_)


class _Slow:
    def build(self, params: dict[str, object] | None = None, *, threads: int = 1) -> _SlowMean:
        return _SlowMean()


def _trial(deadline: float | None) -> tuple[str, str, object]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X = pd.DataFrame({"x": np.arange(50.0)})
    y = np.arange(50.0)
    splits = list(KFold(5).split(X))
    trial = optuna.create_study().ask()
    state, note = _run_trial(trial, _Slow(), {}, X, y, splits, task="regression", n_classes=0, metrics=["rmse"],  # type: ignore[arg-type]
                             deadline=deadline, may_prune=False, may_time_out=True, oof={})
    return state, note, trial


class _Forest:
    def build(self, params: dict[str, object] | None = None, *, threads: int = 1) -> object:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.pipeline import Pipeline

        return Pipeline([("model", RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1))])


def test_a_forest_that_cannot_end_in_time_stops_a_fifth_into_its_first_fold() -> None:
    import optuna

    from tabloop.training._search import _full_trial_seconds

    X = pd.DataFrame({"x": np.arange(400.0)})
    y = np.arange(400.0)
    splits = list(KFold(5).split(X))
    trial = optuna.create_study().ask()
    state, note = _run_trial(trial, _Forest(), {}, X, y, splits, task="regression", n_classes=0,  # type: ignore[arg-type]
                             metrics=["rmse"], deadline=time.perf_counter() + 0.01, may_prune=False, may_time_out=True,
                             oof={})
    assert state == "pruned" and note == "stopped 20% into its first fold: its 5 folds would not end within the time budget"
    assert trial.user_attrs["fold_scores"]["rmse"] == []
    # what the whole trial would have taken counts the first fold's share, so the family is not thought cheap
    trial.set_user_attr("seconds", 0.5)
    assert _full_trial_seconds(trial, 5) == pytest.approx(0.5 * 5 / 0.2)
    state, note = _run_trial(optuna.create_study().ask(), _Forest(), {}, X, y, splits, task="regression", n_classes=0,  # type: ignore[arg-type]
                             metrics=["rmse"], deadline=None, may_prune=False, may_time_out=True, oof={})
    assert state == "complete" and note == ""


def test_a_trial_that_cannot_finish_its_folds_in_time_stops_after_the_first() -> None:
    # 0.2 s a fold and 0.5 s left: the next fold would still end in time, all five would not; an unfinished
    # trial is never scored, so it stops at once instead of spending the budget
    state, note, trial = _trial(time.perf_counter() + 0.5)
    assert state == "pruned" and note == "stopped after 1 folds: the other 4 would not end within the time budget"
    assert len(trial.user_attrs["fold_scores"]["rmse"]) == 1  # type: ignore[attr-defined]
    state, note, trial = _trial(None)
    assert state == "complete" and note == "" and len(trial.user_attrs["fold_scores"]["rmse"]) == 5  # type: ignore[attr-defined]


def test_lightgbm_tries_its_portfolio_right_after_its_defaults(small: pd.DataFrame, contract: Contract,
                                                               make_spec: MakeSpec) -> None:
    res = train_candidates(small, _spec(make_spec, ["lightgbm"], 4), contract, CLASSES)
    # the rounds shown are those cross-validation kept, at most the trial's own
    rounds = [t.params.pop("n_estimators") for t in res.trials]
    params = [t.params for t in res.trials]
    assert [t.family for t in res.trials] == ["lightgbm"] * 4
    defaults = params[0]
    assert defaults["extra_trees"] is False and defaults["num_leaves"] == 31 and rounds[0] <= 300
    assert params[1] == {**defaults, "extra_trees": True}  # AutoGluon's LightGBMXT
    assert params[2] == {**defaults, "learning_rate": 0.03, "num_leaves": 128,
                         "min_child_samples": 3, "colsample": 0.9} and rounds[2] <= 600  # and LightGBMLarge
    assert params[3] not in params[:3]  # then the search's own points


@pytest.mark.parametrize(("family", "rounds"), [("lightgbm", "n_estimators"), ("xgboost", "n_estimators"),
                                                ("catboost", "iterations")])
def test_a_boosted_trial_keeps_the_rounds_its_folds_scored_best_and_the_refit_uses_them(
    small: pd.DataFrame, contract: Contract, make_spec: MakeSpec, family: str, rounds: str
) -> None:
    import re

    res = train_candidates(small, _spec(make_spec, [family], 2), contract, CLASSES)
    for t in res.trials:
        kept = re.fullmatch(r"kept (\d+) of at most (\d+) rounds \(the best mean over the folds\)", t.note)
        # 500 rows of HMDA do not need 300 rounds at a rate of 0.05 or more
        assert kept, t.note
        assert t.params[rounds] == int(kept[1]) < int(kept[2])
    winner = res.winner_result()
    assert res.pipeline.steps[-1][1].get_params()[rounds] == winner.params[rounds]
