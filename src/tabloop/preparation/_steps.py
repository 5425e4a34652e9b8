"""The preparation steps scikit-learn does not ship, as scikit-learn transformers.

Each learns what it needs at ``fit`` (so inside a pipeline it learns from the rows of the fold
being fitted, never from the rows it is scored on) and passes scikit-learn's
``check_estimator``. ``tabloop.export`` holds their ONNX converters.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

#: auto log transform: a column is skewed when its sample skewness is above this
SKEW_THRESHOLD = 1.0


class _Tags:
    """Tags shared by the steps: gaps are allowed (they come before imputation)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True
        return tags


class ColumnDropper(_Tags, TransformerMixin, BaseEstimator):
    """Drops the columns whose share of missing values at fit is above ``threshold``.

    Takes a DataFrame (the contract's columns, numbers and categories) or an array; a DataFrame
    comes out as a DataFrame, so the column transformer after it picks its columns by name.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # categories pass through it too
        tags.input_tags.categorical = True
        return tags

    def fit(self, X: Any, y: Any = None) -> ColumnDropper:
        arr = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        missing = np.asarray(pd.DataFrame(arr).isna().mean(axis=0), dtype=float)
        self.missing_share_ = missing
        self.keep_ = missing <= self.threshold
        self.dropped_ = [str(c) for c in self._names(arr.shape[1])[~self.keep_]]
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "keep_")
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
            return X.loc[:, list(X.columns[self.keep_])]
        arr = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        return arr[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "keep_")
        names = np.asarray(input_features if input_features is not None else self._names(len(self.keep_)), dtype=object)
        return names[self.keep_]

    def _names(self, n: int) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        return np.asarray(names, dtype=object) if names is not None else np.asarray([f"x{i}" for i in range(n)], dtype=object)


class _IQRBounds(_Tags, TransformerMixin, BaseEstimator):
    """Per-column bounds Q1 - factor*IQR and Q3 + factor*IQR, learned at fit (gaps ignored); a column whose
    IQR is 0 has no bounds."""

    def __init__(self, factor: float = 1.5) -> None:
        self.factor = factor

    def fit(self, X: Any, y: Any = None) -> Any:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its bounds are NaN, then 0
            q1, q3 = np.nanpercentile(X, [25, 75], axis=0)
        q1, q3 = np.nan_to_num(q1), np.nan_to_num(q3)
        iqr = q3 - q1
        # no spread in the middle half (a 0/1 column, a mostly constant count): the bounds would call every other
        # value an outlier and clipping would flatten the column, so such a column has none
        spread = iqr > 0
        self.lower_ = np.where(spread, q1 - self.factor * iqr, -np.inf)
        self.upper_ = np.where(spread, q3 + self.factor * iqr, np.inf)
        return self

    def _checked(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lower_")
        return validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)


class OutlierClipper(OneToOneFeatureMixin, _IQRBounds):
    """Clips each numeric column to its IQR bounds learned at fit; gaps stay gaps."""

    def transform(self, X: Any) -> np.ndarray:
        X = self._checked(X)
        return np.where(np.isnan(X), X, np.minimum(np.maximum(X, self.lower_), self.upper_))


class OutlierFlagger(_IQRBounds):
    """One 0/1 column per numeric column: 1 where the value is outside its IQR bounds learned at fit."""

    def transform(self, X: Any) -> np.ndarray:
        X = self._checked(X)
        with np.errstate(invalid="ignore"):
            return ((X < self.lower_) | (X > self.upper_)).astype(np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "lower_")
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)  # type: ignore[arg-type]
        return np.asarray([f"{n}_outlier" for n in names], dtype=object)


class SignedLog1p(OneToOneFeatureMixin, _Tags, TransformerMixin, BaseEstimator):
    """sign(x) * log(1 + |x|) on the chosen columns, identity on the others; gaps stay gaps.

    ``columns="all"`` transforms every column; ``"auto"`` the columns that at fit have no negative
    value and a sample skewness above ``skew_threshold`` (long right tails: incomes, counts, prices).
    Signed, so a negative value met later (outside what fit saw) still has an answer.
    """

    def __init__(self, columns: str = "all", skew_threshold: float = SKEW_THRESHOLD) -> None:
        self.columns = columns
        self.skew_threshold = skew_threshold

    def fit(self, X: Any, y: Any = None) -> SignedLog1p:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        if self.columns == "all":
            self.transformed_ = np.ones(X.shape[1], dtype=bool)
        elif self.columns == "auto":
            self.transformed_ = np.asarray([_skewed_positive(X[:, j], self.skew_threshold) for j in range(X.shape[1])],
                                           dtype=bool)
        else:
            raise ValueError(f"columns must be 'all' or 'auto', not {self.columns!r}")
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "transformed_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.where(self.transformed_, np.sign(X) * np.log1p(np.abs(X)), X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "transformed_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.where(self.transformed_, np.sign(X) * np.expm1(np.abs(X)), X)


def _skewed_positive(values: np.ndarray, threshold: float) -> bool:
    v = values[np.isfinite(values)]
    if len(v) < 3 or v.min() < 0:
        return False
    sd = v.std()
    if sd == 0:
        return False
    return bool(np.mean(((v - v.mean()) / sd) ** 3) > threshold)
