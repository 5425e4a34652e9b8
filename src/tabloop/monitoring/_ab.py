"""The A/B summary: did the challenger answer better than the champion, once labels came back?

Only rows a variant *answered* count: shadow rows (scored on a copy, never returned),
feedback-holdout rows (answered with the training prior, not by the variant) and
batch-scored rows (``source: batch``, ``tabloop predict`` on a file: no variant of the
server answered them, and they are not a random share of its traffic) are left out. Per variant: requests, rows, labelled rows, the spec's metric, and the
error figures the test compares.

The test, per task, on the labelled answered rows of each variant:

- classification: the **two-proportion z-test** on the error rate (share of rows whose
  logged prediction is not the label); the p-value uses the pooled standard error
  (the null hypothesis says the rates are equal), the confidence interval for the
  difference is Newcombe's hybrid score interval (from Wilson intervals), which
  agrees with the test's verdict far more often than the Wald interval;
- regression: **Welch's t-test** on the per-row squared error (absolute error when the
  spec's metric is ``mae``), a difference of mean squared (absolute) errors, with the
  Welch-Satterthwaite degrees of freedom for the interval.

The difference is always variant − baseline (challenger − champion): negative means
the challenger makes fewer errors. Below ``min_labels`` labelled rows in either
variant the verdict is ``not_enough_labels``, with the counts. Rows are treated as
independent; when A/B assignment is sticky by a key, rows of one entity are not, and
the interval is somewhat too narrow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.evaluation import metrics_for
from tabloop._plain import plain
from tabloop.monitoring._label_selection import batch_mask, holdout_mask, labelled_mask, shadow_mask
from tabloop.monitoring._performance import _outputs, _realized
from tabloop.spec import ABTestSpec

__all__ = ["ABComparison", "ABSummary", "VariantResult", "ab_summary", "answered_variants"]

BASELINE = "champion"
NOT_ENOUGH = "not_enough_labels"
NO_DIFFERENCE = "no_significant_difference"


@dataclass
class VariantResult:
    variant: str
    versions: list[str]
    requests: int
    rows: int
    labelled: int
    #: the spec's metric, realized on the labelled rows (None below min_labels or when undefined)
    metric: float | None
    #: classification: accuracy and error rate; regression: rmse and mae (on the labelled rows)
    errors: dict[str, float | None] = field(default_factory=dict)


@dataclass
class ABComparison:
    baseline: str
    variant: str
    test: str
    #: what the test compares: "error rate", "mean squared error" or "mean absolute error"
    quantity: str
    baseline_value: float | None
    variant_value: float | None
    #: variant - baseline on ``quantity``; negative: the variant errs less
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_value: float | None
    verdict: str  # not_enough_labels, no_significant_difference, <variant>_better
    better: str | None
    detail: str


@dataclass
class ABSummary:
    task: str
    metric: str
    alpha: float
    min_labels: int
    variants: list[VariantResult]
    comparisons: list[ABComparison]
    #: rows left out: scored on a copy (shadow), answered with the prior (holdout) or scored in batch
    excluded: dict[str, int]

    @property
    def verdict(self) -> str | None:
        return self.comparisons[0].verdict if self.comparisons else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return plain(out)


def _answered(log: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
    """Rows a served variant's answer went back for: no shadow copies, holdout rows or batch-scored rows."""
    shadow, holdout, batch = shadow_mask(log), holdout_mask(log), batch_mask(log)
    return ~shadow & ~holdout & ~batch, {
        "shadow": int(shadow.sum()), "holdout": int((holdout & ~shadow).sum()), "batch": int(batch.sum()),
    }


def answered_variants(log: pd.DataFrame) -> list[str]:
    """The variants that answered rows in ``log``, the champion first."""
    if log.empty or "variant" not in log.columns:
        return []
    answered, _ = _answered(log)
    names = {str(v) for v in log["variant"][answered] if v is not None and not pd.isna(v)}
    return sorted(names, key=lambda v: (v != BASELINE, v))


def ab_summary(
    log: pd.DataFrame, *, task: str, classes: list[Any], metric: str, spec: ABTestSpec | None = None
) -> ABSummary:
    """Per-variant figures and each variant against the champion, over a prediction log with labels.

    ``log`` has the prediction log's columns (``request_id``, ``variant``, ``version``,
    ``source``, ``prediction``, ``probabilities``, optional ``holdout``) and ``label``,
    missing where no feedback joined.
    """
    spec = spec or ABTestSpec()
    log = log.reset_index(drop=True)
    answered, excluded = _answered(log)
    labelled = answered & labelled_mask(log)
    proba, predicted = _outputs(log, task, classes)
    names = metrics_for(task, metric)
    variants = answered_variants(log)
    results: dict[str, VariantResult] = {}
    losses: dict[str, np.ndarray] = {}
    for name in variants:
        in_variant = answered & (log["variant"].astype(str) == name).to_numpy()
        lab = np.flatnonzero(in_variant & labelled)
        loss = _losses(log, lab, task, classes, metric)
        losses[name] = loss
        value = None
        if lab.size >= spec.min_labels:
            value = _realized(log, lab, task, classes, names, proba, predicted).get(metric)
        versions = sorted({str(v) for v in log.loc[in_variant, "version"] if v is not None and not pd.isna(v)}) \
            if "version" in log.columns else []
        results[name] = VariantResult(
            variant=name, versions=versions,
            requests=int(log.loc[in_variant, "request_id"].nunique()) if "request_id" in log.columns else 0,
            rows=int(in_variant.sum()), labelled=int(lab.size), metric=value,
            errors=_error_figures(task, loss if task != "regression" else _losses(log, lab, task, classes, "mae")),
        )
    comparisons = []
    if variants:
        base = variants[0]
        for name in variants[1:]:
            comparisons.append(_compare(base, name, losses[base], losses[name], task, metric, spec))
    return ABSummary(task=task, metric=metric, alpha=spec.alpha, min_labels=spec.min_labels,
                     variants=list(results.values()), comparisons=comparisons, excluded=excluded)


def _losses(log: pd.DataFrame, rows: np.ndarray, task: str, classes: list[Any], metric: str) -> np.ndarray:
    """Per-row loss the test compares: 0/1 error, squared error, or absolute error (``mae``)."""
    if not rows.size:
        return np.zeros(0)
    labels = log["label"].to_numpy()[rows]
    preds = log["prediction"].to_numpy()[rows]
    if task != "regression":
        return np.array([str(p) != str(y) for p, y in zip(preds, labels, strict=True)], dtype="float64")
    y = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype="float64")
    y_hat = pd.to_numeric(pd.Series(preds), errors="coerce").to_numpy(dtype="float64")
    diff = (y - y_hat)[np.isfinite(y) & np.isfinite(y_hat)]
    return np.abs(diff) if metric == "mae" else diff**2


def _error_figures(task: str, loss: np.ndarray) -> dict[str, float | None]:
    """Classification: accuracy and error rate from 0/1 errors; regression: rmse and mae from absolute errors."""
    if not loss.size:
        return {"accuracy": None, "error_rate": None} if task != "regression" else {"rmse": None, "mae": None}
    if task != "regression":
        rate = float(loss.mean())
        return {"accuracy": 1.0 - rate, "error_rate": rate}
    return {"rmse": float(np.sqrt(np.mean(loss**2))), "mae": float(loss.mean())}


def _compare(base: str, name: str, a: np.ndarray, b: np.ndarray, task: str, metric: str,
             spec: ABTestSpec) -> ABComparison:
    from scipy import stats

    classify = task != "regression"
    quantity = "error rate" if classify else ("mean absolute error" if metric == "mae" else "mean squared error")
    test = "two-proportion z-test" if classify else "Welch's t-test"
    confidence = 1.0 - spec.alpha
    va = float(a.mean()) if a.size else None
    vb = float(b.mean()) if b.size else None
    common = dict(baseline=base, variant=name, test=test, quantity=quantity, baseline_value=va, variant_value=vb,
                  confidence=confidence)
    if a.size < spec.min_labels or b.size < spec.min_labels:
        detail = (f"not enough labels: {base} has {a.size}, {name} has {b.size} labelled answered rows; "
                  f"each variant needs {spec.min_labels} (monitoring.ab.min_labels)")
        return ABComparison(**common, difference=None if va is None or vb is None else vb - va,
                            ci_low=None, ci_high=None, p_value=None, verdict=NOT_ENOUGH, better=None, detail=detail)
    assert va is not None and vb is not None
    diff = vb - va
    if classify:
        pooled = (a.sum() + b.sum()) / (a.size + b.size)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / a.size + 1 / b.size))
        p_value = 1.0 if se0 == 0 else float(2 * stats.norm.sf(abs(diff) / se0))
        low, high = _newcombe(a, b, float(stats.norm.ppf(1 - spec.alpha / 2)))
    else:
        if a.var() == 0 and b.var() == 0:  # scipy answers NaN here; the difference is exact
            p_value, low, high = (1.0 if diff == 0 else 0.0), diff, diff
        else:
            welch = stats.ttest_ind(b, a, equal_var=False)  # Welch-Satterthwaite degrees of freedom
            ci = welch.confidence_interval(confidence)
            p_value, low, high = float(welch.pvalue), float(ci.low), float(ci.high)
    figures = (f"{quantity} {base} {va:.4g} vs {name} {vb:.4g} (difference {diff:+.4g}, "
               f"{confidence:.0%} CI [{low:+.4g}, {high:+.4g}], p = {p_value:.3g}, {test}, "
               f"{a.size} and {b.size} labelled rows)")
    if p_value < spec.alpha:
        better = name if diff < 0 else base
        verdict = f"{better}_better"
        detail = f"{better} is better at alpha {spec.alpha:g}: {figures}"
    else:
        better, verdict = None, NO_DIFFERENCE
        detail = f"no significant difference at alpha {spec.alpha:g}: {figures}"
    return ABComparison(**common, difference=diff, ci_low=low, ci_high=high, p_value=p_value, verdict=verdict,
                        better=better, detail=detail)


def _wilson(errors: float, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion: never a point at 0 or 1, unlike the Wald interval."""
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _newcombe(a: np.ndarray, b: np.ndarray, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``mean(b) - mean(a)`` for two 0/1 samples.

    It is built from the same score statistics as the pooled z-test, so it agrees with the
    test's verdict far more often than the Wald interval (which also collapses to a point
    when neither variant made an error).
    """
    pa, pb = float(a.mean()), float(b.mean())
    la, ua = _wilson(float(a.sum()), a.size, z)
    lb, ub = _wilson(float(b.sum()), b.size, z)
    diff = pb - pa
    return diff - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), diff + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
