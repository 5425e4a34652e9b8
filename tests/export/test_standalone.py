"""The file ``tabloop export`` writes: every model family converts and answers as its pipeline does, or is refused."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tabloop.bundle import ModelBundle
from tabloop.data import MISSING_SENTINEL, Contract, check_frame
from tabloop.errors import ExportError, NotConvertible
from tabloop.export import METADATA_KEY, export_file
from tabloop.export._runtime import make_session
from tabloop.preparation import make_preprocessor

from .conftest import _bundle

Split = tuple[pd.DataFrame, pd.DataFrame]


def _pipe(contract: Contract, model: Any, *, scale: bool = False) -> Pipeline:
    return Pipeline([("prepare", make_preprocessor(contract, scale=scale)), ("model", model)])


@pytest.fixture(scope="module")
def families(logistic: ModelBundle, lightgbm: ModelBundle, ridge: ModelBundle, contract: Contract,
             split: Split) -> dict[str, ModelBundle]:
    import catboost as cb
    import xgboost as xgb
    from sklearn.ensemble import VotingClassifier

    small_lgb = __import__("lightgbm").LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1, random_state=0)
    # tabloop's ensemble as training/_ensemble.py builds it: whole pipelines, weights as a list
    ensemble = VotingClassifier([("logistic", _pipe(contract, LogisticRegression(max_iter=1000), scale=True)),
                                 ("lightgbm", _pipe(contract, small_lgb))], voting="soft", weights=[0.4, 0.6])
    made = {
        "xgboost": _pipe(contract, xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)),
        "catboost": _pipe(contract, cb.CatBoostClassifier(iterations=40, depth=4, verbose=False, thread_count=1,
                                                          allow_writing_files=False, random_seed=0)),
        "random_forest": _pipe(contract, RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)),
        "ensemble": ensemble,
    }
    out = {name: _bundle(p, contract, split[0], "binary") for name, p in made.items()}
    return {"logistic": logistic, "lightgbm": lightgbm, "ridge": ridge, **out}


@pytest.mark.parametrize("name", ["logistic", "lightgbm", "xgboost", "catboost", "random_forest", "ensemble", "ridge"])
def test_every_family_exports_and_matches_its_pipeline(name: str, families: dict[str, ModelBundle], split: Split) -> None:
    bundle = families[name]
    result = export_file(bundle, split[1])
    p = result.parity
    assert p["ok"] and p["rows"] > 400 and p["gap_rows"] > 0
    assert (p["max_scaled_diff"] if name == "ridge" else p["max_abs_diff"]) <= 1e-4
    if name != "ridge":
        assert p["class_agreement"] == 1.0
    # the file alone, as a user without tabloop runs it: one named typed input per column
    session = make_session(result.onnx)
    kinds = {i.name: i.type for i in session.get_inputs()}
    assert list(kinds) == bundle.contract.feature_names
    for col in bundle.contract.columns:
        assert kinds[col.name] == ("tensor(float)" if col.kind == "numeric" else "tensor(string)")
    X = check_frame(split[1].head(50), bundle.contract)
    feed = {c.name: (X[c.name].to_numpy(dtype=np.float32) if c.kind == "numeric"
                     else X[c.name].map(lambda v: v if isinstance(v, str) else MISSING_SENTINEL).to_numpy(object)
                     ).reshape(-1, 1) for c in bundle.contract.columns}
    want = bundle.predict(X, checked=True)
    if name == "ridge":
        assert [o.name for o in session.get_outputs()] == ["value"]
        (value,) = session.run(None, feed)
        np.testing.assert_allclose(value, want.labels, rtol=1e-4, atol=1e-3)
    else:
        assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
        label, proba = session.run(None, feed)
        assert list(label) == want.labels
        np.testing.assert_allclose(proba, want.proba, atol=1e-4)


def test_catboost_regressor_and_multiclass_compose(table: pd.DataFrame, split: Split) -> None:
    import catboost as cb

    from tabloop.data import infer_contract

    reg_contract = infer_contract(table, target="hir", ignored=["black", "deny"])
    reg = _bundle(_pipe(reg_contract, cb.CatBoostRegressor(iterations=30, depth=4, verbose=False, thread_count=1,
                                                           allow_writing_files=False)), reg_contract, split[0],
                  "regression")
    assert export_file(reg, split[1]).parity["ok"]
    from sklearn.ensemble import VotingRegressor
    from sklearn.linear_model import Ridge

    # tabloop's regression ensemble: whole pipelines, list weights, CatBoost among them
    blend = VotingRegressor([("ridge", _pipe(reg_contract, Ridge(), scale=True)),
                             ("catboost", _pipe(reg_contract, cb.CatBoostRegressor(
                                 iterations=30, depth=4, verbose=False, thread_count=1, allow_writing_files=False)))],
                            weights=[0.3, 0.7])
    blended = _bundle(blend, reg_contract, split[0], "regression")
    assert export_file(blended, split[1]).parity["ok"]
    three = table.assign(band=pd.cut(table["lvr"], [-np.inf, 0.7, 0.85, np.inf], labels=["low", "mid", "high"]).astype(str))
    contract = infer_contract(three, target="band", ignored=["black", "deny", "lvr"])
    train, test = three.iloc[:1800], three.iloc[1800:]
    pipe = _pipe(contract, cb.CatBoostClassifier(iterations=30, depth=4, verbose=False, thread_count=1,
                                                 allow_writing_files=False))
    from tabloop.data import encode_target

    classes = ["high", "low", "mid"]
    pipe.fit(check_frame(train, contract), encode_target(train["band"], classes))
    bundle = ModelBundle(pipe, contract, manifest={"task": "multiclass", "classes": classes}, reference=train.head(100),
                         spec_yaml="x: 1", name="bands", version="1")
    result = export_file(bundle, test)
    assert result.parity["ok"] and result.parity["class_agreement"] == 1.0
    meta = json.loads(make_session(result.onnx).get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert meta["classes"] == classes and meta["task"] == "multiclass"


def test_catboost_with_its_own_categorical_features_is_refused_naming_them(contract: Contract, split: Split) -> None:
    import catboost as cb

    X = check_frame(split[0], contract)
    cats = contract.categorical
    model = cb.CatBoostClassifier(iterations=5, verbose=False, allow_writing_files=False, cat_features=cats)
    X = X.copy()
    for c in cats:  # a column is named "self", so not DataFrame.assign
        X[c] = X[c].fillna("none")
    model.fit(X, (split[0]["deny"] == "yes").astype(int))
    from tabloop.export._catboost import _refuse_non_numeric

    # the check the converter makes first (a bare model with string columns never reaches it through skl2onnx)
    with pytest.raises(NotConvertible, match=r"categorical features at positions \[5, 6, 7, 8, 10\]"):
        _refuse_non_numeric(model)


def test_the_label_follows_the_versions_threshold(contract: Contract, split: Split) -> None:
    model = _pipe(contract, LogisticRegression(max_iter=1000), scale=True)
    bundle = _bundle(model, contract, split[0], "binary", threshold=0.2)
    result = export_file(bundle, split[1])
    X = check_frame(split[1], contract)
    from tabloop.export._standalone import run_graph

    proba, labels = run_graph(make_session(result.onnx), bundle, X)
    assert labels == bundle.predict(X, checked=True).labels
    assert "yes" in labels and sum(lab == "yes" for lab in labels) > sum(p[1] >= 0.5 for p in proba)
    meta = json.loads(make_session(result.onnx).get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert meta["threshold"] == 0.2 and meta["missing_category"] == MISSING_SENTINEL
    assert meta["inputs"][0] == {"name": "dir", "type": "float32", "shape": "[N, 1]"}


def test_a_parity_break_is_refused_with_the_numbers(logistic: ModelBundle, split: Split) -> None:
    with pytest.raises(ExportError) as caught:
        export_file(logistic, split[1], tolerance=1e-12)
    err = caught.value
    assert "maximum difference of probabilities" in err.message and "tolerance 1e-12" in err.message
    assert err.report["max_abs_diff"] > 1e-12 and err.to_dict()["code"] == "export_refused"


def test_a_step_without_converter_is_named(contract: Contract, split: Split) -> None:
    from sklearn.base import BaseEstimator, TransformerMixin

    class Doubler(TransformerMixin, BaseEstimator):
        def fit(self, X: Any, y: Any = None) -> Doubler:
            return self

        def transform(self, X: Any) -> Any:
            return np.asarray(X) * 2

    pipe = Pipeline([("prepare", make_preprocessor(contract)), ("double", Doubler()),
                     ("model", LogisticRegression(max_iter=500))])
    bundle = _bundle(pipe, contract, split[0], "binary")
    with pytest.raises(NotConvertible, match=r"step pipeline\.double \(Doubler\) has no ONNX converter") as caught:
        export_file(bundle, split[1])
    assert isinstance(caught.value, ExportError)


def test_no_held_out_rows_is_refused(logistic: ModelBundle) -> None:
    with pytest.raises(ExportError, match="parity cannot be checked"):
        export_file(logistic, None)


def test_integer_classes_come_out_as_int64_labels(logistic: ModelBundle, split: Split) -> None:
    bundle = ModelBundle(logistic.pipeline, logistic.contract, manifest={"task": "binary", "classes": [0, 1],
                                                                           "threshold": 0.5},
                         reference=logistic.reference, spec_yaml="x: 1")
    result = export_file(bundle, split[1])
    session = make_session(result.onnx)
    assert session.get_outputs()[0].type == "tensor(int64)"
    X = check_frame(split[1].head(30), bundle.contract)
    from tabloop.export._standalone import run_graph

    _, labels = run_graph(session, bundle, X)
    assert [int(v) for v in labels] == bundle.predict(X, checked=True).labels
