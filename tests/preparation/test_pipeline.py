"""make_preprocessor: one scikit-learn object built from the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tabloop.data import Contract, check_frame, infer_contract
from tabloop.preparation import make_preprocessor


@pytest.fixture(scope="module")
def contract(hmda: pd.DataFrame) -> Contract:
    return infer_contract(hmda, target="deny", ignored=["black"])


@pytest.fixture(scope="module")
def X(hmda: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    return check_frame(hmda, contract)


def test_outputs_scaled_numbers_then_one_hot_categories(X: pd.DataFrame, contract: Contract) -> None:
    prep = make_preprocessor(contract).fit(X)
    names = list(prep.get_feature_names_out())
    expected = contract.numeric + [f"{c}_{v}" for c in contract.categorical for v in contract.column(c).categories]
    assert names == expected
    out = prep.transform(X)
    assert out.shape == (len(X), len(expected))
    num = out[:, : len(contract.numeric)]
    np.testing.assert_allclose(num.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(num.std(axis=0), 1, atol=1e-9)
    onehot = out[:, len(contract.numeric) :]
    assert set(np.unique(onehot)) == {0.0, 1.0}
    # each categorical column contributes exactly one 1 per row (gaps are imputed, not left empty)
    starts = np.cumsum([0] + [len(contract.column(c).categories) for c in contract.categorical])
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        np.testing.assert_array_equal(onehot[:, a:b].sum(axis=1), 1.0)


def test_without_scaling_numbers_pass_through_and_gaps_get_the_median(X: pd.DataFrame, contract: Contract) -> None:
    prep = make_preprocessor(contract, scale=False).fit(X)
    gap = X.head(2).copy()
    gap.loc[gap.index[0], "lvr"] = np.nan
    out = prep.transform(gap)
    j = contract.numeric.index("lvr")
    assert out[0, j] == pytest.approx(X["lvr"].median())
    assert out[1, j] == pytest.approx(X["lvr"].iloc[1])


def test_unseen_category_is_all_zeros_as_a_safety_net(X: pd.DataFrame, contract: Contract) -> None:
    prep = make_preprocessor(contract).fit(X)
    row = X.head(1).copy()
    row["dmi"] = "never-seen"
    out = prep.transform(row)
    names = list(prep.get_feature_names_out())
    assert out[0, names.index("dmi_no")] == 0.0 and out[0, names.index("dmi_yes")] == 0.0


def test_only_numeric_or_only_categorical(hmda: pd.DataFrame) -> None:
    num = infer_contract(hmda[["lvr", "dir"]])
    out = make_preprocessor(num).fit_transform(check_frame(hmda[["lvr", "dir"]], num))
    assert out.shape == (len(hmda), 2)
    cat = infer_contract(hmda[["dmi", "single"]])
    out = make_preprocessor(cat).fit_transform(check_frame(hmda[["dmi", "single"]], cat))
    assert out.shape == (len(hmda), 4)


def test_is_a_plain_estimator_that_clones_and_ignores_other_columns(X: pd.DataFrame, contract: Contract) -> None:
    prep = make_preprocessor(contract)
    fresh = clone(prep)
    wider = X.assign(extra=1.0)
    a = fresh.fit(wider).transform(wider)
    b = prep.fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
