"""Splitting rows into train/test and folds, by the spec's strategy, without leaks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from tabloop.errors import DataError
from tabloop.spec import Spec


def split_train_test(df: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``split.test_size`` of the rows for evaluation only."""
    split = spec.split
    target = spec.data.target
    n = len(df)
    if n < 20:
        raise DataError(f"only {n} rows: too few to hold out a test part and cross-validate", hint="use at least 20 rows")
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


def make_folds(df: pd.DataFrame, spec: Spec) -> tuple[Any, np.ndarray | None]:
    """The cross-validation splitter and, for group splits, the groups."""
    split = spec.split
    if split.strategy == "time":
        return TimeSeriesSplit(n_splits=split.folds), None
    if split.strategy == "group":
        return GroupKFold(n_splits=split.folds), df[_col(df, split.group_column)].to_numpy()
    if split.strategy == "stratified" and spec.task != "regression":
        return StratifiedKFold(n_splits=split.folds, shuffle=True, random_state=spec.seed), None
    return KFold(n_splits=split.folds, shuffle=True, random_state=spec.seed), None


def _col(df: pd.DataFrame, name: str | None) -> str:
    if name is None or name not in df.columns:
        raise DataError(f"split column {name!r} is not in the data (columns: {list(df.columns)})")
    return name
