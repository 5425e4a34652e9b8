"""Performance over time: realized where labels came back, estimated where they have not.

Labels arrive late and partially, so each window reports how many of its rows are
labelled and computes the realized metrics only on those. For classifiers the
window's performance is also *estimated* from the model's own probabilities
(confidence-based performance estimation, CBPE): if the probabilities are
calibrated, a row predicted as class k is right with probability p_k, so the
expected accuracy is the mean of those, and the expected ROC curve counts each
row as p positive and 1 - p negative. Probabilities are calibrated first on the
reference sample (isotonic regression against its known target) when it has one.
Where both exist, ``estimate_error`` is the estimate on the labelled rows minus
the realized value on the same rows: how far the estimator was from the truth.

Operational figures come from the log itself: volume, latency percentiles and
error rate, per window and per model version and variant. The error rate is
refused requests over all requests: the log's error records (one per request the
server answered with an error) over those plus the requests it answered (a request's
row 0; shadow copies and batch scoring are not requests of the server). Latency
percentiles are the answered rows'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop.data import is_missing
from tabloop.evaluation import compute_metrics, greater_is_better, metrics_for
from tabloop._plain import plain
from tabloop.monitoring._label_selection import (
    decided_labelled_rows,
    holdout_rows,
    label_selection_warning,
    labelled_mask,
    shadow_mask,
)
from tabloop.monitoring._windows import Window, split_windows
from tabloop.spec import PerformanceSpec, TimelineSpec

__all__ = [
    "Calibration",
    "GroupOps",
    "HoldoutPerformance",
    "PerformanceTimeline",
    "WindowPerformance",
    "estimate_performance",
    "expected_roc_auc",
    "fit_calibration",
    "performance_over_time",
]

#: the metrics CBPE can estimate, by task
ESTIMABLE: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("roc_auc_ovr", "accuracy"),
    "regression": (),
}
LATENCY_PERCENTILES = (50, 90, 99)


@dataclass
class Calibration:
    """Isotonic maps from the model's probability of each class to the observed frequency."""

    maps: list[Any]  # one fitted IsotonicRegression per class (binary: one, for the positive class)
    rows: int

    def transform(self, proba: np.ndarray) -> np.ndarray:
        proba = np.asarray(proba, dtype="float64")
        if proba.shape[1] == 2 and len(self.maps) == 1:
            p1 = np.clip(self.maps[0].predict(proba[:, 1]), 0.0, 1.0)
            return np.column_stack([1.0 - p1, p1])
        out = np.column_stack([np.clip(m.predict(proba[:, k]), 0.0, 1.0) for k, m in enumerate(self.maps)])
        total = out.sum(axis=1, keepdims=True)
        # a row every map sends to 0 keeps the model's own probabilities
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), proba)


def fit_calibration(proba: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic calibration of ``proba`` (n, k) against encoded labels ``y`` (0..k-1)."""
    from sklearn.isotonic import IsotonicRegression

    proba = np.asarray(proba, dtype="float64")
    y = np.asarray(y)
    columns = [1] if proba.shape[1] == 2 else list(range(proba.shape[1]))
    maps = []
    for k in columns:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(proba[:, k], (y == k).astype("float64"))
        maps.append(iso)
    return Calibration(maps=maps, rows=int(len(y)))


def expected_roc_auc(score: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC expected when row i is positive with probability ``p[i]``, ranked by ``score``.

    Rows are taken in descending score; each adds p to the expected true positives
    and 1 - p to the expected false positives; tied scores move together.
    """
    score = np.asarray(score, dtype="float64")
    p = np.asarray(p, dtype="float64")
    pos, neg = float(p.sum()), float((1.0 - p).sum())
    if score.size == 0 or pos <= 0 or neg <= 0:
        return None
    order = np.argsort(-score, kind="stable")
    s, q = score[order], p[order]
    tp, fp = np.cumsum(q), np.cumsum(1.0 - q)
    ends = np.append(np.flatnonzero(s[1:] != s[:-1]), s.size - 1)
    tpr = np.concatenate([[0.0], tp[ends] / pos])
    fpr = np.concatenate([[0.0], fp[ends] / neg])
    return float(np.trapezoid(tpr, fpr))


def estimate_performance(
    task: str, proba: np.ndarray, predicted: np.ndarray, *, score: np.ndarray | None = None
) -> dict[str, float | None]:
    """CBPE: expected metrics from calibrated ``proba`` (n, k) and the predicted class indices.

    ``score`` is what the model ranks by (its raw probabilities); ``proba`` is calibrated.
    """
    if task == "regression" or len(predicted) == 0:
        return {m: None for m in ESTIMABLE.get(task, ())}
    proba = np.asarray(proba, dtype="float64")
    raw = proba if score is None else np.asarray(score, dtype="float64")
    predicted = np.asarray(predicted, dtype=np.int64)
    out: dict[str, float | None] = {}
    if task == "binary":
        out["roc_auc"] = expected_roc_auc(raw[:, 1], proba[:, 1])
    else:
        aucs = [expected_roc_auc(raw[:, k], proba[:, k]) for k in range(proba.shape[1])]
        known = [a for a in aucs if a is not None]
        out["roc_auc_ovr"] = float(np.mean(known)) if len(known) == len(aucs) and known else None
    out["accuracy"] = float(proba[np.arange(len(predicted)), predicted].mean())
    return out


@dataclass
class WindowPerformance:
    index: int
    label: str
    start: str | None
    end: str | None
    rows: int
    labelled: int
    realized: dict[str, float | None]
    estimated: dict[str, float | None]
    #: estimate on the labelled rows minus the realized value on them
    estimate_error: dict[str, float | None]
    latency_ms: dict[str, float | None]
    #: requests the server answered or refused in this window (None: no error records were given)
    requests: int | None
    #: of those, refused (error records)
    errors: int | None
    #: errors / requests
    error_rate: float | None
    note: str | None = None


@dataclass
class GroupOps:
    """Figures for one (model version, variant) over the whole log."""

    version: str | None
    variant: str | None
    rows: int
    labelled: int
    latency_ms: dict[str, float | None]
    requests: int | None
    errors: int | None
    error_rate: float | None
    realized: float | None
    estimated: float | None


@dataclass
class HoldoutPerformance:
    """The model's own predictions on feedback-holdout rows, beside those on rows it decided.

    Holdout rows were answered with the training prior, so their labels do not depend
    on the model: ``realized`` there is free of the selection that ``decided_realized`` may carry.
    """

    rows: int
    labelled: int
    realized: dict[str, float | None]
    decided_labelled: int
    decided_realized: dict[str, float | None]
    note: str | None = None


@dataclass
class PerformanceTimeline:
    task: str
    metric: str
    greater_is_better: bool
    window_by: str
    calibrated: bool
    calibration_rows: int
    threshold: float | None
    windows: list[WindowPerformance]
    groups: list[GroupOps]
    estimable: list[str] = field(default_factory=list)
    #: labels came back only for some predicted classes (see ``label_selection_warning``)
    label_bias: str | None = None
    #: present when the log holds feedback-holdout rows
    holdout: HoldoutPerformance | None = None

    @property
    def latest(self) -> tuple[str, float] | None:
        """The newest window's value of the spec's metric: ("realized" | "estimated", value)."""
        for w in reversed(self.windows):
            realized = w.realized.get(self.metric)
            if realized is not None:
                return "realized", realized
            estimated = w.estimated.get(self.metric)
            if estimated is not None:
                return "estimated", estimated
        return None

    @property
    def below_threshold(self) -> str | None:
        """Why the policy says act on performance, or None."""
        if self.threshold is None or self.latest is None:
            return None
        kind, value = self.latest
        worse = value < self.threshold if self.greater_is_better else value > self.threshold
        if not worse:
            return None
        word = "below" if self.greater_is_better else "above"
        return f"{kind} {self.metric} {value:.4f} on the newest window is {word} the threshold {self.threshold}"

    @property
    def labelled(self) -> int:
        return sum(w.labelled for w in self.windows)

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.windows)

    @property
    def requests(self) -> int | None:
        """Requests answered or refused over the windows; None when the windows carry no error figures."""
        return _total([w.requests for w in self.windows])

    @property
    def errors(self) -> int | None:
        return _total([w.errors for w in self.windows])

    @property
    def error_rate(self) -> float | None:
        requests, errors = self.requests, self.errors
        return None if not requests or errors is None else errors / requests

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latest"] = None if self.latest is None else {"kind": self.latest[0], "value": self.latest[1]}
        out["below_threshold"] = self.below_threshold
        out["labelled"], out["rows"] = self.labelled, self.rows
        out["requests"], out["errors"], out["error_rate"] = self.requests, self.errors, self.error_rate
        return plain(out)


def performance_over_time(
    log: pd.DataFrame,
    *,
    task: str,
    classes: list[Any],
    metric: str,
    timeline: TimelineSpec,
    performance: PerformanceSpec,
    calibration: Calibration | None = None,
    windows: list[Window] | None = None,
    errors: pd.DataFrame | None = None,
) -> PerformanceTimeline:
    """Per-window realized, estimated and operational figures over a prediction log.

    ``log`` has the prediction log's columns (``ts``, ``version``, ``variant``,
    ``prediction``, ``probabilities``, ``latency_ms``) and a ``label`` column that is
    missing where no feedback joined: answered rows only. ``errors`` are the log's error
    records (``ts``, ``version``, ``variant``); without them no error rate is reported.
    ``windows``, when given, must come from ``split_windows`` over the same ``log`` and ``errors``.
    """
    windows = split_windows(log, timeline, errors) if windows is None else windows
    log = log.reset_index(drop=True)
    errors = None if errors is None else errors.reset_index(drop=True)
    answered = _answered_requests(log)
    labelled = labelled_mask(log)
    # a window judges what the server answered: a shadow copy repeats its request's inputs and label
    # with the challenger's output (the groups, per variant, still show the challenger's own figures)
    decided = ~shadow_mask(log)
    proba_raw, predicted = _outputs(log, task, classes)
    proba = calibration.transform(proba_raw) if calibration is not None and proba_raw is not None else proba_raw
    names = metrics_for(task, metric)
    estimable = [m for m in ESTIMABLE[task]]
    out_windows = []
    for w in windows:
        pos = w.positions[decided[w.positions]]
        lab = pos[labelled[pos]]
        realized: dict[str, float | None] = {m: None for m in names}
        estimated: dict[str, float | None] = {m: None for m in estimable}
        error: dict[str, float | None] = {m: None for m in estimable}
        note = None
        if proba is not None and predicted is not None and pos.size:
            estimated = estimate_performance(task, proba[pos], predicted[pos], score=proba_raw[pos])
        if lab.size >= performance.min_labels:
            realized = _realized(log, lab, task, classes, names, proba_raw, predicted)
            if proba is not None and predicted is not None:
                on_labelled = estimate_performance(task, proba[lab], predicted[lab], score=proba_raw[lab])
                error = {m: _diff(on_labelled.get(m), realized.get(m)) for m in estimable}
        elif lab.size:
            note = f"{lab.size} labelled rows: fewer than {performance.min_labels}, too few to judge"
        requests, refused, rate = _error_figures(answered, pos, w.errors)
        out_windows.append(WindowPerformance(
            index=w.index, label=w.label, start=w.start, end=w.end, rows=w.rows, labelled=int(lab.size),
            realized=realized, estimated=estimated, estimate_error=error, latency_ms=_latency(log, pos),
            requests=requests, errors=refused, error_rate=rate, note=note,
        ))
    return PerformanceTimeline(
        task=task, metric=metric, greater_is_better=greater_is_better(metric), window_by=timeline.by,
        calibrated=calibration is not None, calibration_rows=calibration.rows if calibration is not None else 0,
        threshold=performance.threshold, windows=out_windows,
        groups=_groups(log, errors, task, classes, metric, labelled, proba_raw, proba, predicted, performance),
        estimable=estimable,
        label_bias=label_selection_warning(log, task),
        holdout=_holdout(log, task, classes, names, proba_raw, predicted, performance),
    )


def _holdout(
    log: pd.DataFrame, task: str, classes: list[Any], names: list[str], proba: np.ndarray | None,
    predicted: np.ndarray | None, performance: PerformanceSpec,
) -> HoldoutPerformance | None:
    held, held_labelled = holdout_rows(log)
    if not held.size:
        return None
    decided = decided_labelled_rows(log)
    empty: dict[str, float | None] = {m: None for m in names}
    enough = performance.min_labels
    realized = _realized(log, held_labelled, task, classes, names, proba, predicted) \
        if held_labelled.size >= enough else empty
    decided_realized = _realized(log, decided, task, classes, names, proba, predicted) \
        if decided.size >= enough else dict(empty)
    note = None
    if held_labelled.size < enough:
        note = (f"{held_labelled.size} of {held.size} holdout rows are labelled: fewer than {enough} "
                "(monitoring.performance.min_labels), too few to judge")
    return HoldoutPerformance(rows=int(held.size), labelled=int(held_labelled.size), realized=realized,
                              decided_labelled=int(decided.size), decided_realized=decided_realized, note=note)


def _total(counts: list[int | None]) -> int | None:
    """The sum, or None when there is nothing to add or any count is unknown."""
    known = [c for c in counts if c is not None]
    return sum(known) if counts and len(known) == len(counts) else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _outputs(log: pd.DataFrame, task: str, classes: list[Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Probabilities (n, k) in ``classes`` order and predicted class indices, for classifiers."""
    if task == "regression" or not len(log) or "probabilities" not in log.columns:
        return None, None
    keys = [str(c) for c in classes]
    lookup = {k: i for i, k in enumerate(keys)}
    proba = np.full((len(log), len(keys)), np.nan)
    for i, p in enumerate(log["probabilities"]):
        if isinstance(p, dict):
            proba[i] = [float(p.get(k, np.nan)) for k in keys]
    predicted = np.array([lookup.get(str(v), -1) for v in log["prediction"]], dtype=np.int64)
    bad = np.isnan(proba).any(axis=1) | (predicted < 0)
    if bad.any():
        # rows without usable outputs (a failed request, an older log format) get the argmax or nothing
        proba[bad] = 1.0 / len(keys)
        predicted[bad] = 0
    return proba, predicted


def _realized(
    log: pd.DataFrame, rows: np.ndarray, task: str, classes: list[Any], names: list[str],
    proba: np.ndarray | None, predicted: np.ndarray | None,
) -> dict[str, float | None]:
    labels = log["label"].to_numpy()[rows]
    if task == "regression":
        y = np.asarray(labels, dtype="float64")
        y_pred = pd.to_numeric(log["prediction"], errors="coerce").to_numpy(dtype="float64")[rows]
        return compute_metrics(task, y, y_pred=y_pred, metrics=names)
    lookup = {str(c): i for i, c in enumerate(classes)}
    y = np.array([lookup.get(str(v), -1) for v in labels], dtype=np.int64)
    ok = y >= 0
    assert proba is not None and predicted is not None
    return compute_metrics(task, y[ok], proba=proba[rows][ok], y_pred=predicted[rows][ok], metrics=names)


def _latency(log: pd.DataFrame, rows: np.ndarray) -> dict[str, float | None]:
    keys = [f"p{q}" for q in LATENCY_PERCENTILES]
    if "latency_ms" not in log.columns or not rows.size:
        return dict.fromkeys(keys)
    values = pd.to_numeric(log["latency_ms"].iloc[rows], errors="coerce").to_numpy(dtype="float64")
    values = values[np.isfinite(values)]
    if not values.size:
        return dict.fromkeys(keys)  # batch scoring logs no latency
    return {k: float(v) for k, v in zip(keys, np.percentile(values, LATENCY_PERCENTILES), strict=True)}


def _answered_requests(log: pd.DataFrame) -> np.ndarray:
    """One true per request the server answered: its row 0, not a shadow copy, not batch scoring."""
    mask = np.ones(len(log), dtype=bool)
    if "row" in log.columns:
        mask &= pd.to_numeric(log["row"], errors="coerce").fillna(0).to_numpy() == 0
    if "source" in log.columns:
        # a shadow copy shares its request with the answer; a batch run refuses nothing into the log
        mask &= ~log["source"].astype(str).isin(["shadow", "batch"]).to_numpy()
    return mask


def _error_figures(
    answered: np.ndarray, rows: np.ndarray, errors: np.ndarray | None
) -> tuple[int | None, int | None, float | None]:
    """Requests (answered + refused), refused, and their ratio; all None when there are no error figures."""
    if errors is None:
        return None, None, None  # no error records were read: no error rate is invented
    refused = int(errors.size)
    requests = int(answered[rows].sum()) + refused
    return requests, refused, (refused / requests if requests else None)


def _by_group(frame: pd.DataFrame | None) -> dict[tuple[str | None, str | None], np.ndarray]:
    """Positions of ``frame`` per (version, variant), missing values as None."""
    if frame is None or not len(frame):
        return {}
    keys = frame.reindex(columns=["version", "variant"]).astype(object)
    out: dict[tuple[str | None, str | None], np.ndarray] = {}
    for (version, variant), pos in keys.groupby(["version", "variant"], dropna=False, sort=False).indices.items():
        key = (None if is_missing(version) else str(version), None if is_missing(variant) else str(variant))
        # "1" and 1 are one version
        out[key] = np.sort(np.concatenate([out[key], pos])) if key in out else np.asarray(pos, dtype=np.int64)
    return out


def _groups(
    log: pd.DataFrame, errors: pd.DataFrame | None, task: str, classes: list[Any], metric: str, labelled: np.ndarray,
    proba_raw: np.ndarray | None, proba: np.ndarray | None, predicted: np.ndarray | None,
    performance: PerformanceSpec,
) -> list[GroupOps]:
    rows_by, errors_by = _by_group(log), _by_group(errors)
    answered = _answered_requests(log)
    none = np.array([], dtype=np.int64)
    # requests refused before any model was chosen have no version nor variant: a (None, None) group of their own
    keys = sorted(set(rows_by) | set(errors_by), key=lambda k: (k[0] is None, k[0] or "", k[1] is None, k[1] or ""))
    out = []
    for version, variant in keys:
        pos = rows_by.get((version, variant), none)
        lab = pos[labelled[pos]]
        realized = estimated = None
        if lab.size >= performance.min_labels:
            realized = _realized(log, lab, task, classes, [metric], proba_raw, predicted).get(metric)
        if proba is not None and predicted is not None and metric in ESTIMABLE[task] and pos.size:
            estimated = estimate_performance(task, proba[pos], predicted[pos], score=proba_raw[pos]).get(metric)
        err = None if errors is None else errors_by.get((version, variant), none)
        requests, refused, rate = _error_figures(answered, pos, err)
        out.append(GroupOps(
            version=version, variant=variant, rows=int(pos.size), labelled=int(lab.size),
            latency_ms=_latency(log, pos), requests=requests, errors=refused, error_rate=rate,
            realized=realized, estimated=estimated,
        ))
    return out


