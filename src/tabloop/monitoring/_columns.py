"""How monitoring reads a column: its kind, its numbers as float64, its category counts.

Shared by the per-feature tests (``_drift``) and the domain classifier
(``_multivariate``), so that both see a column the same way and neither imports the other's
privates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from tabloop.data import MISSING_LABEL, category_label, is_missing
from tabloop.errors import DataError

__all__ = ["Kind", "as_float", "category_counts", "category_labels", "numeric_values"]

Kind = Literal["numeric", "categorical"]


def as_float(series: pd.Series, name: str, window: str) -> np.ndarray:
    """The column as float64 with NaN for missing; datetimes become nanoseconds since the epoch."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if isinstance(dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert(None)
        raw = series.to_numpy(dtype="datetime64[ns]")
        values = raw.view("int64").astype("float64")
        values[np.isnat(raw)] = np.nan
        return values
    try:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"column {name!r} of the {window} window should be numeric but holds non-numbers: {exc}",
            hint="fix the data, or mark the column categorical in the contract",
        ) from exc


def numeric_values(series: pd.Series, name: str, window: str) -> np.ndarray:
    """Finite values of a numeric column, as the tests see them (for plots)."""
    values = as_float(series, name, window)
    return values[np.isfinite(values)]


def category_labels(series: pd.Series) -> pd.Series:
    """Each cell's category label (the contract's spelling), ``MISSING_LABEL`` for a missing one."""
    dtype = series.dtype
    if (dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "string") or (
            isinstance(dtype, np.dtype) and dtype.kind in "biuf"):
        # one type of value: equal values are one value, so each distinct one is spelled once (the domain
        # classifier's 10,000 rows spelled cell by cell took 0.05 s); mixed objects take the cell path,
        # where True and 1, equal to a hash table, are spelled apart
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        spelled = np.array([*(category_label(v) for v in uniques), MISSING_LABEL], dtype=object)
        return pd.Series(spelled[codes], index=series.index, name=series.name, dtype=object)
    return series.map(lambda v: MISSING_LABEL if is_missing(v) else category_label(v))


def category_counts(series: pd.Series) -> pd.Series:
    """Counts per category label (str), missing values under ``MISSING_LABEL``, most common first."""
    vc = series.value_counts(dropna=False, sort=False)
    vc = vc[vc.to_numpy() > 0]  # a Categorical dtype lists categories that never occur
    labels = [MISSING_LABEL if is_missing(v) else category_label(v) for v in vc.index]
    # 1 and 1.0 (or None and NaN) are one category once labelled
    counts = pd.Series(vc.to_numpy(dtype="int64"), index=pd.Index(labels, dtype=object)).groupby(level=0).sum()
    return counts.sort_values(ascending=False, kind="stable")
