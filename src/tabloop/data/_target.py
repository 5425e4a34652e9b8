"""The target column: infer the task, fix the class order, encode labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabloop._plain import scalar
from tabloop.errors import DataError


def infer_task(y: pd.Series) -> str:
    """binary for two values, multiclass for a few labels, regression for numbers."""
    values = y.dropna()
    n_unique = values.nunique()
    if n_unique < 2:
        raise DataError(f"column {y.name!r}: the target has {n_unique} distinct value(s); nothing to learn")
    if n_unique == 2:
        return "binary"
    if not pd.api.types.is_numeric_dtype(values.dtype):
        return "multiclass"
    is_int = pd.api.types.is_integer_dtype(values.dtype) or bool(np.all(np.mod(values.to_numpy(float), 1) == 0))
    if is_int and n_unique <= 20 and n_unique <= max(3, len(values) // 20):
        return "multiclass"
    return "regression"


def class_labels(y: pd.Series, task: str, positive_class: str | None = None) -> list[Any]:
    """Class order used everywhere: for binary, [negative, positive]."""
    if task == "regression":
        return []
    counts = y.dropna().value_counts()
    labels = sorted(counts.index.tolist(), key=lambda v: str(v))
    if len(labels) < 2:
        raise DataError(
            f"column {y.name!r}: the target holds {'only ' + repr(scalar(labels[0])) if labels else 'no value'} "
            f"in the {len(y)} training rows; a classifier has nothing to learn",
            hint="check data.source and data.target in tabloop.yaml: the table needs rows of at least two classes",
        )
    if task == "binary" and len(labels) > 2:
        raise DataError(
            f"column {y.name!r}: the spec says binary but the target holds {len(labels)} classes {labels[:10]}",
            hint="set data.task: multiclass in tabloop.yaml (or leave it empty to infer it)",
        )
    if task == "binary":
        if positive_class is not None:
            match = [v for v in labels if str(v) == str(positive_class)]
            if not match:
                raise DataError(f"column {y.name!r}: positive_class {positive_class!r} is not one of {labels}")
            pos = match[0]
        else:
            pos = counts.idxmin() if counts.iloc[0] != counts.iloc[-1] else labels[-1]
        labels = [v for v in labels if v != pos] + [pos]
    return [scalar(v) for v in labels]


def check_target_present(y: pd.Series) -> None:
    """Rows without a label cannot be trained on or scored: name them rather than guess."""
    if y.isna().any():
        rows = [int(i) for i in np.flatnonzero(y.isna().to_numpy())[:10]]
        raise DataError(
            f"column {y.name!r}: the target is missing in {int(y.isna().sum())} row(s), first at positions {rows} "
            "(counted from 0 after the header)",
            hint="drop or label those rows before training, or set data.missing_target: drop in tabloop.yaml "
            "to train on the labelled rows",
        )


def encode_target(y: pd.Series, classes: list[Any]) -> np.ndarray:
    """Labels to 0..k-1 in ``classes`` order (floats for regression); unknown labels raise."""
    check_target_present(y)
    if not classes:
        try:
            return y.to_numpy(dtype="float64")
        except (TypeError, ValueError) as exc:
            raise DataError(f"column {y.name!r}: a regression target must be numeric ({exc})") from exc
    lookup = {str(c): i for i, c in enumerate(classes)}
    keys = y.map(str)
    unknown = ~keys.isin(list(lookup))
    if unknown.any():
        bad = sorted(set(keys[unknown]))[:10]
        raise DataError(f"column {y.name!r}: labels {bad} are not among the known classes {classes}")
    return keys.map(lookup).to_numpy(dtype="int64")
