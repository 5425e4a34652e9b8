"""evaluate_predictions and the evaluation report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from tabloop.evaluation import evaluate_predictions, evaluation_report

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
