"""Leakage and train/test shift: each kind of leak built on purpose is flagged, honest features on real tables are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.data import Finding, leakage_findings, shift_findings


def _honest(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A binary problem with two useful features, one noise feature and a category: nothing leaks."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"a": a, "b": b, "noise": rng.normal(size=n),
                         "colour": rng.choice(["red", "green", "blue"], size=n), "y": y})


def _features(df: pd.DataFrame, target: str = "y") -> list[str]:
    return [c for c in df.columns if c != target]


def _by_column(findings: list[Finding]) -> dict[str | None, Finding]:
    return {f.column: f for f in findings}


def test_an_honest_table_has_no_findings() -> None:
    df = _honest()
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []


def test_a_copy_of_the_target_is_critical_and_says_which_edit_drops_it() -> None:
    df = _honest()
    df["approved"] = df["y"].map({0: "rejected", 1: "approved"})  # the label, spelt differently
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["approved"].code == "target_copy"
    assert found["approved"].severity == "critical"
    assert found["approved"].spec_change == "data.exclude: [approved]"
    assert set(found) == {"approved"}


def test_a_noisy_copy_of_the_target_is_a_near_perfect_predictor() -> None:
    df = _honest()
    rng = np.random.default_rng(1)
    df["score_after"] = df["y"] + rng.normal(scale=0.1, size=len(df))
    findings = leakage_findings(df, "y", "binary", features=_features(df))
    assert [(f.column, f.severity) for f in findings] == [("score_after", "critical")]
    assert findings[0].code in ("near_perfect_predictor", "target_copy")
    assert "score_after" in findings[0].message and "data.exclude" in findings[0].spec_change


def test_regression_copies_and_near_copies_are_flagged() -> None:
    rng = np.random.default_rng(2)
    n = 1500
    x = rng.normal(size=n)
    y = 3 * x + rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": y, "y_in_cents": y * 100 + 7,
                       "y_rounded": np.round(y, 1) + rng.normal(scale=0.05, size=n)})
    found = _by_column(leakage_findings(df, "y", "regression", features=_features(df)))
    assert found["y_in_cents"].code == "target_copy"
    assert found["y_rounded"].severity == "critical"
    assert "x" not in found  # R² 0.9 is a strong feature, not a leak


def test_missingness_recorded_after_the_outcome_is_flagged() -> None:
    df = _honest()
    rng = np.random.default_rng(3)
    # a follow-up field filled in once the outcome is known: nearly every positive, hardly a negative;
    # the values themselves say nothing
    recorded = np.where(df["y"] == 1, rng.random(len(df)) < 0.97, rng.random(len(df)) < 0.02)
    df["followup_days"] = np.where(recorded, rng.integers(1, 30, size=len(df)), np.nan)
    # and one recorded after a weaker signal: 60% of positives, 10% of negatives
    partial = np.where(df["y"] == 1, rng.random(len(df)) < 0.6, rng.random(len(df)) < 0.1)
    df["callback"] = np.where(partial, rng.normal(size=len(df)), np.nan)
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["followup_days"].code == "missingness_predicts_target"
    assert found["followup_days"].severity == "critical"
    assert found["callback"].code == "missingness_predicts_target"
    assert found["callback"].severity == "warning"
    assert 0.7 <= found["callback"].score < 0.95
    assert found["callback"].spec_change == "data.exclude: [callback]"


def test_gaps_at_random_are_not_flagged() -> None:
    df = _honest()
    rng = np.random.default_rng(4)
    df.loc[rng.random(len(df)) < 0.3, "a"] = np.nan
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []


def test_a_file_sorted_by_the_label_is_said_as_information() -> None:
    df = _honest().sort_values("y").reset_index(drop=True)
    findings = leakage_findings(df, "y", "binary", features=_features(df))
    assert [f.code for f in findings] == ["row_order_carries_target"]
    # tabloop's split shuffles: the model is not at risk, nothing in the spec needs to change
    assert findings[0].severity == "info"
    assert findings[0].spec_change is None


def test_row_order_is_read_from_the_index_a_split_keeps() -> None:
    df = _honest().sort_values("y").reset_index(drop=True)
    train = df.sample(frac=0.8, random_state=0)  # shuffled rows, original row numbers kept in the index
    findings = leakage_findings(train, "y", "binary", features=_features(df))
    assert [f.code for f in findings] == ["row_order_carries_target"]


def test_an_identifier_numbered_in_the_order_of_the_label_is_flagged() -> None:
    df = _honest()
    rng = np.random.default_rng(5)
    # customer numbers handed out after sorting by outcome, then the rows shuffled
    order = np.argsort(df["y"].to_numpy() + rng.random(len(df)) * 0.01, kind="stable")
    ids = np.empty(len(df), dtype=np.int64)
    ids[order] = np.arange(100_000, 100_000 + len(df))
    df["customer"] = [f"C{i:07d}" for i in ids]
    df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["customer"].code == "identifier_carries_target"
    assert found["customer"].severity == "critical"
    assert found["customer"].spec_change == "data.exclude: [customer]"
    assert "identifier 'customer'" in found["customer"].message
    assert set(found) == {"customer"}


def test_an_identifier_that_leans_towards_the_label_is_a_warning() -> None:
    df = _honest()
    rng = np.random.default_rng(6)
    # later records are more often positive: the id carries part of the answer
    key = df["y"].to_numpy() * 1.2 + rng.normal(size=len(df))
    ids = np.empty(len(df), dtype=np.int64)
    ids[np.argsort(key)] = np.arange(len(df))
    df["record_id"] = ids
    df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["record_id"].code == "identifier_carries_target"
    assert found["record_id"].severity == "warning"


def test_honest_identifiers_and_a_declared_id_column() -> None:
    df = _honest()
    rng = np.random.default_rng(7)
    df["row_id"] = rng.permutation(len(df))  # numbered at random: carries nothing
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []
    df = df.sort_values("y").reset_index(drop=True)
    df["row_id"] = np.arange(len(df))
    found = leakage_findings(df, "y", "binary", features=[c for c in _features(df) if c != "row_id"],
                             id_column="row_id")
    by = _by_column(found)
    # data.id_column is never a feature: worth knowing, nothing to exclude
    assert by["row_id"].severity == "info" and by["row_id"].spec_change is None
    assert by[None].code == "row_order_carries_target"


def test_a_timestamp_ordered_by_the_label_asks_for_a_time_split() -> None:
    df = _honest()
    rng = np.random.default_rng(8)
    # positives were entered in the later months
    days = np.where(df["y"] == 1, rng.integers(120, 365, len(df)), rng.integers(0, 240, len(df)))
    df["entered"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    df = df.sample(frac=1.0, random_state=2).reset_index(drop=True)
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["entered"].code == "timestamp_carries_target"
    assert found["entered"].severity == "warning"
    assert found["entered"].spec_change == "split: {strategy: time, time_column: entered}"
    # a time split on that column already tests on the latest rows: worth knowing only
    found = _by_column(leakage_findings(df, "y", "binary", features=[c for c in _features(df) if c != "entered"],
                                        time_column="entered", split_strategy="time"))
    assert found["entered"].severity == "info"


def test_identifiers_and_timestamps_kept_out_of_the_features_are_checked_too() -> None:
    df = _honest()
    rng = np.random.default_rng(15)
    days = np.where(df["y"] == 1, rng.integers(120, 365, len(df)), rng.integers(0, 240, len(df)))
    df["entered"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    order = np.argsort(df["y"].to_numpy() + rng.random(len(df)) * 0.01, kind="stable")
    df.loc[order, "key"] = [f"K{i:06d}" for i in range(len(df))]
    df["comment"] = np.where(df["y"] == 1, "approved", "declined")  # excluded by the user: not looked at
    df = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    found = _by_column(leakage_findings(df, "y", "binary", features=["a", "b", "noise", "colour"],
                                        excluded=["entered", "key", "comment"]))
    assert set(found) == {"entered", "key"}
    # a date the model never sees can still be the axis to split by
    assert found["entered"].severity == "warning"
    assert found["entered"].spec_change == "split: {strategy: time, time_column: entered}"
    # an id that is not a feature leaks nothing: worth knowing only
    assert found["key"].severity == "info" and found["key"].spec_change is None


def test_a_timestamp_written_with_the_outcome_is_critical() -> None:
    df = _honest()
    base = pd.Timestamp("2024-01-01")
    df["closed_at"] = base + pd.to_timedelta(np.where(df["y"] == 1, 400, 0) + np.arange(len(df)) % 300, unit="D")
    found = _by_column(leakage_findings(df, "y", "binary", features=_features(df)))
    assert found["closed_at"].severity == "critical"
    assert found["closed_at"].spec_change == "data.exclude: [closed_at]"


def test_an_honest_timestamp_is_not_flagged() -> None:
    df = _honest()
    rng = np.random.default_rng(9)
    df["entered"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, len(df)), unit="D")).astype(str)
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []


def test_multiclass_leaks_and_honest_features() -> None:
    from sklearn.datasets import load_iris

    df = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    features = _features(df, "target")
    assert leakage_findings(df, "target", "multiclass", features=features) == []  # petal width: accuracy 0.95
    df["species_code"] = df["target"].map({0: "s", 1: "ve", 2: "vi"})
    found = _by_column(leakage_findings(df, "target", "multiclass", features=_features(df, "target")))
    assert set(found) == {"species_code"} and found["species_code"].code == "target_copy"


@pytest.mark.parametrize(("loader", "task"), [("load_breast_cancer", "binary"), ("load_wine", "multiclass"),
                                              ("load_diabetes", "regression"), ("load_digits", "multiclass")])
def test_honest_features_of_real_tables_are_not_flagged(loader: str, task: str) -> None:
    import sklearn.datasets

    df = getattr(sklearn.datasets, loader)(as_frame=True).frame
    findings = leakage_findings(df, "target", task, features=_features(df, "target"))
    # wine's file lists the cultivars one after another: the row order says so, no feature is flagged
    assert [f.column for f in findings if f.column is not None] == []
    assert all(f.code == "row_order_carries_target" for f in findings)


def test_the_strongest_honest_feature_of_breast_cancer_is_not_critical() -> None:
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame
    for name in ("worst concave points", "worst perimeter"):
        assert leakage_findings(df, "target", "binary", features=[name]) == []
    df["diagnosis"] = df["target"].map({0: "M", 1: "B"})
    assert [f.column for f in leakage_findings(df, "target", "binary", features=_features(df, "target"))] == \
        ["diagnosis"]


def test_the_bundled_hmda_table_is_clean(hmda: pd.DataFrame) -> None:
    assert leakage_findings(hmda, "deny", "binary", features=_features(hmda, "deny")) == []


def test_a_large_table_is_checked_on_a_sample() -> None:
    rng = np.random.default_rng(10)
    n = 60_000
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)
    df = pd.DataFrame({"x": x, "leak": y + rng.normal(scale=0.05, size=n), "y": y})
    findings = leakage_findings(df, "y", "binary", features=["x", "leak"], sample=5_000)
    assert [f.column for f in findings] == ["leak"]


def test_tiny_or_unlabelled_tables_say_nothing() -> None:
    df = _honest(n=30)
    df["copy"] = df["y"]
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []
    df = _honest()
    df["y"] = 1
    assert leakage_findings(df, "y", "binary", features=_features(df)) == []


# -- train/test shift -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_random_split_of_an_iid_table_shows_no_shift(seed: int) -> None:
    df = _honest(n=3000, seed=seed)
    order = np.random.default_rng(seed).permutation(len(df))
    train, test = df.iloc[np.sort(order[:2400])], df.iloc[np.sort(order[2400:])]
    assert shift_findings(train, test, features=_features(df), seed=seed) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_split_of_a_real_table_shows_no_shift(hmda: pd.DataFrame, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(len(hmda))
    cut = int(0.8 * len(hmda))
    train, test = hmda.iloc[np.sort(order[:cut])], hmda.iloc[np.sort(order[cut:])]
    assert shift_findings(train, test, features=_features(hmda, "deny"), seed=seed) == []


def test_a_shifted_split_is_flagged_naming_the_column() -> None:
    df = _honest(n=3000)
    rng = np.random.default_rng(11)
    # a time split: the test part is the last fifth of the file, when a counter had moved on
    df["batch_level"] = np.linspace(0, 10, len(df)) + rng.normal(scale=0.5, size=len(df))
    train, test = df.iloc[:2400], df.iloc[2400:]
    findings = shift_findings(train, test, features=_features(df), split_strategy="time")
    assert [f.column for f in findings] == ["batch_level"]
    assert findings[0].code == "train_test_shift"
    assert findings[0].spec_change == "data.exclude: [batch_level]"
    assert "the split is by time" in findings[0].message
    assert findings[0].severity == "critical"  # the parts are all but separable


def test_a_moderate_shift_is_a_warning() -> None:
    df = _honest(n=4000)
    rng = np.random.default_rng(12)
    train, test = df.iloc[:3000].copy(), df.iloc[3000:].copy()
    test["b"] = test["b"] + 0.8  # the test part's b sits higher
    test["colour"] = np.where(rng.random(len(test)) < 0.3, "red", test["colour"])
    findings = shift_findings(train, test, features=_features(df))
    assert {f.column for f in findings} >= {"b"}
    assert all(f.severity == "warning" for f in findings)
    assert "a" not in {f.column for f in findings} and "noise" not in {f.column for f in findings}


def test_too_few_rows_for_a_shift_check() -> None:
    df = _honest(n=40)
    assert shift_findings(df.iloc[:35], df.iloc[35:], features=_features(df)) == []


def test_regression_missingness_and_row_order() -> None:
    rng = np.random.default_rng(13)
    n = 1500
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": y})
    # a claim amount filled in only for the costliest cases
    df["claim"] = np.where(y > np.quantile(y, 0.7), rng.normal(size=n), np.nan)
    found = _by_column(leakage_findings(df, "y", "regression", features=["x", "claim"]))
    assert set(found) == {"claim"} and found["claim"].code == "missingness_predicts_target"
    assert found["claim"].severity == "critical"
    ordered = df.sort_values("y").reset_index(drop=True)
    findings = leakage_findings(ordered, "y", "regression", features=["x"])
    assert [(f.code, f.severity, f.spec_change) for f in findings] == [("row_order_carries_target", "info", None)]


def test_a_wide_table_names_the_shifted_column_among_many() -> None:
    rng = np.random.default_rng(14)
    n, p = 1200, 60  # more columns than the classifier is given: the screen must keep the shifted one
    df = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    train, test = df.iloc[:900], df.iloc[900:].copy()
    test["x37"] = test["x37"] + 1.5
    findings = shift_findings(train, test, features=list(df.columns))
    assert [f.column for f in findings] == ["x37"]
    assert shift_findings(train, df.iloc[900:], features=list(df.columns)) == []
