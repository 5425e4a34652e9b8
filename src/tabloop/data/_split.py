"""Splitting rows into train/test and folds, by the spec's strategy, without leaks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
    train_test_split,
)

from tabloop.data._target import check_target_present
from tabloop.errors import DataError
from tabloop.spec import HOLDOUT_FROM_ROWS, HOLDOUT_PARTS, REPEATED_BELOW_ROWS, Spec


def labelled_rows(df: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """``df`` without the rows whose target is empty when ``data.missing_target`` is ``drop``; else ``df``
    (the split then refuses them by name). Train and evaluate both split through here, so they drop the same
    rows and hold out the same test part."""
    target = spec.data.target
    if spec.data.missing_target != "drop" or target not in df.columns:
        return df
    empty = df[target].isna().to_numpy()
    return df.loc[~empty] if empty.any() else df


def split_train_test(df: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``split.test_size`` of the rows for evaluation only."""
    split = spec.split
    target = spec.data.target
    df = labelled_rows(df, spec)
    n = len(df)
    if n < 20:
        raise DataError(f"only {n} rows: too few to hold out a test part and cross-validate", hint="use at least 20 rows")
    if target in df.columns:
        check_target_present(df[target])
    index = np.arange(n)
    if split.strategy == "time":
        order = np.argsort(df[_col(df, split.time_column)].to_numpy(), kind="stable")
        cut = int(round(n * (1 - split.test_size)))
        # rows stay in time order: make_folds' TimeSeriesSplit relies on it to keep the future out of training
        return df.iloc[order[:cut]], df.iloc[order[cut:]]
    if split.strategy == "group":
        gss = GroupShuffleSplit(n_splits=1, test_size=split.test_size, random_state=spec.seed)
        train_idx, test_idx = next(gss.split(index, groups=df[_col(df, split.group_column)]))
    else:
        stratify = df[target] if (split.strategy == "stratified" and spec.task != "regression") else None
        if stratify is not None and stratify.value_counts().min() < 2:
            raise DataError(
                f"column {target!r}: a class has fewer than 2 rows, so the split cannot be stratified",
                hint="add rows of that class, or set split.strategy: random",
            )
        train_idx, test_idx = train_test_split(
            index, test_size=split.test_size, random_state=spec.seed, stratify=stratify
        )
    return df.iloc[np.sort(train_idx)], df.iloc[np.sort(test_idx)]


def validation_scheme(n_rows: int, spec: Spec) -> str:
    """``split.validation`` with ``auto`` resolved by the number of training rows."""
    split = spec.split
    if split.validation != "auto":
        return split.validation
    if n_rows >= HOLDOUT_FROM_ROWS:
        return "holdout"
    if n_rows < REPEATED_BELOW_ROWS and split.strategy != "time":
        return "repeated_kfold"
    return "kfold"


def describe_validation(n_rows: int, spec: Spec) -> str:
    """The validation scheme in words, with why ``auto`` chose it (for logs, leaderboards and reports)."""
    split = spec.split
    scheme = validation_scheme(n_rows, spec)
    words = {"holdout": f"holdout of {split.validation_size:.0%} scored in {HOLDOUT_PARTS} parts",
             "kfold": f"{split.folds}-fold", "repeated_kfold": f"{split.folds}-fold repeated {split.repeats} times"}[scheme]
    words = f"{words} ({split.strategy})"
    if split.validation == "auto":
        words += f"; auto for {n_rows:,} training rows"
    return words


def make_folds(df: pd.DataFrame, spec: Spec) -> tuple[Any, np.ndarray | None]:
    """The validation splitter (by :func:`validation_scheme`) and, for group splits, the groups."""
    split = spec.split
    scheme = validation_scheme(len(df), spec)
    seed = spec.seed
    if split.strategy == "time":
        if scheme == "holdout":
            return _TimeHoldout(split.validation_size), None
        return TimeSeriesSplit(n_splits=split.folds), None
    if split.strategy == "group":
        groups = df[_col(df, split.group_column)].to_numpy()
        if scheme == "holdout":
            return GroupShuffleSplit(n_splits=1, test_size=split.validation_size, random_state=seed), groups
        if scheme == "repeated_kfold":
            return _RepeatedGroupKFold(split.folds, split.repeats, seed), groups
        return GroupKFold(n_splits=split.folds), groups
    if split.strategy == "stratified" and spec.task != "regression":
        if scheme == "holdout":
            return StratifiedShuffleSplit(n_splits=1, test_size=split.validation_size, random_state=seed), None
        if scheme == "repeated_kfold":
            return RepeatedStratifiedKFold(n_splits=split.folds, n_repeats=split.repeats, random_state=seed), None
        return StratifiedKFold(n_splits=split.folds, shuffle=True, random_state=seed), None
    if scheme == "holdout":
        return ShuffleSplit(n_splits=1, test_size=split.validation_size, random_state=seed), None
    if scheme == "repeated_kfold":
        return RepeatedKFold(n_splits=split.folds, n_repeats=split.repeats, random_state=seed), None
    return KFold(n_splits=split.folds, shuffle=True, random_state=seed), None


class _TimeHoldout:
    """The last ``size`` share of rows (in time order) validates; everything before it trains."""

    def __init__(self, size: float) -> None:
        self.size = size

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Any:
        n = len(X)
        cut = n - max(1, int(round(n * self.size)))
        index = np.arange(n)
        yield index[:cut], index[cut:]


class _RepeatedGroupKFold:
    """GroupKFold ``repeats`` times with reshuffled groups (scikit-learn has no repeated group splitter)."""

    def __init__(self, folds: int, repeats: int, seed: int) -> None:
        self.folds, self.repeats, self.seed = folds, repeats, seed

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.folds * self.repeats

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Any:
        for r in range(self.repeats):
            yield from GroupKFold(n_splits=self.folds, shuffle=True, random_state=self.seed + r).split(X, y, groups)


def _col(df: pd.DataFrame, name: str | None) -> str:
    if name is None or name not in df.columns:
        raise DataError(f"split column {name!r} is not in the data (columns: {list(df.columns)})")
    return name
