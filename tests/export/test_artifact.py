"""What ``tabloop export`` measures: int8 beside float (honest when nothing quantizes), and a distilled student."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from tabloop.bundle import ModelBundle
from tabloop.data import Contract
from tabloop.errors import ExportError
from tabloop.export import build_artifact, quantize_int8
from tabloop.export._runtime import make_session
from tabloop.preparation import make_preprocessor

from .conftest import _bundle

Split = tuple[pd.DataFrame, pd.DataFrame]


@pytest.fixture(autouse=True)
def fewer_timing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency is reported, never asserted on: a few runs are enough here."""
    from tabloop.export import _standalone

    monkeypatch.setattr(_standalone, "ONE_ROW_RUNS", 10)
    monkeypatch.setattr(_standalone, "BATCH_RUNS", 2)


@pytest.fixture(scope="module")
def mlp(contract: Contract, split: Split) -> ModelBundle:
    """A model whose graph has MatMul nodes, the kind int8 dynamic quantization rewrites."""
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged after 150 iterations: good enough to quantize
        return _bundle(Pipeline([("prepare", make_preprocessor(contract)), ("model", model)]), contract, split[0],
                       "binary")


def test_int8_quantizes_matmuls_and_reports_beside_the_float_graph(mlp: ModelBundle, split: Split) -> None:
    art = build_artifact(mlp, split[1], target="deny", metric="roc_auc", quantize="int8")
    r = art.report
    assert r["written"] == "float-int8" and r["bytes"] == len(art.onnx)
    int8, flt = r["int8"], r["float"]
    assert int8["quantized_nodes"] > 0 and int8["parity"]["ok"]
    for key in ("bytes", "p50_one_row_ms", "p50_batch_ms", "metric"):
        assert int8[key] is not None and flt[key] is not None
    assert int8["bytes"] == len(art.onnx) != flt["bytes"]  # another graph (a tiny one may even grow: scales, casts)
    assert int8["metric_change"] == pytest.approx(int8["metric"] - flt["metric"], abs=1e-6)
    assert 0 < int8["parity"]["max_abs_diff"] <= 0.05  # lossy, within the int8 tolerance
    ops = {n.op_type for n in __import__("onnx").load_from_string(art.onnx).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
    assert make_session(art.onnx).get_modelmeta().custom_metadata_map["tabloop"]  # metadata survives


def test_int8_beyond_its_tolerance_is_refused(mlp: ModelBundle, split: Split) -> None:
    with pytest.raises(ExportError, match="int8 graph does not answer") as caught:
        build_artifact(mlp, split[1], target="deny", metric="roc_auc", quantize="int8", int8_tolerance=1e-9)
    assert caught.value.report["int8"]["quantized_nodes"] > 0


def test_tree_graphs_do_not_quantize_and_say_so(lightgbm: ModelBundle, split: Split) -> None:
    art = build_artifact(lightgbm, split[1], target="deny", metric="roc_auc", quantize="int8")
    int8 = art.report["int8"]
    assert int8["quantized_nodes"] == 0 and "TreeEnsembleClassifier" in int8["note"]
    assert art.report["written"] == "float" and int8["metric_change"] == 0.0
    assert quantize_int8(art.onnx).onnx == art.onnx  # the float graph, not a file that only claims to be int8


def test_distill_fits_a_student_on_the_teachers_answers(lightgbm: ModelBundle, split: Split) -> None:
    art = build_artifact(lightgbm, split[1], target="deny", metric="roc_auc", train_rows=split[0],
                         distill_student="trees")
    d = art.report["distill"]
    assert art.report["written"] == "student" and art.report["parity"]["ok"]  # the student's file is its pipeline
    teacher, small = d["teacher"], d["student_model"]
    assert small["bytes"] < teacher["bytes"]  # 300 trees against a small student
    for m in (teacher, small):
        assert m["metric"] is not None and m["p50_one_row_ms"] > 0 and m["p50_batch_ms"] > 0
    assert d["metric_change"] == pytest.approx(small["metric"] - teacher["metric"], abs=1e-6)
    assert d["vs_teacher"]["class_agreement"] > 0.9  # it learned the teacher, not noise
    assert abs(d["metric_change"]) < 0.1


@pytest.mark.parametrize("student", ["trees", "linear"])
def test_distill_works_for_a_regressor(student: str, ridge: ModelBundle, split: Split) -> None:
    art = build_artifact(ridge, split[1], target="hir", metric="rmse", train_rows=split[0], distill_student=student)
    d = art.report["distill"]
    assert d["student"] == student and art.report["parity"]["ok"]
    assert d["vs_teacher"]["mean_abs_diff"] < 1.0  # the ridge teacher's values (about 25) learned, not noise
    assert abs(d["metric_change"]) < 0.5
    assert art.report["outputs"] == ["value"]


def test_unknown_quantization_is_refused(logistic: ModelBundle, split: Split) -> None:
    with pytest.raises(ExportError, match="unknown quantization 'int4'"):
        build_artifact(logistic, split[1], target="deny", metric="roc_auc", quantize="int4")


def test_a_teacher_that_does_not_convert_still_gets_a_student(contract: Contract, split: Split) -> None:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.linear_model import LogisticRegression

    class Halver(TransformerMixin, BaseEstimator):
        def fit(self, X: object, y: object = None) -> Halver:
            return self

        def transform(self, X: object) -> object:
            import numpy as np

            return np.asarray(X) / 2

    pipe = Pipeline([("prepare", make_preprocessor(contract)), ("halve", Halver()),
                     ("model", LogisticRegression(max_iter=500))])
    teacher = _bundle(pipe, contract, split[0], "binary")
    with pytest.raises(ExportError, match=r"step pipeline\.halve \(Halver\) has no ONNX converter"):
        build_artifact(teacher, split[1], target="deny", metric="roc_auc")
    art = build_artifact(teacher, split[1], target="deny", metric="roc_auc", train_rows=split[0],
                         distill_student="linear")
    d = art.report["distill"]
    assert d["teacher"]["onnx"].startswith("not exported: step pipeline.halve (Halver)")
    assert d["teacher"]["metric"] is not None and "bytes" not in d["teacher"]
    assert art.report["written"] == "student" and d["vs_teacher"]["class_agreement"] > 0.9
