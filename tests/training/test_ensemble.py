"""The weighted ensemble: greedy weights, scored on folds that did not choose them, and kept only if it earns it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from tabloop.training import CandidateResult
from tabloop.spec import HOLDOUT_PARTS
from tabloop.training._cv import holdout_parts
from tabloop.training._ensemble import blend, evaluate_ensemble, greedy_weights
from tabloop.training._train import _select


def _data(n: int = 600) -> tuple[np.ndarray, list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=n)
    y = (truth + rng.normal(scale=0.5, size=n) > 0).astype(int)
    # two models, each seeing the truth through independent noise: their average is better than either
    a = 1 / (1 + np.exp(-(truth + rng.normal(scale=1.0, size=n))))
    b = 1 / (1 + np.exp(-(truth + rng.normal(scale=1.0, size=n))))
    noise = rng.uniform(size=n)
    preds = [np.c_[1 - p, p] for p in (a, b, noise)]
    splits = list(KFold(4, shuffle=True, random_state=0).split(np.zeros(n)))
    return y, preds, splits


def test_greedy_weights_blend_the_useful_models_and_drop_noise() -> None:
    y, preds, _ = _data()
    w = greedy_weights(preds, y, np.arange(len(y)), task="binary", metric="roc_auc")
    assert w.sum() == 1.0 and w[0] > 0 and w[1] > 0 and w[2] == 0


def test_greedy_weights_reach_a_blend_that_needs_a_round_without_gain_first() -> None:
    # a is better than b; the optimal blend gives b about a quarter. 1:1 is worse than a alone and the
    # second round adds a again (no gain), but 2:1 beats a alone: greedy must not stop at that second round
    rng = np.random.default_rng(0)
    n = 20_000
    y = rng.normal(size=n)
    a = y + rng.normal(scale=1.0, size=n)
    b = y + rng.normal(scale=1.8, size=n)
    w = greedy_weights([a, b], y, np.arange(n), task="regression", metric="rmse")
    assert w[1] > 0 and w[0] > w[1]
    rmse = lambda p: float(np.sqrt(np.mean((p - y) ** 2)))  # noqa: E731
    assert rmse(w[0] * a + w[1] * b) < min(rmse(a), rmse((a + b) / 2))


def test_ensemble_is_scored_on_folds_that_did_not_choose_its_weights() -> None:
    y, preds, splits = _data()
    run = evaluate_ensemble(["a", "b", "noise"], preds, y, splits, task="binary", metrics=["roc_auc", "log_loss"])
    assert len(run.fold_scores["roc_auc"]) == 4 and run.weights[2] == 0
    from sklearn.metrics import roc_auc_score

    singles = [np.mean([roc_auc_score(y[va], preds[j][va, 1]) for _, va in splits]) for j in (0, 1)]
    assert run.stats()["roc_auc"]["mean"] > max(singles)
    # rows without out-of-fold predictions (e.g. the first block of a time split) are left out, not guessed
    gappy = [p.copy() for p in preds]
    gappy[0][:150] = np.nan
    run2 = evaluate_ensemble(["a", "b"], gappy[:2], y, splits, task="binary", metrics=["roc_auc"])
    assert len(run2.fold_scores["roc_auc"]) == 4 and np.isfinite(run2.fold_scores["roc_auc"]).all()


def _row(name: str, mean: float, std: float, complexity: int) -> CandidateResult:
    return CandidateResult(name, {}, "ok", metrics={"roc_auc": {"mean": mean, "std": std}}, complexity=complexity)


def test_an_ensemble_must_beat_the_best_single_model_by_more_than_its_spread() -> None:
    single = _row("lightgbm", 0.80, 0.02, 5)
    assert _select([single, _row("ensemble", 0.81, 0.02, 9)], "roc_auc", 4)[0] == "lightgbm"  # within SE 0.01
    assert _select([single, _row("ensemble", 0.82, 0.02, 9)], "roc_auc", 4)[0] == "ensemble"


def test_with_one_holdout_split_the_ensemble_is_scored_on_each_part_by_weights_chosen_on_the_others() -> None:
    y, preds, splits = _data()
    tr, va = splits[0]
    holdout = [p.copy() for p in preds]
    for p in holdout:  # only the holdout rows have out-of-fold predictions
        p[tr] = np.nan
    run = evaluate_ensemble(["a", "b", "noise"], holdout, y, [(tr, va)], task="binary", metrics=["roc_auc"])
    parts = [va[p] for p in holdout_parts(y[va], "binary")]
    assert len(parts) == HOLDOUT_PARTS and sorted(np.concatenate(parts).tolist()) == sorted(va.tolist())
    expected = []
    for part in parts:
        others = np.setdiff1d(va, part)
        w = greedy_weights(holdout, y, others, task="binary", metric="roc_auc")
        expected.append(roc_auc_score(y[part], blend(holdout, w)[part][:, 1]))
    assert run.fold_scores["roc_auc"] == pytest.approx(expected)
    assert run.weights[0] > 0 and run.weights[1] > 0 and run.weights[2] == 0
