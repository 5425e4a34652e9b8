"""Metrics per slice: quartiles and top categories, the worst slice's gap with its interval, small slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.evaluation import compute_metrics, slice_labels, slice_metrics
from tabloop.stats import bootstrap_counts

N = 600
RNG = np.random.default_rng(4)
GROUP = pd.Series(RNG.choice(["a", "b"], N, p=[0.6, 0.4]))
GROUP.iloc[:12] = "tiny"
Y = RNG.integers(0, 2, N)
# the model ranks well in a and tiny, at random in b
P1 = np.where(GROUP == "b", RNG.random(N), np.clip(0.25 + 0.5 * Y + RNG.normal(0, 0.15, N), 0, 1))
PROBA = np.column_stack([1 - P1, P1])
PRED = (P1 >= 0.5).astype(int)
NAMES = ["roc_auc", "accuracy", "recall", "precision"]


def _slices(values: pd.Series, metric: str = "roc_auc") -> dict:
    overall = compute_metrics("binary", Y, proba=PROBA, y_pred=PRED, metrics=NAMES)
    return slice_metrics("binary", "group", values, Y, metric=metric, names=NAMES, overall=overall,
                         weights=bootstrap_counts(N, 300, seed=1), proba=PROBA, y_pred=PRED)


def test_the_worst_slice_and_its_gap_with_an_interval() -> None:
    out = _slices(GROUP)
    by = {s["slice"]: s for s in out["slices"]}
    assert [s["slice"] for s in out["slices"]] == ["a", "b", "tiny"]  # most rows first
    b = by["b"]
    mask = (GROUP == "b").to_numpy()
    want = compute_metrics("binary", Y[mask], proba=PROBA[mask], y_pred=PRED[mask], metrics=NAMES)
    assert b["metrics"]["roc_auc"] == pytest.approx(want["roc_auc"])
    assert b["metrics"]["flagged_share"] == pytest.approx(PRED[mask].mean())
    assert b["intervals"]["roc_auc"][0] <= b["metrics"]["roc_auc"] <= b["intervals"]["roc_auc"][1]
    worst = out["worst"]
    assert worst["slice"] == "b"
    overall = compute_metrics("binary", Y, proba=PROBA, metrics=["roc_auc"])["roc_auc"]
    assert worst["gap"] == pytest.approx(want["roc_auc"] - overall)
    low, high = worst["gap_interval"]
    assert low <= worst["gap"] <= high < 0  # clearly worse
    assert "worst slice b" in out["summary"] and "a real gap" in out["summary"]


def test_a_slice_under_30_rows_is_shown_but_not_judged() -> None:
    out = _slices(GROUP)
    tiny = next(s for s in out["slices"] if s["slice"] == "tiny")
    assert tiny["rows"] == 12 and tiny["too_small"] is True
    assert out["worst"]["slice"] != "tiny"
    assert "too small to judge (< 30 rows): tiny" in out["summary"]


def test_lower_is_better_metrics_pick_the_highest() -> None:
    names = ["log_loss", "accuracy"]
    overall = compute_metrics("binary", Y, proba=PROBA, y_pred=PRED, metrics=names)
    res = slice_metrics("binary", "group", GROUP, Y, metric="log_loss", names=names, overall=overall,
                        weights=np.zeros((0, N)), proba=PROBA, y_pred=PRED)
    assert res["worst"]["slice"] == "b" and res["worst"]["gap"] > 0
    assert res["worst"]["gap_interval"] is None  # no resamples, no interval


def test_numbers_are_cut_into_quartiles_and_gaps_kept_apart() -> None:
    values = pd.Series(np.r_[np.arange(1.0, 41.0), [np.nan] * 4])
    labels, how = slice_labels(values)
    assert how == "quartiles"
    assert labels[0] == "[1, 10.75]" and labels[39] == "(30.25, 40]" and labels[-1] == "(missing)"
    assert len(set(labels)) == 5


def test_categories_beyond_the_top_ones_are_pooled() -> None:
    values = pd.Series([f"c{i}" for i in range(15) for _ in range(15 - i)] + [None])
    labels, how = slice_labels(values)
    assert how == "categories"
    assert set(labels) == {f"c{i}" for i in range(10)} | {"(other)", "(missing)"}
    assert slice_labels(pd.Series([0, 1, 1, 0, 2]))[1] == "categories"  # few distinct numbers: as values
