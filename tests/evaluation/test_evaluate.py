"""evaluate_predictions and the evaluation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tabloop.evaluation import evaluate_predictions, evaluation_report

if TYPE_CHECKING:
    from tabloop.spec import Spec

Y = np.array([0, 0, 0, 1, 1, 0, 1, 0])
P1 = np.array([0.1, 0.3, 0.6, 0.8, 0.4, 0.2, 0.9, 0.15])
PROBA = np.column_stack([1 - P1, P1])


def test_binary_with_threshold_and_costs() -> None:
    r = evaluate_predictions("binary", Y, metric="roc_auc", classes=["no", "yes"], proba=PROBA, threshold=0.35, costs=(1.0, 5.0))
    pred = (P1 >= 0.35).astype(int)
    assert r.rows == 8 and r.threshold == 0.35 and r.classes == ["no", "yes"]
    assert list(r.metrics)[0] == "roc_auc"
    assert r.metrics["accuracy"] == pytest.approx(skm.accuracy_score(Y, pred))
    assert r.confusion_matrix == skm.confusion_matrix(Y, pred).tolist() == [[4, 1], [0, 3]]  # rows: actual
    fpr, tpr, _ = skm.roc_curve(Y, P1)
    assert r.roc_curve == {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    assert r.cost == {"false_positives": 1, "false_negatives": 0, "total_cost": 1.0, "cost_per_row": 0.125}
    json.dumps(r.to_dict())


def test_without_threshold_the_likeliest_class_wins() -> None:
    r = evaluate_predictions("binary", Y, metric="accuracy", proba=PROBA)
    assert r.metrics["accuracy"] == pytest.approx(skm.accuracy_score(Y, P1 > 0.5))
    assert r.cost is None and r.threshold is None


def test_one_class_present_has_no_roc_and_undefined_auc() -> None:
    y = np.zeros(4, dtype=int)
    r = evaluate_predictions("binary", y, metric="roc_auc", proba=PROBA[:4], threshold=0.5, costs=(1.0, 1.0))
    assert r.metrics["roc_auc"] is None
    assert r.roc_curve is None
    assert r.confusion_matrix == [[2, 2], [0, 0]]  # still shaped by the model's classes
    assert r.cost == {"false_positives": 2, "false_negatives": 0, "total_cost": 2.0, "cost_per_row": 0.5}


def test_multiclass_and_regression() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    r = evaluate_predictions("multiclass", y, metric="log_loss", classes=["a", "b", "c"], proba=proba)
    assert r.confusion_matrix == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert r.roc_curve is None
    reg = evaluate_predictions("regression", np.array([1.0, 2.0]), metric="mae", y_pred=np.array([1.5, 2.0]))
    assert reg.metrics == {"mae": 0.25, "rmse": pytest.approx(np.sqrt(0.125)), "mape": 0.25, "r2": pytest.approx(0.5)}
    assert reg.confusion_matrix is None


def test_report_has_sections_and_the_same_numbers(tmp_path: Path) -> None:
    r = evaluate_predictions("binary", Y, metric="roc_auc", classes=["no", "yes"], proba=PROBA, threshold=0.35, costs=(1.0, 5.0))
    report = evaluation_report(r, title="Evaluation", subtitle="v3 on test.parquet")
    assert [h for h, _ in report.sections] == ["Metrics", "Cost of mistakes", "Confusion matrix", "ROC curve",
                                               "Precision-recall curve", "Calibration"]
    assert "decision threshold 0.350" in dict(report.sections)["Cost of mistakes"]
    html_path, json_path = report.write(tmp_path, "evaluate")
    assert "v3 on test.parquet" in html_path.read_text()
    assert json.loads(json_path.read_text())["metrics"]["roc_auc"] == pytest.approx(r.metrics["roc_auc"])


def test_report_with_costs_but_no_threshold() -> None:
    r = evaluate_predictions("binary", Y, metric="roc_auc", classes=["no", "yes"], proba=PROBA, costs=(1.0, 5.0))
    report = evaluation_report(r, title="Evaluation")
    assert "decision threshold highest probability" in dict(report.sections)["Cost of mistakes"]


def test_regression_report_has_metrics_and_both_plots() -> None:
    reg = evaluate_predictions("regression", np.array([1.0, 2.0, 4.0]), metric="rmse", y_pred=np.array([1.5, 2.0, 3.0]))
    assert reg.predictions == {"actual": [1.0, 2.0, 4.0], "predicted": [1.5, 2.0, 3.0]}
    sections = dict(evaluation_report(reg, title="x").sections)
    assert list(sections) == ["Metrics", "Predicted against actual", "Residuals"]
    assert "<img" in sections["Predicted against actual"] and "<img" in sections["Residuals"]


# -- the whole evaluation of a bundle ------------------------------------------------------------------------

def _spec(target: str, task: str, **evaluation: object) -> Spec:
    from tabloop.spec import Spec

    return Spec.model_validate({"name": "t", "data": {"source": "t.csv", "target": target, "task": task},
                                "evaluation": {"bootstrap_resamples": 200, **evaluation}})


def _bundle(pipeline: object, frame: pd.DataFrame, target: str, task: str, classes: list, threshold: float | None):
    from tabloop.bundle import ModelBundle, training_prior
    from tabloop.data import check_frame, encode_target, infer_contract

    contract = infer_contract(frame, target=target, ignored=[c for c in ["group"] if c in frame])
    X = check_frame(frame, contract)
    pipeline.fit(X, encode_target(frame[target], classes))
    manifest = {"task": task, "classes": classes, "threshold": threshold, "target": target,
                "prior": training_prior(frame[target], task, classes)}
    return ModelBundle(pipeline, contract, manifest=manifest, reference=frame.head(50), spec_yaml="x: 1")


def _pipeline(model: object, frame: pd.DataFrame, target: str) -> object:
    from sklearn.pipeline import Pipeline

    from tabloop.data import infer_contract
    from tabloop.preparation import make_preprocessor

    return Pipeline([("prepare", make_preprocessor(
        infer_contract(frame, target=target, ignored=[c for c in ["group"] if c in frame]))),
                     ("model", model)])


def test_a_binary_bundle_gets_every_part(hmda: pd.DataFrame) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from tabloop.evaluation import evaluate_bundle

    data = hmda.dropna().rename(columns={"black": "group"})
    train, test = data.iloc[:1800], data.iloc[1800:].reset_index(drop=True)
    bundle = _bundle(_pipeline(LogisticRegression(max_iter=1000), train, "deny"), train, "deny", "binary",
                     ["no", "yes"], 0.3)
    spec = _spec("deny", "binary", slices=["group", "lvr"], daily_volume=400, confident_errors=5)
    r = evaluate_bundle(bundle, test, spec)
    assert r.rows == len(test) and r.resamples == 200
    assert set(r.metrics) == set(r.intervals) == set(r.baseline)
    assert r.baseline["roc_auc"] == 0.5 and r.baseline["accuracy"] == pytest.approx((test["deny"] == "no").mean())
    assert r.metrics["roc_auc"] > 0.7 and r.intervals["roc_auc"][0] <= r.metrics["roc_auc"] <= r.intervals["roc_auc"][1]
    assert r.pr_curve and r.calibration and r.roc_curve
    d = r.decision
    assert d["threshold"] == 0.5 and d["rule"] == "costs" and d["served_threshold"] == 0.3
    assert d["sentence"].startswith("at threshold 0.50, of about 400 cases a day")
    assert any("predicts at threshold 0.3" in n for n in d["notes"])
    assert [g["column"] for g in r.slices] == ["group", "lvr"]
    assert {s["slice"] for s in r.slices[0]["slices"]} == {"no", "yes"} and r.slices[1]["cut"] == "quartiles"
    assert len(r.confident_errors) == 5 and "group" in r.confident_errors[0]["features"]
    assert r.importance["permutation"] and "not a tree model" in r.importance["shap"]["note"]
    sections = [h for h, _ in evaluation_report(r, title="e").sections]
    for heading in ("Metrics", "Decision threshold", "Precision-recall curve", "Calibration", "Slices",
                    "Test rows: most confidently wrong", "Permutation importance", "SHAP values"):
        assert heading in sections
    json.dumps(r.to_dict())
    assert isinstance(pd.Series(r.summary()), pd.Series) and r.summary()[0].startswith("roc_auc: ")


def test_a_target_recall_moves_the_decision(hmda: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression

    from tabloop.errors import DataError

    from tabloop.evaluation import evaluate_bundle

    data = hmda.dropna().drop(columns=["black"])
    train, test = data.iloc[:1800], data.iloc[1800:].reset_index(drop=True)
    bundle = _bundle(_pipeline(LogisticRegression(max_iter=1000), train, "deny"), train, "deny", "binary",
                     ["no", "yes"], 0.5)
    r = evaluate_bundle(bundle, test, _spec("deny", "binary", target_recall=0.9, bootstrap_resamples=0,
                                            slices=["self"]), explain=False)
    d = r.decision
    assert d["rule"] == "target_recall" and d["recall"] >= 0.9 and d["threshold"] < 0.5
    assert "chosen on the test part" in d["notes"][0]
    # no resamples: no intervals anywhere, the rest as before
    assert r.intervals == {} and d["intervals"] == {} and r.importance is None
    assert r.slices[0]["worst"]["gap_interval"] is None and r.slices[0]["worst"]["gap"] is not None
    with pytest.raises(DataError, match="no row has a value in the target column 'deny'"):
        evaluate_bundle(bundle, test.assign(deny=None), _spec("deny", "binary"))


def test_unknown_slice_columns_are_named() -> None:
    from tabloop.errors import DataError
    from tabloop.evaluation import evaluate_bundle

    frame = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    with pytest.raises(DataError, match=r"evaluation.slices names \['nope'\]"):
        evaluate_bundle(None, frame, _spec("y", "binary", slices=["nope"]))  # type: ignore[arg-type]


def test_regression_with_a_true_zero_has_no_mape_and_says_why() -> None:
    from sklearn.linear_model import Ridge

    from tabloop.evaluation import evaluate_bundle

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "group": rng.choice(["a", "b"], 300)})
    frame["y"] = np.round(3 * frame["x"] + rng.normal(0, 1, 300))
    frame.loc[::50, "y"] = 0.0
    bundle = _bundle(_pipeline(Ridge(), frame, "y"), frame, "y", "regression", [], None)
    r = evaluate_bundle(bundle, frame, _spec("y", "regression", slices=["group"]))
    assert r.metrics["mape"] is None and r.intervals["mape"] is None
    zeros = int((frame["y"] == 0).sum())
    assert any(f"MAPE is undefined: {zeros} test rows have a true value of 0" in n for n in r.notes)
    assert r.baseline["r2"] == pytest.approx(0.0, abs=1e-3) and r.metrics["r2"] > 0.8
    assert r.decision is None and r.predictions and len(r.predictions["actual"]) == 300
    assert r.confident_errors[0]["error"] ** 2 == max(e["error"] ** 2 for e in r.confident_errors)
    sections = [h for h, _ in evaluation_report(r, title="e").sections]
    assert "Predicted against actual" in sections and "Residuals" in sections and "Test rows: largest errors" in sections


def test_calibration_bins_binary_and_top_label_multiclass() -> None:
    r = evaluate_predictions("binary", Y, metric="roc_auc", proba=PROBA)
    cal = r.calibration
    assert cal["of"] == "positive class" and sum(cal["rows"]) == len(Y)
    assert len(cal["rows"]) == len(cal["predicted"]) == len(cal["observed"])
    # bins closed on the right, as calibration_curve draws them: [0, 0.1] holds 0.1, (0.1, 0.2] 0.15 and 0.2
    assert cal["rows"][:2] == [1, 2] and cal["predicted"][:2] == pytest.approx([0.1, 0.175])
    assert cal["observed"][:2] == [0.0, 0.0]
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    mc = evaluate_predictions("multiclass", y, metric="log_loss", proba=proba).calibration
    # answers: right at 0.8, 0.8, 0.6; wrong at 0.5
    assert mc["of"] == "top class" and mc["rows"] == [1, 1, 2]
    assert mc["observed"] == [0.0, 1.0, 1.0] and mc["predicted"] == pytest.approx([0.5, 0.6, 0.8])
    assert "Calibration" in dict(evaluation_report(evaluate_predictions("multiclass", y, metric="log_loss",
                                                                        proba=proba), title="x").sections)
