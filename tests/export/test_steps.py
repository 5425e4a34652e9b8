"""Every preparation choice exports to ONNX with parity on held-out rows, or is refused naming the step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from tabloop.bundle import ModelBundle
from tabloop.data import Contract, infer_contract
from tabloop.errors import NotConvertible
from tabloop.export import OnnxRowPredictor, export_bundle, export_onnx, make_row_predictor, to_onnx
from tabloop.preparation import ColumnDropper, make_preprocessor
from tabloop.spec import PreparationSpec

from .conftest import _bundle, gappy

Rows = list[dict[str, Any]]
TOL = 1e-4

#: one preparation choice per case (the rest default), each a step of its own in the pipeline
CASES: dict[str, dict[str, Any]] = {
    "impute_mean": {"impute": "mean"},
    "impute_most_frequent": {"impute": "most_frequent"},
    "impute_constant": {"impute": "constant", "impute_value": -1.0},
    "impute_knn": {"impute": "knn", "knn_neighbors": 3},
    "missing_indicator": {"missing_indicator": True},
    "drop_missing_above": {"drop_missing_above": 0.005},  # drops dir (1% gaps) and single
    "outliers_clip": {"outliers": "clip", "iqr_factor": 1.0},
    "outliers_flag": {"outliers": "flag", "iqr_factor": 1.0},
    "log_auto": {"log_transform": "auto"},
    "log_columns": {"log_transform": ["lvr", "hir"]},
    "bins_onehot": {"bins": {"dir": 4, "lvr": 5}},
    "bins_ordinal": {"bins": {"dir": 4}, "encoding": "ordinal"},
    "scaling_robust": {"scaling": "robust"},
    "scaling_minmax": {"scaling": "minmax"},
    "scaling_none": {"scaling": "none"},
    "encoding_ordinal": {"encoding": "ordinal"},
    "encoding_target": {"encoding": "target"},
    "ordinal_rare": {"encoding": "ordinal", "rare_below": 0.3},
    "onehot_rare_share": {"rare_below": 0.1},
    "onehot_rare_count": {"rare_below": 200},
    # not knn with it: on fewer, integer-valued columns neighbours tie, and float32 breaks ties differently (the
    # parity check then keeps the graph out of service, as it should)
    "everything": {"impute": "mean", "missing_indicator": True, "outliers": "clip", "log_transform": "auto",
                   "bins": {"lvr": 3}, "scaling": "robust", "encoding": "target"},
}


def _fitted(contract: Contract, train: pd.DataFrame, task: str, **prep: Any) -> ModelBundle:
    model = Ridge() if task == "regression" else LogisticRegression(max_iter=2000)
    pre = make_preprocessor(contract, preparation=PreparationSpec(**prep), task=task)
    return _bundle(Pipeline([("prepare", pre), ("model", model)]), contract, train, task)


@pytest.mark.parametrize("case", list(CASES))
def test_each_choice_converts_with_parity_on_held_out_rows_and_gaps(
    case: str, contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame], make_rows: Callable[..., Rows]
) -> None:
    bundle = _fitted(contract, split[0], "binary", **CASES[case])
    report = export_bundle(bundle, split[1]).report
    assert report["used"] is True, report
    assert report["parity_max_abs_diff"] < TOL and report["label_mismatches"] == 0
    assert report["rows"] > 400 and report["gap_rows"] > 0
    # the served path (row dicts, categorical lookups folded out of the graph) agrees too
    rows = make_rows(150) + gappy(make_rows(30, start=150), contract)
    got = OnnxRowPredictor(bundle, bundle.onnx).predict_rows(rows)
    want = bundle.predict(pd.DataFrame.from_records(rows))
    assert got.proba is not None and want.proba is not None
    assert float(np.max(np.abs(got.proba - want.proba))) < TOL
    assert make_row_predictor(bundle).engine == "onnx"


@pytest.mark.parametrize("case", ["encoding_target", "log_auto", "outliers_flag"])
def test_regression_pipelines_convert_with_parity(case: str, table: pd.DataFrame, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reg = infer_contract(table, target="hir", ignored=["black", "deny"])
    bundle = _fitted(reg, split[0], "regression", **CASES[case])
    report = export_bundle(bundle, split[1]).report
    assert report["used"] is True, report
    assert report["parity_max_scaled_diff"] < TOL


@pytest.mark.parametrize("outliers", ["clip", "flag"])
def test_a_column_without_spread_has_no_outlier_bounds_in_the_graph_either(outliers: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"z": (rng.random(400) < 0.15).astype(float), "x": rng.normal(size=400)})
    y = ((frame["z"] > 0) ^ (frame["x"] > 1)).astype(int).to_numpy()
    contract = infer_contract(frame)
    pipeline = Pipeline([("prepare", make_preprocessor(contract, preparation=PreparationSpec(outliers=outliers))),
                         ("model", LogisticRegression())]).fit(frame, y)
    report = export_onnx(pipeline, contract, task="binary", rows=frame).report
    assert report["used"] is True and report["parity_max_abs_diff"] < TOL


def test_the_knn_imputer_graph_targets_the_opset_its_converter_needs(
    contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    knn = export_bundle(_fitted(contract, split[0], "binary", impute="knn"), split[1]).report
    plain = export_bundle(_fitted(contract, split[0], "binary"), split[1]).report
    assert knn["opset"][""] == 18 and plain["opset"][""] == 17


def test_the_one_hot_rare_bucket_takes_rare_and_unseen_categories_in_the_graph_as_in_sklearn() -> None:
    from tabloop.export._runtime import make_session

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({
        "city": rng.choice(["a", "b", "c", "d", "e"], size=n, p=[0.5, 0.3, 0.1, 0.06, 0.04]),
        "size": rng.choice(["s", "m", "l"], size=n, p=[0.4, 0.35, 0.25]),  # nothing rare: no bucket
        "x": rng.normal(size=n),
    })
    y = ((frame["city"].isin(["d", "e"])) ^ (frame["x"] > 0)).astype(int).to_numpy()
    contract = infer_contract(frame)
    pipeline = Pipeline([("prepare", make_preprocessor(contract, preparation=PreparationSpec(rare_below=0.08))),
                         ("model", LogisticRegression(max_iter=2000))]).fit(frame, y)
    names = list(pipeline.named_steps["prepare"].get_feature_names_out())
    assert "city_infrequent_sklearn" in names and "city_d" not in names and "size_l" in names
    session = make_session(to_onnx(pipeline, contract, task="binary"))
    probe = pd.DataFrame({"city": ["a", "c", "d", "e", "zzz", "e"], "size": ["s", "m", "l", "s", "m", "qqq"],
                          "x": [0.1, -0.2, 0.3, 1.0, -1.0, 0.0]})
    feed = {"city": probe[["city"]].to_numpy(dtype=object), "size": probe[["size"]].to_numpy(dtype=object),
            "x": probe[["x"]].to_numpy(dtype=np.float32)}
    got = session.run(None, feed)[1]
    want = pipeline.predict_proba(probe)  # zzz: into the bucket; qqq: no bucket for size, all zeros
    assert float(np.max(np.abs(got - want))) < TOL


def test_a_column_dropper_that_feeds_no_column_transformer_is_refused(
    contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    from sklearn.preprocessing import OneHotEncoder

    X = split[0][["dmi", "self"]].astype(str)
    pipeline = Pipeline([("drop", ColumnDropper(0.5)), ("onehot", OneHotEncoder()), ("model", LogisticRegression())])
    pipeline.fit(X, (split[0]["deny"] == "yes").astype(int))
    small = infer_contract(split[0][["dmi", "self"]])
    with pytest.raises(NotConvertible, match=r"step pipeline\.drop \(ColumnDropper\)"):
        to_onnx(pipeline, small, task="binary")


class _Odd(TransformerMixin, BaseEstimator):
    """A transformer no converter knows."""

    def fit(self, X: Any, y: Any = None) -> _Odd:
        return self

    def transform(self, X: Any) -> Any:
        return X


def test_a_step_without_a_converter_is_refused_by_name(contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from sklearn.compose import ColumnTransformer

    pre = make_preprocessor(contract)
    assert isinstance(pre, ColumnTransformer)
    numeric = pre.transformers[0][1]
    numeric.steps.insert(1, ("odd", _Odd()))
    bundle = _bundle(Pipeline([("prepare", pre), ("model", LogisticRegression(max_iter=2000))]), contract, split[0], "binary")
    with pytest.raises(NotConvertible, match=r"step pipeline\.prepare\.numeric\.odd \(_Odd\) has no ONNX converter"):
        to_onnx(bundle.pipeline, contract, task="binary")
    report = export_bundle(bundle, split[1]).report
    assert report["reason"] == "not convertible: NotConvertible: step pipeline.prepare.numeric.odd (_Odd) has no ONNX " \
                               "converter (the server uses the scikit-learn pipeline)"
    assert make_row_predictor(bundle).engine == "sklearn"
