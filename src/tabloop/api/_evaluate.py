"""``tabloop evaluate`` and ``tabloop promote``: score a version on its held-out test part; move aliases."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.api._train import TEST_ARTIFACT, TEST_FILE
from tabloop.data import encode_target
from tabloop.errors import DataError
from tabloop.evaluation import EvaluationResult, evaluate_predictions, evaluation_report
from tabloop.bundle import ModelBundle


@dataclass
class EvaluateResult(Result):
    model: str
    version: str
    rows: int
    metric: str
    metrics: dict[str, float | None]
    confusion_matrix: list[list[int]] | None
    cost: dict[str, Any] | None
    report_html: Path
    report_json: Path


def evaluate(project: str | Path | None = None, *, version: str | None = None) -> EvaluateResult:
    """Score a version (default: the latest) on the test part kept aside when it was trained."""
    proj = Project.open(project)
    ref = proj.resolve(version or "latest")
    if not ref.run_id:
        raise DataError(f"model {ref.name!r} version {ref.version} has no training run to take its test part from")
    bundle = proj.load_bundle(ref.version)
    with tempfile.TemporaryDirectory(prefix="tabloop-eval-") as tmp:
        path = proj.tracker.download_run_artifact(ref.run_id, f"{TEST_ARTIFACT}/{TEST_FILE}", Path(tmp))
        test_df = pd.read_parquet(path)
    result = score_bundle(bundle, test_df, proj)
    proj.tracker.log_metrics({f"test_{k}": v for k, v in result.metrics.items()}, run_id=ref.run_id)
    report = evaluation_report(result, title=f"Evaluation: {ref.name} v{ref.version}", subtitle=f"held-out test part, {result.rows} rows")
    html_path, json_path = report.write(proj.report_dir(), f"evaluate-v{ref.version}")
    return EvaluateResult(ref.name, ref.version, result.rows, result.metric, result.metrics,
                          result.confusion_matrix, result.cost, html_path, json_path)


def score_bundle(bundle: ModelBundle, df: pd.DataFrame, proj: Project) -> EvaluationResult:
    """Metrics of ``bundle`` on labelled rows ``df`` (the spec's target column)."""
    spec = proj.spec
    target = spec.data.target
    if target not in df.columns:
        raise DataError(f"labelled rows have no target column {target!r}")
    y = encode_target(df[target], bundle.classes)
    preds = bundle.predict(df.drop(columns=[target]), source="labelled rows")
    if bundle.task == "regression":
        import numpy as np

        return evaluate_predictions("regression", y, metric=spec.resolved_metric, y_pred=np.asarray(preds.labels, float))
    lookup = {str(c): i for i, c in enumerate(bundle.classes)}
    import numpy as np

    y_pred = np.array([lookup[str(p)] for p in preds.labels])
    return evaluate_predictions(
        bundle.task, y, metric=spec.resolved_metric, classes=bundle.classes, proba=preds.proba, y_pred=y_pred,
        threshold=bundle.threshold, costs=(spec.costs.false_positive, spec.costs.false_negative),
    )


@dataclass
class PromoteResult(Result):
    model: str
    version: str
    alias: str
    previous: str | None


def promote(version: str, *, alias: str = "champion", project: str | Path | None = None) -> PromoteResult:
    """Point ``alias`` (default ``champion``) at ``version`` in the registry.

    The move is a compare-and-set against the alias as read here: when another process moves
    it in between, this one raises ``PromotionConflictError`` and changes nothing.
    """
    proj = Project.open(project)
    ref = proj.resolve(version)
    seen = proj.tracker.alias_version(ref.name, alias)
    previous = proj.tracker.set_alias(ref.name, alias, ref.version, expected_previous=seen)
    return PromoteResult(ref.name, ref.version, alias, previous)
