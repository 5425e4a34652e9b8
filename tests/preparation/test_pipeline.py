"""make_preprocessor: one scikit-learn object built from the contract and the spec's preparation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tabloop.data import Contract, check_frame, infer_contract
from tabloop.errors import SpecError
from tabloop.preparation import make_preprocessor
from tabloop.spec import PreparationSpec


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


# -- preparation: choices from the spec ------------------------------------------------------------------


@pytest.fixture(scope="module")
def gappy(X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    out.loc[out.index[::10], "dir"] = np.nan  # 10% gaps
    out.loc[out.index[::3], "uria"] = np.nan  # a third
    return out


def _fit(contract: Contract, X: pd.DataFrame, y: Any = None, **prep: Any) -> Any:
    return make_preprocessor(contract, preparation=PreparationSpec(**prep), task="binary").fit(X, y)


def test_the_default_preparation_is_the_preprocessor_of_before(X: pd.DataFrame, contract: Contract) -> None:
    a = make_preprocessor(contract).fit_transform(X)
    b = make_preprocessor(contract, preparation=PreparationSpec()).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert [name for name, _, _ in make_preprocessor(contract, preparation=PreparationSpec()).transformers] == [
        "numeric", "categorical"]


@pytest.mark.parametrize(("impute", "expected"), [("mean", "mean"), ("median", "median"), ("constant", -7.0)])
def test_numeric_gaps_are_filled_as_chosen(impute: str, expected: Any, gappy: pd.DataFrame, contract: Contract) -> None:
    prep = _fit(contract, gappy, impute=impute, impute_value=-7.0, scaling="none")
    out = prep.transform(gappy.head(1))
    want = expected if isinstance(expected, float) else getattr(gappy["dir"], expected)()
    assert out[0, contract.numeric.index("dir")] == pytest.approx(want)


def test_missing_indicator_adds_a_column_per_nullable_numeric_column(gappy: pd.DataFrame, hmda: pd.DataFrame) -> None:
    contract = infer_contract(gappy.assign(deny=hmda["deny"]), target="deny")
    prep = _fit(contract, gappy, missing_indicator=True)
    names = list(prep.get_feature_names_out())
    flags = [n for n in names if n.startswith("missingindicator_")]
    assert flags == ["missingindicator_dir", "missingindicator_uria"]
    out = prep.transform(gappy)
    np.testing.assert_array_equal(out[:, names.index("missingindicator_dir")], gappy["dir"].isna().astype(float))


def test_columns_too_empty_in_the_rows_fitted_are_dropped(gappy: pd.DataFrame, hmda: pd.DataFrame) -> None:
    contract = infer_contract(gappy.assign(deny=hmda["deny"]), target="deny")
    prep = _fit(contract, gappy, drop_missing_above=0.2)
    assert prep.named_steps["drop"].dropped_ == ["uria"]
    assert "uria" not in prep.get_feature_names_out() and "dir" in prep.get_feature_names_out()
    # fitted on rows without gaps, it keeps the column: the choice is learned, not fixed
    kept = _fit(contract, gappy.dropna(), drop_missing_above=0.2)
    assert kept.named_steps["drop"].dropped_ == []
    assert prep.transform(gappy).shape[1] == len(prep.get_feature_names_out())


def test_outliers_log_bins_and_scaling(X: pd.DataFrame, contract: Contract) -> None:
    clipped = _fit(contract, X, outliers="clip", scaling="none").transform(X)
    j = contract.numeric.index("lvr")
    q1, q3 = X["lvr"].quantile([0.25, 0.75])
    assert clipped[:, j].max() <= q3 + 1.5 * (q3 - q1) + 1e-9 < X["lvr"].max()
    flagged = _fit(contract, X, outliers="flag")
    assert "lvr_outlier" in flagged.get_feature_names_out()
    logged = _fit(contract, X, log_transform=["lvr"], scaling="none").transform(X)
    names = list(_fit(contract, X, log_transform=["lvr"]).get_feature_names_out())
    np.testing.assert_allclose(logged[:, names.index("lvr")], np.log1p(X["lvr"].to_numpy()))
    binned = _fit(contract, X, bins={"lvr": 4})
    assert [n for n in binned.get_feature_names_out() if n.startswith("lvr")] == [f"lvr_{i}.0" for i in range(4)]
    robust = _fit(contract, X, scaling="robust").transform(X)[:, j]
    assert np.median(robust) == pytest.approx(0.0, abs=1e-9)
    minmax = _fit(contract, X, scaling="minmax").transform(X)[:, : len(contract.numeric)]
    assert minmax.min() == pytest.approx(0.0) and minmax.max() == pytest.approx(1.0)
    # families that take raw numbers are never scaled, whatever preparation.scaling says
    raw = make_preprocessor(contract, scale=False, preparation=PreparationSpec(scaling="minmax")).fit_transform(X)
    np.testing.assert_allclose(raw[:, j], X["lvr"].to_numpy())


def test_categorical_encodings_and_the_rare_bucket(X: pd.DataFrame, contract: Contract, hmda: pd.DataFrame) -> None:
    y = (hmda["deny"] == "yes").astype(int).to_numpy()
    ordinal = _fit(contract, X, encoding="ordinal")
    assert list(ordinal.get_feature_names_out())[-len(contract.categorical):] == contract.categorical
    target = _fit(contract, X, y, encoding="target")
    assert target.named_transformers_["categorical"].named_steps["target"].target_type_ == "binary"
    out = target.transform(X)[:, -len(contract.categorical):]
    assert 0.0 < out.min() and out.max() < 1.0  # smoothed shares of denials, not codes
    rare = _fit(contract, X, rare_below=0.2)  # pbcr "yes" is about 7% of rows: into the bucket
    names = list(rare.get_feature_names_out())
    assert "pbcr_infrequent_sklearn" in names and "pbcr_yes" not in names
    by_count = _fit(contract, X, rare_below=500)
    assert "pbcr_infrequent_sklearn" in by_count.get_feature_names_out()


@pytest.mark.parametrize(("prep", "message"), [
    ({"bins": {"nope": 3}}, r"preparation\.bins names 'nope', which is not a feature column"),
    ({"log_transform": ["dmi"]}, r"preparation\.log_transform names 'dmi', a categorical column"),
])
def test_columns_the_preparation_names_must_be_numeric_features(prep: dict[str, Any], message: str,
                                                                contract: Contract) -> None:
    with pytest.raises(SpecError, match=message):
        make_preprocessor(contract, preparation=PreparationSpec(**prep))
