"""Scoring a model on held-out rows: metrics with intervals and a baseline, curves, the decision threshold,
slices, the rows it got most confidently wrong, what it leans on; drawn as HTML + JSON by ``tabloop.report``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from tabloop.evaluation._errors import confident_errors
from tabloop.evaluation._importance import permutation_ranking, shap_ranking
from tabloop.evaluation._metrics import compute_metrics, expected_cost, report_metrics_for
from tabloop.evaluation._resampled import resampled_metrics
from tabloop.evaluation._slices import slice_metrics
from tabloop.evaluation._threshold import choose_threshold, decide
from tabloop.report import Report
from tabloop.report import evaluation_report as draw_evaluation_report
from tabloop.stats import bootstrap_counts, percentile_interval

if TYPE_CHECKING:
    from tabloop.bundle import ModelBundle
    from tabloop.spec import Spec

__all__ = ["EvaluationResult", "evaluate_bundle", "evaluate_predictions", "evaluation_report"]

#: the bootstrap draws at most this many row counts (resamples x rows): past it, fewer resamples
BOOTSTRAP_CELLS = 20_000_000
#: points of the predicted-vs-actual and residual plots, at most
PLOT_POINTS = 2000


@dataclass
class EvaluationResult:
    task: str
    metric: str
    rows: int
    metrics: dict[str, float | None]
    classes: list[Any] = field(default_factory=list)
    threshold: float | None = None
    confusion_matrix: list[list[int]] | None = None
    roc_curve: dict[str, list[float]] | None = None
    cost: dict[str, Any] | None = None
    #: metric -> 95% bootstrap interval [low, high] (None where undefined or too few resamples)
    intervals: dict[str, list[float] | None] = field(default_factory=dict)
    #: metric -> the value of the dummy baseline (the training part's class shares or mean, no features)
    baseline: dict[str, float | None] = field(default_factory=dict)
    resamples: int = 0
    pr_curve: dict[str, list[float]] | None = None
    #: observed share against the mean predicted probability, per bin: of the positive class (binary) or of
    #: the model's answer (multiclass, top-label)
    calibration: dict[str, Any] | None = None
    #: regression: actual and predicted values (a sample of at most PLOT_POINTS rows) for the plots
    predictions: dict[str, list[float]] | None = None
    #: binary: the decision threshold and what it means per day (see Decision)
    decision: dict[str, Any] | None = None
    slices: list[dict[str, Any]] = field(default_factory=list)
    confident_errors: list[dict[str, Any]] = field(default_factory=list)
    #: {"permutation": [{feature, mean, std}], "shap": {method, features: [{feature, mean_abs}], note}}
    importance: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> list[str]:
        """The key metrics with their intervals and baseline, one line each, the spec's metric first."""
        lines = []
        for name, value in self.metrics.items():
            if value is None:
                lines.append(f"{name}: n/a")
                continue
            ci = self.intervals.get(name)
            base = self.baseline.get(name)
            lines.append(f"{name}: {value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
                         + ("" if base is None else f" (baseline {base:.4f})"))
        return lines


def _resample_count(requested: int, rows: int) -> int:
    return 0 if rows == 0 else min(requested, max(BOOTSTRAP_CELLS // rows, 0))


def evaluate_predictions(
    task: str,
    y_true: np.ndarray,
    *,
    metric: str,
    classes: list[Any] | None = None,
    proba: np.ndarray | None = None,
    y_pred: np.ndarray | None = None,
    threshold: float | None = None,
    costs: tuple[float, float] | None = None,
    prior: list[float] | float | None = None,
    weights: np.ndarray | None = None,
) -> EvaluationResult:
    """``y_true`` and ``y_pred`` are encoded labels (0..k-1) for classifiers, values for regression.

    ``prior`` (class shares in ``classes`` order, or the training mean) gives the dummy baseline;
    ``weights`` (``stats.bootstrap_counts``) the metrics' 95% intervals.
    """
    names = report_metrics_for(task, metric)
    result = EvaluationResult(task=task, metric=metric, rows=int(len(y_true)), metrics={}, classes=list(classes or []))
    if weights is not None:
        result.resamples = int(len(weights))
    if task == "regression":
        assert y_pred is not None
        y_pred = np.asarray(y_pred, dtype="float64")
        result.metrics = compute_metrics(task, y_true, y_pred=y_pred, metrics=names)
        if "mape" in names and result.metrics.get("mape") is None and (np.asarray(y_true) == 0).any():
            zeros = int((np.asarray(y_true) == 0).sum())
            result.notes.append(f"MAPE is undefined: {zeros} test rows have a true value of 0 (a relative error of "
                                "0 is infinite); use MAE or RMSE")
        if prior is not None:
            base = np.full(len(y_true), float(prior))  # type: ignore[arg-type]
            result.baseline = compute_metrics(task, y_true, y_pred=base, metrics=names)
        keep = np.sort(np.random.default_rng(0).choice(len(y_true), min(len(y_true), PLOT_POINTS), replace=False))
        result.predictions = {"actual": np.asarray(y_true, dtype="float64")[keep].tolist(),
                              "predicted": y_pred[keep].tolist()}
        _intervals(result, names, y_true, weights, y_pred=y_pred)
        return result
    assert proba is not None
    if y_pred is None:
        if task == "binary" and threshold is not None:
            y_pred = (proba[:, 1] >= threshold).astype(int)
        else:
            y_pred = proba.argmax(axis=1)
    result.threshold = threshold
    result.metrics = compute_metrics(task, y_true, proba=proba, y_pred=y_pred, metrics=names)
    k = proba.shape[1]
    result.confusion_matrix = skm.confusion_matrix(y_true, y_pred, labels=list(range(k))).tolist()
    if prior is not None:
        shares = np.asarray(prior, dtype="float64")
        constant = np.tile(shares, (len(y_true), 1))
        # DummyClassifier(strategy="prior"): the class shares as probabilities, the majority as the answer
        result.baseline = compute_metrics(task, y_true, proba=constant, y_pred=np.full(len(y_true), shares.argmax()),
                                          metrics=names)
    if task == "binary" and len(np.unique(y_true)) == 2:
        fpr, tpr, _ = skm.roc_curve(y_true, proba[:, 1])
        result.roc_curve = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
        precision, recall, _ = skm.precision_recall_curve(y_true, proba[:, 1])
        result.pr_curve = {"precision": precision.tolist(), "recall": recall.tolist()}
        result.calibration = _calibration(np.asarray(y_true) == 1, proba[:, 1], "positive class")
    elif task == "multiclass":
        # top-label calibration: is the model right as often as the probability it gives its answer says?
        result.calibration = _calibration(np.asarray(y_pred) == np.asarray(y_true), proba.max(axis=1), "top class")
    if task == "binary" and costs is not None:  # mistakes cost the same whether or not both classes showed up
        result.cost = expected_cost(y_true, y_pred, *costs)
    _intervals(result, names, y_true, weights, proba=proba, y_pred=y_pred)
    return result


def _calibration(hit: np.ndarray, p: np.ndarray, of: str, bins: int = 10) -> dict[str, Any] | None:
    """Observed share of ``hit`` against the mean predicted ``p``, per bin of equal width (empty bins left
    out), with each bin's rows; None when ``hit`` is all one value."""
    from sklearn.calibration import calibration_curve

    if len(np.unique(hit)) < 2:
        return None
    observed, predicted = calibration_curve(hit.astype(int), p, n_bins=bins, strategy="uniform")
    # the bins as calibration_curve draws them (np.searchsorted on the inner edges), for the row counts
    rows = np.bincount(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p), minlength=bins)
    return {"of": of, "predicted": predicted.tolist(), "observed": observed.tolist(),
            "rows": rows[rows > 0].tolist()}


def _intervals(result: EvaluationResult, names: list[str], y: np.ndarray, weights: np.ndarray | None,
               **predicted: Any) -> None:
    if weights is None or not len(weights):
        return
    draws = resampled_metrics(result.task, names, y, weights, **predicted)
    for name in names:
        ci = percentile_interval(draws[name]) if name in draws and result.metrics.get(name) is not None else None
        result.intervals[name] = None if ci is None else list(ci)


def _slice_names(task: str, metric: str) -> list[str]:
    extra = {"binary": ["accuracy", "recall", "precision"], "multiclass": ["accuracy", "f1_macro"],
             "regression": ["mae"]}[task]
    return [metric] + [m for m in extra if m != metric]


def evaluate_bundle(bundle: ModelBundle, df: pd.DataFrame, spec: Spec, *, source: str = "labelled rows",
                    explain: bool = True) -> EvaluationResult:
    """The whole evaluation of ``bundle`` on labelled rows ``df`` (the spec's target column) under the spec's
    ``evaluation`` section: metrics with intervals and baseline, curves, the decision, slices, confident
    errors and, with ``explain``, permutation importance and SHAP values."""
    from tabloop.data import check_frame, encode_target
    from tabloop.errors import DataError

    settings = spec.evaluation
    target = spec.data.target
    if target not in df.columns:
        raise DataError(f"{source}: no target column {target!r}", hint="evaluation needs labelled rows")
    missing = [c for c in settings.slices if c not in df.columns]
    if missing:
        raise DataError(f"evaluation.slices names {missing}, which {source} does not have (columns: "
                        f"{[str(c) for c in df.columns]})", hint="name columns of the training table in "
                        "evaluation.slices, or remove them")
    df = df[df[target].notna()].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{source}: no row has a value in the target column {target!r}",
                        hint="evaluation needs labelled rows")
    y = encode_target(df[target], bundle.classes)
    X = check_frame(df.drop(columns=[target]), bundle.contract, source=source)
    preds = bundle.predict(X, source=source, checked=True)
    resamples = _resample_count(settings.bootstrap_resamples, len(df))
    weights = bootstrap_counts(len(df), resamples, seed=spec.seed) if resamples else None
    prior = bundle.prior
    task, metric = bundle.task, spec.resolved_metric
    if task == "regression":
        y_pred = np.asarray(preds.labels, dtype="float64")
        result = evaluate_predictions(task, y, metric=metric, y_pred=y_pred, weights=weights,
                                      prior=None if prior is None else float(prior["prediction"]))
        proba = None
    else:
        lookup = {str(c): i for i, c in enumerate(bundle.classes)}
        y_pred = np.array([lookup[str(p)] for p in preds.labels])
        proba = np.asarray(preds.proba, dtype="float64")
        costs = (spec.costs.false_positive, spec.costs.false_negative)
        result = evaluate_predictions(task, y, metric=metric, classes=bundle.classes, proba=proba, y_pred=y_pred,
                                      threshold=bundle.threshold, costs=costs, weights=weights,
                                      prior=None if prior is None else prior.get("probabilities"))
        if task == "binary":
            cut, rule, notes = choose_threshold(y, proba[:, 1], costs=costs, target_recall=settings.target_recall,
                                                target_precision=settings.target_precision)
            served = bundle.threshold
            if served is not None and abs(served - cut) > 1e-9:
                notes.append(f"the registered model predicts at threshold {served:.3g} (the costs when it was "
                             f"trained); the metrics above are at that threshold")
            result.decision = decide(y, proba[:, 1], cut, rule=rule, daily_volume=settings.daily_volume,
                                     weights=weights, served_threshold=served, notes=notes).to_dict()
    if resamples < settings.bootstrap_resamples:
        result.notes.append(f"intervals from {resamples} bootstrap resamples, not {settings.bootstrap_resamples}: "
                            f"{len(df):,} rows x resamples is capped at {BOOTSTRAP_CELLS:,}")
    w = weights if weights is not None else np.zeros((0, len(df)))
    names = _slice_names(task, metric)
    for column in settings.slices:
        result.slices.append(slice_metrics(task, column, df[column], y, metric=metric, names=names,
                                           overall=result.metrics, weights=w, proba=proba, y_pred=y_pred))
    result.confident_errors = confident_errors(task, df.drop(columns=[target]), y, count=settings.confident_errors,
                                               classes=bundle.classes, proba=proba, y_pred=y_pred)
    if explain and len(df):
        result.importance = {
            "permutation": permutation_ranking(bundle.pipeline, X, y, metric=metric, seed=spec.seed),
            "shap": shap_ranking(bundle.pipeline, X, seed=spec.seed),
        }
    return result


def evaluation_report(result: EvaluationResult, *, title: str, subtitle: str = "") -> Report:
    """The HTML + JSON report of ``result``, drawn by the report layer (``tabloop.report``)."""
    return draw_evaluation_report(result.to_dict(), title=title, subtitle=subtitle)
