"""Sharing a time budget: the default families, refit time kept back, unstarted families that cannot fit,
importance sized to the time left, threads while fitting and one thread when serving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from tabloop.data import Contract, check_frame, encode_target
from tabloop.spec import validate_spec
from tabloop.spec._models import DEFAULT_CANDIDATES
from tabloop.training import make_candidates
from tabloop.training._candidates import serving_threads
from tabloop.training._ensemble import make_ensemble
from tabloop.training._search import FAMILY, _next_family, first_trial_estimate, refit_reserve, study_name
from tabloop.training._train import IMPORTANCE_ROWS, MIN_IMPORTANCE_ROWS, importance_rows

MINIMAL = {"name": "t", "data": {"source": "x.csv", "target": "deny"}}


@dataclass
class _State:
    name: str


@dataclass
class _Trial:
    """The few fields of an Optuna FrozenTrial the budget logic reads."""

    family: str
    seconds: float
    value: float | None = None
    state: _State = field(default_factory=lambda: _State("COMPLETE"))
    fit_seconds: float = 0.0
    folds_done: int = 5
    params: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = {FAMILY: self.family}
        self.user_attrs = {"seconds": self.seconds, "fit_seconds": self.fit_seconds,
                           "fold_scores": {"roc_auc": [0.8] * self.folds_done},
                           "metrics": {"roc_auc": {"mean": self.value or 0.0, "std": 0.01}}}


def test_the_default_candidates_are_the_strong_families() -> None:
    spec = validate_spec(MINIMAL)
    assert list(spec.train.candidates) == list(DEFAULT_CANDIDATES)
    for family in ("linear", "random_forest", "extra_trees", "lightgbm", "xgboost", "catboost", "knn", "svm"):
        assert family in spec.train.candidates
    assert spec.train.threads == 1


def test_threads_do_not_change_the_study() -> None:
    one = validate_spec(MINIMAL)
    four = validate_spec({**MINIMAL, "train": {"threads": 4}})
    assert study_name("abc", one) == study_name("abc", four)


def test_refit_reserve_counts_the_best_trial_of_the_best_families() -> None:
    trials = [
        _Trial("lightgbm", 10, value=0.90, fit_seconds=10.0),
        _Trial("lightgbm", 50, value=0.85, fit_seconds=50.0),  # not its family's best: not counted
        _Trial("catboost", 20, value=0.89, fit_seconds=20.0),
        _Trial("linear", 1, value=0.70, fit_seconds=1.0),
        _Trial("xgboost", 99, value=None, fit_seconds=99.0, state=_State("PRUNED")),
    ]
    # one fold's fit times a margin, for each of the two best families
    assert refit_reserve(trials, True, 5, 2) == pytest.approx((10 + 20) / 5 * 1.5)
    assert refit_reserve(trials, True, 5, 5) == pytest.approx((10 + 20 + 1) / 5 * 1.5)
    assert refit_reserve([], True, 5, 5) == 0.0


def test_a_family_not_tried_yet_is_not_started_when_its_first_trial_cannot_fit(contract: Contract) -> None:
    by_family = {c.family: c for c in make_candidates(["linear", "lightgbm", "random_forest"], "binary", contract, 0)}
    order = ["linear", "lightgbm", "random_forest"]
    timed = [_Trial("linear", 2.0, value=0.8), _Trial("lightgbm", 4.0, value=0.85)]
    per_cost = sorted([2.0 / by_family["linear"].cost, 4.0 / by_family["lightgbm"].cost])
    expected = sum(per_cost) / 2 * by_family["random_forest"].cost
    assert first_trial_estimate("random_forest", {"linear": 2.0, "lightgbm": 4.0}, by_family) == pytest.approx(expected)
    now = 100.0
    # enough time: the untried forest gets its first trial
    assert _next_family(timed, order, by_family, 0, now + expected + 1, now, True, folds=5) == "random_forest"
    # not enough for the forest: the search goes on with the families that fit
    assert _next_family(timed, order, by_family, 0, now + 3.0, now, True, folds=5) == "linear"
    assert _next_family(timed, order, by_family, 0, now + 1.0, now, True, folds=5) is None


def test_the_first_trial_of_a_search_always_runs(contract: Contract) -> None:
    by_family = {c.family: c for c in make_candidates(["linear"], "binary", contract, 0)}
    assert _next_family([], ["linear"], by_family, 0, 0.0, 10.0, True, folds=5) == "linear"


def test_a_trial_stopped_early_counts_as_its_full_length(contract: Contract) -> None:
    by_family = {c.family: c for c in make_candidates(["linear", "lightgbm"], "binary", contract, 0)}
    # lightgbm was stopped after 1 of 5 folds taking 4 s: a full trial takes ~20 s, more than the 10 s left
    trials = [_Trial("linear", 1.0, value=0.8),
              _Trial("lightgbm", 4.0, value=0.7, state=_State("PRUNED"), folds_done=1)]
    for seed in range(5):
        assert _next_family(trials, ["linear", "lightgbm"], by_family, seed, 10.0, 0.0, True, folds=5) == "linear"


def test_importance_rows_shrink_to_the_time_given() -> None:
    assert importance_rows(50_000, 10, None, 1e-3) == IMPORTANCE_ROWS
    assert importance_rows(300, 10, None, 1e-3) == 300
    assert importance_rows(50_000, 10, 1000.0, 1e-5) == IMPORTANCE_ROWS
    # 10 features x 4 passes x 1 ms per row: 2 s cover 50 rows, never fewer than the floor
    assert importance_rows(50_000, 10, 2.0, 1e-3) == MIN_IMPORTANCE_ROWS
    assert importance_rows(50_000, 10, 8.0, 1e-3) == 200


def test_models_fit_with_the_threads_asked_for_and_serve_with_one(hmda: pd.DataFrame, contract: Contract) -> None:
    cands = {c.family: c for c in make_candidates(["linear", "lightgbm", "xgboost", "random_forest", "catboost"],
                                                  "binary", contract, 0)}
    small = {"lightgbm": {"n_estimators": 10}, "xgboost": {"n_estimators": 10}, "random_forest": {"n_estimators": 5},
             "catboost": {"iterations": 10}}
    rows = hmda.sample(300, random_state=0)
    X, y = check_frame(rows, contract), encode_target(rows["deny"], ["no", "yes"])
    members = []
    for family, params in small.items():
        pipe = cands[family].build({**cands[family].params, **params}, threads=2)
        model = pipe.named_steps["model"]
        assert model.get_params().get("n_jobs", model.get_params().get("thread_count")) == 2, family
        members.append((family, pipe))
    # LogisticRegression's n_jobs means one-vs-rest processes, not threads: left alone
    assert cands["linear"].build(threads=2).named_steps["model"].n_jobs is None
    assert cands["lightgbm"].build().named_steps["model"].n_jobs == 1
    ensemble = make_ensemble(members, [0.25] * 4, "binary").fit(X, y)
    before = ensemble.predict_proba(X)
    serving_threads(ensemble)
    for family, fitted in ensemble.named_estimators_.items():
        if family != "catboost":  # a fitted CatBoost model keeps its parameters; its predictions pick their threads
            assert fitted.named_steps["model"].n_jobs == 1, family
    assert (ensemble.predict_proba(X) == before).all()


class _FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_search_gets_the_budget_less_what_was_spent_and_what_must_follow_it(
    monkeypatch: pytest.MonkeyPatch, hmda: pd.DataFrame, contract: Contract
) -> None:
    from tabloop.training import AfterSearch, Budget, train_candidates
    from tabloop.training import _train
    from tabloop.training._search import SearchOutcome

    seen: dict[str, Any] = {}

    def fake_search(*args: Any, deadline: float, keep: Any, **kwargs: Any) -> SearchOutcome:
        seen.update(deadline=deadline, keep=keep)
        return SearchOutcome("s", [], {}, 0, "time budget spent")

    monkeypatch.setattr(_train, "run_search", fake_search)
    # the command started 10 s ago (a fake clock: no time passes while training)
    budget = Budget(60.0, started=90.0, clock=_FakeClock(100.0), after=AfterSearch(log_per_run=0.1, export=2.0,
                                                                                    register=3.0))
    spec = validate_spec({**MINIMAL, "data": {**MINIMAL["data"], "task": "binary", "exclude": ["black"]},
                          "split": {"folds": 3, "validation": "kfold"},
                          "train": {"candidates": ["linear"], "selection": [], "imbalance": []}})
    res = train_candidates(hmda.head(300), spec, contract, ["no", "yes"], budget=budget)
    assert seen["deadline"] == 150.0  # the command's end, not the search's: what follows is kept back by keep()
    assert budget.importance == pytest.approx(1.8)  # 3% of 60 s
    # two trials so far: refit of the best (one fold's fit x 1.5), the ensemble, the importance, logging the
    # trials, the next one and the rows without a trial (dummy, linear, ensemble), export, registration
    trials = [_Trial("linear", 1.0, value=0.8, fit_seconds=3.0), _Trial("linear", 1.0, value=0.7, fit_seconds=9.0)]
    expected = 3.0 / 3 * 1.5 + budget.ensemble + 1.8 + 0.1 * (2 + 1 + 3) + 2.0 + 3.0
    assert seen["keep"](trials) == pytest.approx(expected)
    assert budget.search_seconds(6, 1.5) == pytest.approx(60 - 10 - expected)
    assert {"prepare", "search", "refit", "importance"} <= set(res.to_dict()["time"]["spent"])
    assert res.budget is budget
