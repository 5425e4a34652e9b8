"""tabloop's own preparation steps: real scikit-learn transformers that learn at fit and pass check_estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tabloop.preparation import ColumnDropper, OutlierClipper, OutlierFlagger, SignedLog1p


@parametrize_with_checks([ColumnDropper(), OutlierClipper(), OutlierFlagger(), SignedLog1p(), SignedLog1p(columns="auto")])
def test_passes_scikit_learns_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_column_dropper_drops_what_was_too_empty_at_fit_and_keeps_frames() -> None:
    fit = pd.DataFrame({"a": [1.0, np.nan, np.nan, 4.0], "b": [1.0, 2.0, np.nan, 4.0], "c": ["x", None, None, None]})
    dropper = ColumnDropper(threshold=0.3).fit(fit)
    assert dropper.dropped_ == ["a", "c"]
    np.testing.assert_allclose(dropper.missing_share_, [0.5, 0.25, 0.75])
    later = pd.DataFrame({"a": [1.0], "b": [np.nan], "c": ["y"]})  # what fit learned holds, whatever comes later
    out = dropper.transform(later)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["b"]
    assert list(dropper.get_feature_names_out()) == ["b"]
    assert ColumnDropper(threshold=1.0).fit(fit).dropped_ == []


def test_outlier_bounds_are_learned_at_fit_and_gaps_stay_gaps() -> None:
    X = np.array([[1.0], [2.0], [3.0], [4.0], [100.0], [np.nan]])
    clipper = OutlierClipper(factor=1.5).fit(X)
    q1, q3 = np.nanpercentile(X[:, 0], [25, 75])
    assert clipper.upper_[0] == pytest.approx(q3 + 1.5 * (q3 - q1))
    out = clipper.transform(np.array([[-50.0], [2.5], [1e6], [np.nan]]))
    assert out[0, 0] == pytest.approx(clipper.lower_[0]) and out[1, 0] == 2.5
    assert out[2, 0] == pytest.approx(clipper.upper_[0]) and np.isnan(out[3, 0])
    flags = OutlierFlagger(factor=1.5).fit(X).transform(np.array([[-50.0], [2.5], [1e6], [np.nan]]))
    np.testing.assert_array_equal(flags[:, 0], [1.0, 0.0, 1.0, 0.0])
    # a column without spread in its middle half (mostly 0, some 1) is left alone, not flattened to 0
    mostly_zero = np.array([[0.0]] * 8 + [[1.0]] * 2)
    np.testing.assert_array_equal(OutlierClipper().fit(mostly_zero).transform(mostly_zero), mostly_zero)
    assert OutlierFlagger().fit(mostly_zero).transform(mostly_zero).sum() == 0


def test_signed_log_auto_picks_skewed_columns_without_negatives() -> None:
    rng = np.random.default_rng(0)
    skewed = rng.lognormal(0, 1.5, 500)
    symmetric = rng.normal(10, 1, 500)
    negative_skewed = skewed - 5  # skewed, but with negatives: left alone
    X = np.column_stack([skewed, symmetric, negative_skewed])
    log = SignedLog1p(columns="auto").fit(X)
    np.testing.assert_array_equal(log.transformed_, [True, False, False])
    out = log.transform(np.array([[np.e - 1, 3.0, 3.0], [-(np.e - 1), 3.0, np.nan]]))
    np.testing.assert_allclose(out[:, 0], [1.0, -1.0])  # signed: a negative met later still has an answer
    np.testing.assert_allclose(out[0, 1:], [3.0, 3.0])
    assert np.isnan(out[1, 2])
    np.testing.assert_allclose(log.inverse_transform(log.transform(X)), X)
