"""Which rows a retraining uses, and realized performance per version, on plain DataFrames."""

from __future__ import annotations

import pandas as pd

from tabloop.loop import labelled_window, performance_of, realized_performance, retraining_frame, split_recent


def _recent(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "y": ["a" if i % 2 else "b" for i in range(n)]})


def test_the_window_keeps_the_newest_rows() -> None:
    assert labelled_window(_recent(), 5)["x"].tolist() == [35, 36, 37, 38, 39]


def test_the_holdout_is_stratified_and_reindexed() -> None:
    adapt, holdout = split_recent(_recent(), target="y", task="binary", holdout_fraction=0.25, seed=0)
    assert len(adapt) == 30 and len(holdout) == 10
    assert holdout["y"].value_counts().tolist() == [5, 5] and holdout.index.tolist() == list(range(10))
    again = split_recent(_recent(), target="y", task="binary", holdout_fraction=0.25, seed=0)[1]
    pd.testing.assert_frame_equal(holdout, again)


def test_older_data_comes_first_sampled_by_the_policy() -> None:
    adapt, original = _recent(10), _recent(100).assign(x=lambda d: d["x"] + 1000)
    assert retraining_frame(adapt, None, older_data_fraction=0.5, seed=0).equals(adapt.reset_index(drop=True))
    assert len(retraining_frame(adapt, original, older_data_fraction=0.0, seed=0)) == 10
    half = retraining_frame(adapt, original, older_data_fraction=0.5, seed=0)
    assert len(half) == 60 and (half["x"].iloc[:50] >= 1000).all() and half["x"].iloc[50:].tolist() == list(range(10))
    assert len(retraining_frame(adapt, original, older_data_fraction=1.0, seed=0)) == 110


def test_realized_performance_per_version() -> None:
    joined = pd.DataFrame({"version": ["1", "1", "2", "2"], "label": ["yes", "no", "yes", "no"],
                           "prediction": ["yes", "no", "no", "no"],
                           "probabilities": [{"no": 0.2, "yes": 0.8}, {"no": 0.9, "yes": 0.1},
                                             {"no": 0.6, "yes": 0.4}, {"no": 0.7, "yes": 0.3}]})
    perf = realized_performance(joined, task="binary", target="deny", metric="accuracy", classes=["no", "yes"])
    assert [p["version"] for p in perf] == ["1", "2"] and [p["rows"] for p in perf] == [2, 2]
    assert performance_of(perf, "1")["metrics"]["accuracy"] == 1.0
    assert performance_of(perf, "2")["metrics"]["accuracy"] == 0.5
    assert performance_of(perf, "3") is None
    assert realized_performance(joined.iloc[:0], task="binary", target="deny", metric="accuracy", classes=["no", "yes"]) == []
