"""The one-standard-error rule compares paired per-fold scores, and a winning constant baseline is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.data import infer_contract
from tabloop.spec import validate_spec
from tabloop.training import CandidateResult, train_candidates
from tabloop.training._train import _select, paired_standard_error


def _row(name: str, scores: list[float], complexity: int, family: str = "") -> CandidateResult:
    a = np.asarray(scores)
    return CandidateResult(name, {}, "ok", metrics={"rmse": {"mean": float(a.mean()), "std": float(a.std(ddof=1))}},
                           fold_scores={"rmse": list(scores)}, complexity=complexity, family=family or name)


def test_a_model_better_on_every_fold_beats_the_baseline_despite_one_hard_fold() -> None:
    # issue #14's table: CatBoost beat the mean on every fold (by 0.021-0.130), one fold was hard for both
    catboost = [1.80, 1.95, 2.05, 2.10, 3.64]
    dummy = [c + d for c, d in zip(catboost, [0.021, 0.13, 0.08, 0.09, 0.11], strict=True)]
    ok = [_row("dummy", dummy, 0), _row("catboost", catboost, 5)]
    gap, se = paired_standard_error(ok[1], ok[0], "rmse", 5)  # type: ignore[misc]
    assert gap == pytest.approx(0.0862) and se < gap
    winner, rule = _select(ok, "rmse", 5)
    assert winner == "catboost"
    assert "paired per-fold differences" in rule and "nearest: dummy" in rule
    # a model whose advantage changes sign from fold to fold is still within one (paired) standard error
    noisy = [c + d for c, d in zip(catboost, [0.3, -0.2, 0.25, -0.15, 0.1], strict=True)]
    winner, rule = _select([_row("dummy", noisy, 0), ok[1]], "rmse", 5)
    assert winner == "dummy" and "paired per-fold difference" in rule and "within SE" in rule


def test_an_ensemble_is_compared_with_the_best_single_model_fold_by_fold() -> None:
    single = _row("lightgbm", [1.0, 1.2, 3.0, 1.1], 5)
    steady = _row("ensemble", [0.97, 1.17, 2.97, 1.07], 9)  # better by 0.03 on every fold: beats it
    assert _select([single, steady], "rmse", 4)[0] == "ensemble"
    mixed = _row("ensemble", [0.90, 1.25, 2.93, 1.15], 9)  # better on average, worse on two folds: does not
    assert _select([single, mixed], "rmse", 4)[0] == "lightgbm"


def _regression_table(seed: int, slope: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1000
    x = rng.normal(size=n)
    y = slope * x + rng.normal(size=n)
    y[0] += 300.0  # one huge target: the fold that scores it is hard for every model
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n), "y": y})


def _spec(task: str = "regression") -> object:
    return validate_spec({
        "name": "t", "data": {"source": "x.csv", "target": "y", "task": task},
        "split": {"folds": 5, "validation": "kfold"},
        "train": {"candidates": ["linear"], "trials": 1, "selection": [], "imbalance": [], "ensemble": False},
    })


def test_training_registers_the_model_that_wins_every_fold_not_the_mean() -> None:
    df = _regression_table(0, 0.3)
    res = train_candidates(df, _spec(), infer_contract(df, target="y"), [])  # type: ignore[arg-type]
    by_name = {c.name: c for c in res.leaderboard}
    ridge, dummy = by_name["ridge"], by_name["dummy"]
    diffs = np.asarray(dummy.fold_scores["rmse"]) - np.asarray(ridge.fold_scores["rmse"])
    assert (diffs > 0).all()  # the linear model is better on every fold ...
    # ... by less than the unpaired standard error the hard fold makes
    assert dummy.mean("rmse") - ridge.mean("rmse") < ridge.std("rmse") / np.sqrt(5)
    assert res.winner == "ridge"
    assert res.warnings == []


def test_a_winning_baseline_is_flagged_loudly() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=600), "z": rng.normal(size=600), "y": rng.normal(size=600)})
    messages: list[str] = []
    res = train_candidates(df, _spec(), infer_contract(df, target="y"), [], progress=messages.append)  # type: ignore[arg-type]
    assert res.winner == "dummy"
    assert len(res.warnings) == 1 and "the best model is no better than predicting the mean" in res.warnings[0]
    assert res.to_dict()["warnings"] == res.warnings
    assert any(m.startswith("WARNING: the best model is no better") for m in messages)
    df["y"] = np.where(rng.random(600) < 0.3, "a", "b")
    res = train_candidates(df, _spec("binary"), infer_contract(df, target="y"), ["a", "b"])  # type: ignore[arg-type]
    assert res.winner == "dummy" and "no better than predicting the majority class" in res.warnings[0]
