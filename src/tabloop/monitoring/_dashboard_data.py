"""The live dashboard's numbers: the monitoring report's timelines, plus what the model answered per window.

``tabloop serve`` draws ``/dashboard`` from ``dashboard_data``; the drift and
performance parts are the very ``DriftTimeline`` and ``PerformanceTimeline`` that
``tabloop monitor`` puts in its JSON, so the page and the report cannot disagree.
``outputs_over_time`` adds the one figure the report leaves to its histograms: how
the model's answers move (positive rate and mean probability, the mean prediction,
or each class's share), window by window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabloop._plain import plain
from tabloop.monitoring._performance import PerformanceTimeline
from tabloop.monitoring._timeline import DriftTimeline
from tabloop.monitoring._windows import Window

__all__ = ["OutputsTimeline", "dashboard_data", "outputs_over_time", "top_drift_features"]

#: classes drawn one line each for a multiclass model; more lines would be unreadable
MAX_CLASS_SERIES = 10


@dataclass
class OutputsTimeline:
    """Per window: summaries of the logged answers, one list per series, aligned with ``windows``."""

    task: str
    windows: list[dict[str, Any]]  # index, label, start, end, rows
    series: dict[str, list[float | None]]
    #: the same summary on the reference sample, where it can be had (None otherwise)
    reference: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return plain({"task": self.task, "windows": self.windows, "series": self.series,
                          "reference": self.reference})


def outputs_over_time(
    log: pd.DataFrame,
    windows: list[Window],
    *,
    task: str,
    classes: list[Any],
    reference_signal: np.ndarray | pd.Series | None = None,
) -> OutputsTimeline:
    """What the model answered in each window of ``log`` (the prediction log's columns, rows by position).

    Binary: ``positive_rate`` (share predicted as the last class) and ``mean_probability``
    (mean probability of that class). Regression: ``mean_prediction``. Multiclass: one
    ``share:<class>`` per class (the first ``MAX_CLASS_SERIES``). ``reference_signal`` is
    the model's output on its reference sample (positive-class probability for binary,
    the prediction otherwise) and gives the reference line of the matching series.
    """
    log = log.reset_index(drop=True)
    n = len(log)
    predictions = log["prediction"] if "prediction" in log.columns else pd.Series([None] * n, dtype=object)
    reference: dict[str, float | None] = {}
    series: dict[str, list[float | None]] = {}
    if task == "binary":
        positive = str(classes[-1])
        hit = np.array([str(v) == positive if v is not None else False for v in predictions], dtype=bool)
        answered = predictions.notna().to_numpy()
        proba = positive_probability(log, positive)
        series["positive_rate"] = [_share(hit[w.positions], answered[w.positions]) for w in windows]
        series["mean_probability"] = [_mean(proba[w.positions]) for w in windows]
        reference = {"positive_rate": None, "mean_probability": _mean(_floats(reference_signal))}
    elif task == "regression":
        values = pd.to_numeric(predictions, errors="coerce").to_numpy(dtype="float64")
        series["mean_prediction"] = [_mean(values[w.positions]) for w in windows]
        reference = {"mean_prediction": _mean(_floats(reference_signal))}
    else:
        text = np.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                         for v in predictions], dtype=object)
        answered = np.array([v is not None for v in text], dtype=bool)
        ref_text = None if reference_signal is None else np.array([str(v) for v in reference_signal], dtype=object)
        for c in classes[:MAX_CLASS_SERIES]:
            name = f"share:{c}"
            hit = text == str(c)
            series[name] = [_share(hit[w.positions], answered[w.positions]) for w in windows]
            reference[name] = None if ref_text is None or not ref_text.size else float((ref_text == str(c)).mean())
    meta = [{"index": w.index, "label": w.label, "start": w.start, "end": w.end, "rows": w.rows} for w in windows]
    return OutputsTimeline(task=task, windows=meta, series=series, reference=reference)


def top_drift_features(timeline: DriftTimeline, n: int, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The ``n`` columns that came nearest to (or went furthest past) their drift threshold in any window.

    Ranked by the largest effect / threshold ratio over the windows, ties by name, so
    the page shows the features worth a look rather than the first ones in the contract.
    """
    def peak(col: str) -> float:
        threshold = timeline.thresholds.get(col) or math.nan
        values = [v for v in timeline.values.get(col, []) if v is not None and math.isfinite(v)]
        if not values:
            return -math.inf
        best = max(values)
        return best / threshold if threshold > 0 else best

    columns = [c for c in timeline.values if c not in exclude]
    return sorted(columns, key=lambda c: (-peak(c), c))[: max(n, 0)]


def dashboard_data(
    timeline: DriftTimeline | None,
    performance: PerformanceTimeline | None,
    outputs: OutputsTimeline | None,
    *,
    top: int = 6,
    prediction_column: str | None = None,
) -> dict[str, Any]:
    """The JSON the dashboard draws: ``timeline`` and ``performance`` exactly as the monitoring report holds them.

    ``top_features`` names the drift panels worth drawing (``top_drift_features``);
    ``prediction_column`` is the drift timeline's entry for the model's output, kept apart.
    """
    out: dict[str, Any] = {
        "timeline": None if timeline is None else timeline.to_dict(),
        "performance": None if performance is None else performance.to_dict(),
        "outputs": None if outputs is None else outputs.to_dict(),
        "top_features": [],
        "prediction_column": None,
    }
    if timeline is not None:
        exclude = (prediction_column,) if prediction_column else ()
        out["top_features"] = top_drift_features(timeline, top, exclude=exclude)
        if prediction_column and prediction_column in timeline.values:
            out["prediction_column"] = prediction_column
    return out


def positive_probability(log: pd.DataFrame, positive: str) -> np.ndarray:
    """Each logged row's probability of ``positive`` (NaN where the row has none)."""
    if "probabilities" not in log.columns:
        return np.full(len(log), np.nan)
    return np.array([float(p.get(positive, np.nan)) if isinstance(p, dict) else np.nan for p in log["probabilities"]],
                    dtype="float64")


def _floats(values: np.ndarray | pd.Series | None) -> np.ndarray:
    if values is None:
        return np.array([], dtype="float64")
    return pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype="float64")


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _share(hit: np.ndarray, answered: np.ndarray) -> float | None:
    # rows without an answer (a failed request) are left out of the denominator, not counted as misses
    total = int(answered.sum())
    return float((hit & answered).sum() / total) if total else None
