"""split_train_test and make_folds: sizes, no leaks, determinism by seed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from tabloop.data import make_folds, split_train_test
from tabloop.errors import DataError
from tabloop.spec import Spec

MakeSpec = Callable[..., Spec]


def test_stratified_split_is_a_partition_that_keeps_class_shares(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    train, test = split_train_test(hmda, make_spec())
    assert abs(len(test) - 0.2 * len(hmda)) <= 1
    assert len(train) + len(test) == len(hmda)
    assert set(train.index).isdisjoint(test.index)
    assert set(train.index) | set(test.index) == set(hmda.index)
    share = (hmda["deny"] == "yes").mean()
    assert abs((train["deny"] == "yes").mean() - share) < 0.005
    assert abs((test["deny"] == "yes").mean() - share) < 0.005
    assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing  # original order kept


def test_same_seed_same_split_other_seed_other_split(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    a_train, a_test = split_train_test(hmda, make_spec(seed=7))
    b_train, b_test = split_train_test(hmda, make_spec(seed=7))
    c_train, _ = split_train_test(hmda, make_spec(seed=8))
    assert a_train.index.equals(b_train.index) and a_test.index.equals(b_test.index)
    assert not a_train.index.equals(c_train.index)


def test_test_size_is_honoured(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    _, test = split_train_test(hmda, make_spec(split={"test_size": 0.5, "strategy": "random"}))
    assert abs(len(test) - 0.5 * len(hmda)) <= 1


def test_group_split_never_puts_a_group_on_both_sides(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    df = hmda.assign(branch=np.arange(len(hmda)) % 97)
    spec = make_spec(split={"strategy": "group", "group_column": "branch", "folds": 3})
    train, test = split_train_test(df, spec)
    assert set(train["branch"]).isdisjoint(test["branch"])
    assert 0.1 < len(test) / len(df) < 0.3
    cv, groups = make_folds(train, spec)
    assert isinstance(cv, GroupKFold) and cv.n_splits == 3
    np.testing.assert_array_equal(groups, train["branch"].to_numpy())
    for tr, va in cv.split(train, groups=groups):
        assert set(groups[tr]).isdisjoint(groups[va])


def test_time_split_keeps_the_future_out_of_training(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    rng = np.random.default_rng(0)
    df = hmda.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.permutation(len(hmda)), unit="D"))
    spec = make_spec(split={"strategy": "time", "time_column": "when", "folds": 3})
    train, test = split_train_test(df, spec)
    assert train["when"].max() < test["when"].min()
    assert abs(len(test) - 0.2 * len(df)) <= 1
    cv, groups = make_folds(train, spec)
    assert isinstance(cv, TimeSeriesSplit) and groups is None
    # the folds are positional, so every fold must validate on rows later than all it trained on
    times = train["when"].to_numpy()
    for tr, va in cv.split(train):
        assert times[tr].max() < times[va].min()


def test_too_few_rows(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    with pytest.raises(DataError, match="only 19 rows") as err:
        split_train_test(hmda.head(19), make_spec())
    assert "at least 20" in (err.value.hint or "")


def test_stratified_split_needs_two_rows_per_class(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    df = hmda.head(40).copy()
    df["deny"] = "no"
    df.loc[df.index[3], "deny"] = "yes"
    with pytest.raises(DataError, match="column 'deny': a class has fewer than 2 rows") as err:
        split_train_test(df, make_spec())
    assert "split.strategy: random" in (err.value.hint or "")
    train, test = split_train_test(df, make_spec(split={"strategy": "random"}))  # the advice works
    assert len(train) + len(test) == 40


def test_missing_split_column_is_named(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    spec = make_spec(split={"strategy": "group", "group_column": "branch"})
    with pytest.raises(DataError, match=r"split column 'branch' is not in the data \(columns: \['dir'"):
        split_train_test(hmda, spec)
    with pytest.raises(DataError, match="split column 'branch'"):
        make_folds(hmda, spec)


def test_folds_follow_strategy_task_and_seed(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    cv, groups = make_folds(hmda, make_spec(seed=3, split={"folds": 4}))
    assert isinstance(cv, StratifiedKFold) and groups is None
    assert (cv.n_splits, cv.shuffle, cv.random_state) == (4, True, 3)
    cv, _ = make_folds(hmda, make_spec(task="regression", target="lvr"))  # stratified makes no sense here
    assert type(cv) is KFold and cv.shuffle and cv.random_state == 42
    cv, _ = make_folds(hmda, make_spec(split={"strategy": "random"}))
    assert type(cv) is KFold


def test_regression_split_ignores_stratification(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    train, test = split_train_test(hmda, make_spec(task="regression", target="lvr"))
    assert len(train) + len(test) == len(hmda)


# -- the validation scheme: holdout, k-fold or repeated k-fold by data size -------------------------------------


def test_auto_validation_follows_the_number_of_training_rows(make_spec: MakeSpec) -> None:
    from tabloop.data import describe_validation, validation_scheme
    from tabloop.spec import HOLDOUT_FROM_ROWS, REPEATED_BELOW_ROWS

    spec = make_spec()
    assert spec.split.validation == "auto"
    assert validation_scheme(REPEATED_BELOW_ROWS - 1, spec) == "repeated_kfold"
    assert validation_scheme(REPEATED_BELOW_ROWS, spec) == "kfold"
    assert validation_scheme(HOLDOUT_FROM_ROWS - 1, spec) == "kfold"
    assert validation_scheme(HOLDOUT_FROM_ROWS, spec) == "holdout"
    timed = make_spec(split={"strategy": "time", "time_column": "when"})
    assert validation_scheme(50, timed) == "kfold"  # reshuffling would put the future in training
    assert validation_scheme(HOLDOUT_FROM_ROWS, timed) == "holdout"
    pinned = make_spec(split={"validation": "kfold"})
    assert validation_scheme(50, pinned) == validation_scheme(10**6, pinned) == "kfold"
    assert describe_validation(400, spec) == "5-fold repeated 3 times (stratified); auto for 400 training rows"
    assert describe_validation(400, pinned) == "5-fold (stratified)"
    assert describe_validation(10, make_spec(split={"validation": "holdout", "validation_size": 0.25})) == \
        "holdout of 25% scored in 5 parts (stratified)"


def test_repeated_kfold_validates_every_row_once_per_repeat(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    rows = hmda.head(600)
    cv, groups = make_folds(rows, make_spec(seed=3, split={"folds": 4, "repeats": 3}))
    splits = list(cv.split(rows, rows["deny"], groups))
    assert len(splits) == 12 and groups is None
    seen = np.zeros(len(rows), dtype=int)
    for tr, va in splits:
        assert np.intersect1d(tr, va).size == 0 and len(tr) + len(va) == len(rows)
        seen[va] += 1
    assert (seen == 3).all()
    first, second = splits[0][1], splits[4][1]  # the first fold of two repeats: reshuffled
    assert set(first) != set(second)
    share = (rows["deny"] == "yes").mean()
    assert all(abs((rows["deny"].iloc[va] == "yes").mean() - share) < 0.03 for _, va in splits)  # stratified


def test_holdout_is_one_stratified_split_of_the_validation_size(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    spec = make_spec(split={"validation": "holdout", "validation_size": 0.25})
    (tr, va), = list(make_folds(hmda, spec)[0].split(hmda, hmda["deny"]))
    assert abs(len(va) - 0.25 * len(hmda)) <= 1 and len(tr) + len(va) == len(hmda)
    assert abs((hmda["deny"].iloc[va] == "yes").mean() - (hmda["deny"] == "yes").mean()) < 0.01


def test_a_time_holdout_validates_on_the_latest_rows(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    df = hmda.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(hmda)), unit="D"))
    spec = make_spec(split={"strategy": "time", "time_column": "when", "validation": "holdout"})
    train, _ = split_train_test(df, spec)
    cv, groups = make_folds(train, spec)
    (tr, va), = list(cv.split(train))
    times = train["when"].to_numpy()
    assert times[tr].max() < times[va].min() and abs(len(va) - 0.2 * len(train)) <= 1


def test_repeated_group_folds_keep_each_group_on_one_side(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    df = hmda.head(600).assign(branch=np.arange(600) % 40)
    cv, groups = make_folds(df, make_spec(split={"strategy": "group", "group_column": "branch",
                                                 "validation": "repeated_kfold", "folds": 4, "repeats": 2}))
    splits = list(cv.split(df, groups=groups))
    assert len(splits) == cv.get_n_splits() == 8
    for tr, va in splits:
        assert set(groups[tr]).isdisjoint(groups[va])
    assert {frozenset(groups[va]) for _, va in splits[:4]} != {frozenset(groups[va]) for _, va in splits[4:]}
    holdout, _ = make_folds(df, make_spec(split={"strategy": "group", "group_column": "branch", "validation": "holdout"}))
    (tr, va), = list(holdout.split(df, groups=groups))
    assert set(groups[tr]).isdisjoint(groups[va])


def test_a_time_split_refuses_repeated_folds(make_spec: MakeSpec) -> None:
    from tabloop.errors import SpecError

    with pytest.raises(SpecError, match="split: .*'repeated_kfold' reshuffles rows, which a time split must not: use kfold"):
        make_spec(split={"strategy": "time", "time_column": "when", "validation": "repeated_kfold"})


def test_rows_without_a_target_are_named_not_an_internal_error(hmda: pd.DataFrame, make_spec: MakeSpec) -> None:
    df = hmda.copy()
    df.loc[[3, 40], "deny"] = None
    with pytest.raises(DataError, match=r"the target is missing in 2 row\(s\), first at positions \[3, 40\]"):
        split_train_test(df, make_spec())
