"""ONNX export and parity on the real table; the row predictors agree with ModelBundle.predict."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from tabloop.data import MISSING_SENTINEL, Contract, ContractPolicy, check_frame
from tabloop.errors import ContractViolation, DataError, ServingError
from tabloop.export import (
    OnnxRowPredictor,
    SklearnRowPredictor,
    export_bundle,
    export_onnx,
    make_row_predictor,
)
from tabloop.preparation import make_preprocessor
from tabloop.bundle import ModelBundle
from tabloop.workspace import SigningKey

from .conftest import gappy

Rows = list[dict[str, Any]]
TOL = 1e-4


@pytest.fixture(scope="module")
def exported(logistic: ModelBundle, lightgbm: ModelBundle, ridge: ModelBundle,
             split: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, ModelBundle]:
    for bundle in (logistic, lightgbm, ridge):
        export_bundle(bundle, split[1])
    return {"logistic": logistic, "lightgbm": lightgbm, "ridge": ridge}


@pytest.mark.parametrize("name", ["logistic", "lightgbm", "ridge"])
def test_parity_holds_on_held_out_rows_with_gaps(name: str, exported: dict[str, ModelBundle]) -> None:
    report = exported[name].manifest.onnx
    assert report["convertible"] is True
    assert report["used"] is True, report
    assert report["parity_max_abs_diff"] < TOL if name != "ridge" else report["parity_max_scaled_diff"] < TOL
    assert report["tolerance"] == TOL
    assert report["rows"] > 400 and report["gap_rows"] > 0  # held-out rows plus copies with gaps
    assert report["parity_rows_from"] == "held-out rows"
    assert exported[name].onnx is not None and exported[name].onnx[:2] != b""
    if name != "ridge":
        assert report["label_mismatches"] == 0


@pytest.mark.parametrize("name", ["logistic", "lightgbm", "ridge"])
def test_onnx_rows_match_the_pipeline_with_and_without_gaps(
    name: str, exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]
) -> None:
    bundle = exported[name]
    rows = make_rows(300)
    rows += gappy(make_rows(60, start=300), bundle.contract)
    onnx = OnnxRowPredictor(bundle, bundle.onnx).predict_rows(rows)
    skl = bundle.predict(pd.DataFrame.from_records(rows))
    if bundle.task == "regression":
        np.testing.assert_allclose(onnx.labels, skl.labels, rtol=TOL, atol=TOL)
        assert onnx.proba is None
    else:
        assert onnx.proba is not None and skl.proba is not None
        assert np.max(np.abs(onnx.proba - skl.proba)) < TOL
        assert onnx.labels == skl.labels
        assert onnx.classes == skl.classes


def test_a_categorical_gap_is_the_most_frequent_category_as_in_sklearn(
    exported: dict[str, ModelBundle], make_rows: Callable[..., Rows], contract: Contract
) -> None:
    bundle = exported["lightgbm"]
    imputer = bundle.pipeline.named_steps["prepare"].named_transformers_["categorical"].named_steps["impute"]
    most_frequent = dict(zip(contract.categorical, imputer.statistics_, strict=True))
    row = make_rows(1)[0]
    gap = {**row, "pbcr": None, "self": None}
    filled = {**row, "pbcr": most_frequent["pbcr"], "self": most_frequent["self"]}
    predictor = OnnxRowPredictor(bundle, bundle.onnx)
    a = predictor.predict_rows([gap]).proba
    b = predictor.predict_rows([filled]).proba
    assert a is not None and b is not None
    np.testing.assert_allclose(a, b, atol=1e-7)
    want = bundle.predict(pd.DataFrame.from_records([gap])).proba
    assert want is not None and np.max(np.abs(a - want)) < TOL


@pytest.mark.parametrize("name", ["logistic", "lightgbm", "ridge"])
def test_one_row_at_a_time_agrees_with_the_batch(
    name: str, exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]
) -> None:
    bundle = exported[name]
    rows = make_rows(40) + gappy(make_rows(10, start=40), bundle.contract)
    for predictor in (OnnxRowPredictor(bundle, bundle.onnx), SklearnRowPredictor(bundle)):
        batch = predictor.predict_rows(rows)
        singles = [predictor.predict_rows([r]) for r in rows]
        if bundle.task == "regression":  # float32 sums may round differently in a batch
            np.testing.assert_allclose([s.labels[0] for s in singles], batch.labels, rtol=1e-6)
        else:
            assert [s.labels[0] for s in singles] == batch.labels
        if batch.proba is not None:
            np.testing.assert_allclose(np.vstack([s.proba for s in singles]), batch.proba, atol=1e-6)


def test_sklearn_row_predictor_is_bundle_predict(exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]) -> None:
    bundle = exported["logistic"]
    rows = make_rows(100) + gappy(make_rows(10, start=100), bundle.contract)
    got = SklearnRowPredictor(bundle).predict_rows(rows)
    want = bundle.predict(pd.DataFrame.from_records(rows))
    assert got.labels == want.labels
    np.testing.assert_array_equal(got.proba, want.proba)


def test_the_threshold_rule_is_the_bundles(exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]) -> None:
    base = exported["logistic"]
    strict = ModelBundle(base.pipeline, base.contract, base.manifest.replace(threshold=0.2), base.reference, "",
                         onnx=base.onnx)
    rows = make_rows(300)
    got = OnnxRowPredictor(strict).predict_rows(rows).labels
    assert got == strict.predict(pd.DataFrame.from_records(rows)).labels
    assert got != base.predict(pd.DataFrame.from_records(rows)).labels  # the threshold did change answers


def test_bad_rows_get_the_same_violations_from_every_predictor(
    exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]
) -> None:
    bundle = exported["lightgbm"]
    rows = make_rows(3)
    rows[0]["dmi"] = "maybe"
    rows[1]["lvr"] = None
    rows[2]["zzz"] = 1
    with pytest.raises(ContractViolation) as want:
        bundle.predict(pd.DataFrame.from_records(rows), source="request body")
    for predictor in (OnnxRowPredictor(bundle), SklearnRowPredictor(bundle)):
        with pytest.raises(ContractViolation) as got:
            predictor.predict_rows(rows, source="request body")
        assert got.value.to_dict() == want.value.to_dict()


def test_numbers_beyond_float32_go_to_the_pipeline(exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]) -> None:
    bundle = exported["logistic"]
    # far_range refuses such numbers by default; let them through to reach the float32 limit
    bundle = dataclasses.replace(bundle, contract=bundle.contract.with_policy(ContractPolicy(defaults={"far_range": "warn"})))
    rows = make_rows(2)
    rows[0]["lvr"] = 1e300
    got = OnnxRowPredictor(bundle).predict_rows(rows)
    want = bundle.predict(pd.DataFrame.from_records(rows))
    assert got.labels == want.labels
    assert got.proba is not None and np.all(np.isfinite(got.proba))


def test_make_row_predictor_uses_onnx_only_when_parity_held(exported: dict[str, ModelBundle]) -> None:
    bundle = exported["logistic"]
    assert make_row_predictor(bundle).engine == "onnx"
    assert make_row_predictor(bundle, prefer_onnx=False).engine == "sklearn"
    failed = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest.replace(onnx={**bundle.manifest.onnx, "used": False}),
                         bundle.reference, "", onnx=bundle.onnx)
    assert make_row_predictor(failed).engine == "sklearn"
    bare = ModelBundle(bundle.pipeline, bundle.contract, {k: v for k, v in bundle.manifest.to_dict().items() if k != "onnx"},
                       bundle.reference, "")
    assert make_row_predictor(bare).engine == "sklearn"
    with pytest.raises(ServingError, match="has no ONNX graph"):
        OnnxRowPredictor(bare)


class _Opaque(ClassifierMixin, BaseEstimator):
    """A classifier no converter knows."""

    def fit(self, X: Any, y: Any) -> _Opaque:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile([0.5, 0.5], (len(X), 1))


@pytest.mark.parametrize("model", [DummyClassifier(strategy="prior"), _Opaque()], ids=["dummy", "unknown"])
def test_an_unconvertible_model_gets_a_clean_report(
    model: Any, contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    train, test = split
    pipeline = Pipeline([("prepare", make_preprocessor(contract)), ("model", model)])
    pipeline.fit(check_frame(train, contract), (train["deny"] == "yes").astype(int))
    result = export_onnx(pipeline, contract, task="binary", rows=test)
    assert result.onnx is None and result.used is False
    assert result.report["convertible"] is False
    assert result.report["reason"].startswith("not convertible: ")


def test_parity_failure_is_reported_not_used(exported: dict[str, ModelBundle], split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    bundle = exported["lightgbm"]
    result = export_onnx(bundle.pipeline, bundle.contract, task="binary", rows=split[1], tolerance=0.0)
    if result.report["parity_max_abs_diff"] == 0.0:
        pytest.skip("bit-identical outputs: nothing to fail on")
    assert result.report["convertible"] is True and result.used is False
    assert "parity does not hold" in result.report["reason"]


def test_rows_that_break_the_contract_are_left_out_of_the_parity_check(
    exported: dict[str, ModelBundle], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    bundle = exported["logistic"]
    rows = split[1].copy()
    rows["dmi"] = rows["dmi"].astype(object)
    rows.loc[rows.index[:5], "dmi"] = "maybe"
    strict = bundle.contract.with_policy(ContractPolicy(defaults={"unseen_category": "reject"}))
    result = export_onnx(bundle.pipeline, strict, task="binary", rows=rows)
    assert result.used and result.report["rows"] - result.report["gap_rows"] == len(rows) - 5


def test_no_held_out_rows_means_the_reference_sample(logistic: ModelBundle) -> None:
    bundle = ModelBundle(logistic.pipeline, logistic.contract, logistic.manifest, logistic.reference, "")
    result = export_bundle(bundle, None)
    assert result.used and bundle.manifest.onnx["parity_rows_from"] == "reference sample"


def test_the_gap_marker_is_not_a_category(contract: Contract) -> None:
    assert all(MISSING_SENTINEL not in (c.categories or []) for c in contract.columns)


# -- the bundle on disk ----------------------------------------------------------
KEY = SigningKey.from_text("export tests: the bundle key", source="test")


def test_bundle_saves_and_loads_the_onnx_graph_with_its_hash(exported: dict[str, ModelBundle], tmp_path: Path) -> None:
    bundle = exported["lightgbm"]
    copy = ModelBundle(bundle.pipeline, bundle.contract, bundle.manifest, bundle.reference, "x: 1", onnx=bundle.onnx)
    paths = copy.save(tmp_path / "b", key=KEY)
    assert paths["onnx"].name == "model.onnx"
    assert "onnx" in copy.manifest.files and copy.manifest.onnx["used"] is True
    loaded = ModelBundle.load(tmp_path / "b", key=KEY)
    assert loaded.onnx == bundle.onnx
    assert make_row_predictor(loaded).engine == "onnx"
    paths["onnx"].write_bytes(bundle.onnx + b"\0")  # type: ignore[operator]
    with pytest.raises(DataError, match="hash does not match"):
        ModelBundle.load(tmp_path / "b", key=KEY)


def test_bundle_without_onnx_still_round_trips(logistic: ModelBundle, tmp_path: Path) -> None:
    bare = ModelBundle(logistic.pipeline, logistic.contract, {"task": "binary", "classes": ["no", "yes"]},
                       logistic.reference, "x: 1")
    bare.save(tmp_path / "b", key=KEY)
    assert not (tmp_path / "b" / "model.onnx").exists()
    assert ModelBundle.load(tmp_path / "b", key=KEY).onnx is None


def _assert_exports_with_parity(pipeline: Pipeline, contract: Contract, train: pd.DataFrame, held_out: pd.DataFrame,
                                rows: Rows, classes: list[str]) -> None:
    """A fitted candidate's pipeline exports to ONNX, passes the parity check and serves the pipeline's answers."""
    task = "binary" if len(classes) == 2 else "multiclass"
    bundle = ModelBundle(pipeline, contract, manifest={"task": task, "classes": classes,
                                                       "threshold": 0.5 if task == "binary" else None},
                         reference=train.head(200), spec_yaml="", name="hmda", version="1")
    export_bundle(bundle, held_out)
    report = bundle.manifest.onnx
    assert report["used"] is True and report["parity_max_abs_diff"] < TOL, report
    proba = OnnxRowPredictor(bundle).predict_rows(rows).proba
    assert proba.shape == (len(rows), len(classes))
    np.testing.assert_allclose(proba, bundle.predict(pd.DataFrame.from_records(rows)).proba, atol=TOL)


def test_the_svm_candidate_fits_without_deprecations_and_exports_with_parity(
    contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame], make_rows: Callable[..., Rows]
) -> None:
    import warnings

    from tabloop.data import check_frame, encode_target
    from tabloop.training._candidates import make_candidates

    (svm,) = [c for c in make_candidates(["svm"], "binary", contract, seed=0) if c.family == "svm"]
    train = split[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # SVC(probability=True) is deprecated in scikit-learn 1.9
        pipeline = svm.build().fit(check_frame(train, contract), encode_target(train["deny"], ["no", "yes"]))
    _assert_exports_with_parity(pipeline, contract, train, split[1], make_rows(50), ["no", "yes"])


def test_the_multiclass_svm_candidate_exports_its_one_vs_one_decisions_with_parity(
    table: pd.DataFrame, split: tuple[pd.DataFrame, pd.DataFrame], make_rows: Callable[..., Rows]
) -> None:
    from tabloop.data import check_frame, encode_target, infer_contract
    from tabloop.training._candidates import make_candidates

    def three(df: pd.DataFrame) -> pd.DataFrame:  # credit score 1-6 folded into three classes
        return df.assign(ccs=df["ccs"].round().clip(1, 3).astype(int).astype(str))

    train, held_out = three(split[0]), three(split[1])
    classes = ["1", "2", "3"]
    mc_contract = infer_contract(three(table), target="ccs", ignored=["black", "deny"])
    (svm,) = [c for c in make_candidates(["svm"], "multiclass", mc_contract, seed=0) if c.family == "svm"]
    pipeline = svm.build().fit(check_frame(train, mc_contract), encode_target(train["ccs"], classes))
    rows = [{k: v for k, v in r.items() if k != "ccs"} for r in make_rows(50)]
    _assert_exports_with_parity(pipeline, mc_contract, train, held_out, rows, classes)


def test_an_extra_trees_lightgbm_candidate_exports_with_parity(
    contract: Contract, split: tuple[pd.DataFrame, pd.DataFrame], make_rows: Callable[..., Rows]
) -> None:
    from tabloop.data import check_frame, encode_target
    from tabloop.training._candidates import make_candidates

    (lgbm,) = [c for c in make_candidates(["lightgbm"], "binary", contract, seed=0) if c.family == "lightgbm"]
    train = split[0]
    pipeline = lgbm.build({**lgbm.params, "extra_trees": True, "n_estimators": 100})
    assert pipeline.named_steps["model"].get_params()["extra_trees"] is True
    pipeline.fit(check_frame(train, contract), encode_target(train["deny"], ["no", "yes"]))
    _assert_exports_with_parity(pipeline, contract, train, split[1], make_rows(50), ["no", "yes"])
