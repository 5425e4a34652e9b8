"""The shadow comparison: the challenger's answers beside the champion's, on the same request rows.

In shadow mode (``serving.rollout.mode: shadow``) the champion answers every request and the
challenger scores a copy after the answer has gone out; both are logged under the request's id
and row index (the copy with ``source: shadow``). Pairing the two by ``(request_id, row)`` gives,
over the logged window:

- how many rows were compared, and how often the two agree: the same class (each model's class at
  its own decision threshold, as it answered) or, for regression, values within a tolerance
  (``monitoring.shadow.tolerance``, by default a tenth of the standard deviation of the champion's
  answers on the compared rows);
- the distribution of the differences, challenger minus champion: the positive class's probability
  (binary), the largest change of any class's probability (multiclass, never negative), or the
  value (regression): mean, mean absolute, quantiles and a histogram;
- once feedback labels come back for those rows (joined by request id and row), the spec's metric of
  each on the labelled pairs and the one paired test (``monitoring/_paired.py``: DeLong, McNemar or a
  paired bootstrap, as the promotion gate picks) for "the challenger beats the champion by the margin".

Rows answered with the prior (the feedback holdout) pair as well: the log keeps the champion's own
prediction for them, and their labels do not depend on it, so they judge both models fairly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop._plain import plain
from tabloop.monitoring._label_selection import batch_mask, shadow_mask
from tabloop.monitoring._paired import Answers, paired_test
from tabloop.monitoring._performance import _outputs
from tabloop.spec import ShadowSpec

__all__ = ["ShadowComparison", "ShadowPairs", "shadow_comparison", "shadow_pairs"]

NOT_ENOUGH = "not_enough_labels"
BETTER = "challenger_better"
NOT_BETTER = "challenger_not_better"
#: the quantiles of the differences reported
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 10
_KEYS = ["request_id", "row"]


@dataclass
class ShadowPairs:
    """The champion's and the challenger's answers on the same rows, in one order, with the labels that joined."""

    task: str
    classes: list[Any]
    champion_versions: list[str]
    challenger_version: str | None
    #: one row per pair: request_id, row, ts, champion_version, label (missing where none came back)
    frame: pd.DataFrame
    champion: Answers
    challenger: Answers
    #: shadow rows with no champion answer to the same inputs under their request id and row in the window (its
    #: answer fell out of the window, or a client reused a request id)
    unpaired: int = 0
    #: answered rows since the challenger's first shadow copy that have no copy: dropped under the shadow
    #: backlog, refused by the challenger's contract, failed, or still being scored
    unshadowed: int = 0

    @property
    def rows(self) -> int:
        return len(self.frame)

    def labelled(self) -> tuple[np.ndarray, Answers, Answers]:
        """The encoded labels of the labelled pairs and both models' answers on them (labels of no known class
        are left out)."""
        labels = self.frame["label"] if "label" in self.frame.columns else pd.Series([None] * self.rows, dtype=object)
        has = labels.notna().to_numpy()
        if self.task == "regression":
            y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype="float64")
            keep = has & np.isfinite(y)
        else:
            lookup = {str(c): i for i, c in enumerate(self.classes)}
            y = np.array([lookup.get(str(v), -1) if ok else -1 for v, ok in zip(labels, has, strict=True)],
                         dtype=np.int64)
            keep = y >= 0
        return y[keep], _subset(self.champion, keep), _subset(self.challenger, keep)


def _subset(answers: Answers, keep: np.ndarray) -> Answers:
    return Answers(answers.labels[keep], None if answers.proba is None else answers.proba[keep])


def shadow_pairs(log: pd.DataFrame, *, task: str, classes: list[Any], challenger: str | None = None,
                 champion: str | None = None) -> ShadowPairs:
    """Pair the shadow copies in ``log`` with the answers that went back for the same ``(request_id, row)``.

    ``log`` has the prediction log's columns and, optionally, ``label``. ``challenger`` picks the
    challenger's version (default: the one that scored the newest shadow row); ``champion`` keeps only
    pairs answered by that version (default: any).
    """
    empty = ShadowPairs(task, list(classes), [], challenger, pd.DataFrame(columns=[*_KEYS, "ts", "champion_version",
                                                                                  "label"]),
                        Answers(np.zeros(0)), Answers(np.zeros(0)))
    if log.empty or "source" not in log.columns:
        return empty
    log = log.reset_index(drop=True)
    shadow = shadow_mask(log)
    copies = log[shadow]
    if challenger is None and len(copies):
        challenger = str(copies["version"].iloc[-1])
    empty.challenger_version = challenger
    if challenger is None:
        return empty
    copies = copies[copies["version"].astype(str) == str(challenger)]
    answered = log[~shadow & ~batch_mask(log)]
    if champion is not None:
        answered = answered[answered["version"].astype(str) == str(champion)]
    copies = _keyed(copies)
    answered = _keyed(answered)
    merged = answered.merge(copies, on=_KEYS, how="inner", suffixes=("", "_shadow"))
    if "inputs" in merged.columns and "inputs_shadow" in merged.columns:
        # a client may send one X-Request-ID twice: a copy pairs only with the answer to the same inputs
        same = [a == b for a, b in zip(merged["inputs"], merged["inputs_shadow"], strict=True)]
        merged = merged[np.asarray(same, dtype=bool)] if len(merged) else merged
    unpaired = len(copies) - len(merged)
    unshadowed = 0
    if "ts" in answered.columns and len(copies):
        since = answered["ts"].astype(str) >= str(copies["ts"].astype(str).min())
        unshadowed = int(since.sum()) - len(merged)
    if merged.empty:
        empty.unpaired, empty.unshadowed = unpaired, max(unshadowed, 0)
        return empty
    label = merged["label"] if "label" in merged.columns else pd.Series([None] * len(merged), dtype=object)
    if "label_shadow" in merged.columns:  # either side carries the label: they share the request's keys
        label = label.where(label.notna(), merged["label_shadow"])
    frame = pd.DataFrame({
        "request_id": merged["request_id"], "row": merged["row"],
        "ts": merged["ts"] if "ts" in merged.columns else None,
        "champion_version": merged["version"].astype(str), "label": label.astype(object),
    })
    champion_side = merged[["prediction", "probabilities"]] if "probabilities" in merged.columns \
        else merged[["prediction"]]
    challenger_side = merged[[c for c in ("prediction_shadow", "probabilities_shadow") if c in merged.columns]]
    challenger_side = challenger_side.rename(columns=lambda c: c.removesuffix("_shadow"))
    return ShadowPairs(task, list(classes), sorted(set(frame["champion_version"])), str(challenger), frame,
                       _answers(champion_side, task, classes), _answers(challenger_side, task, classes),
                       unpaired=unpaired, unshadowed=max(unshadowed, 0))


def _keyed(part: pd.DataFrame) -> pd.DataFrame:
    """One row per (request_id, row), the newest kept, keys in one spelling."""
    part = part.assign(request_id=part["request_id"].map(str),
                       row=pd.to_numeric(part["row"], errors="coerce").fillna(0).astype("int64"))
    return part.drop_duplicates(subset=_KEYS, keep="last")


def _answers(part: pd.DataFrame, task: str, classes: list[Any]) -> Answers:
    if task == "regression":
        return Answers(pd.to_numeric(part["prediction"], errors="coerce").to_numpy(dtype="float64"))
    proba, predicted = _outputs(part.reset_index(drop=True), task, classes)
    if proba is None or predicted is None:  # a log without probabilities: the classes alone
        lookup = {str(c): i for i, c in enumerate(classes)}
        return Answers(np.array([lookup.get(str(v), -1) for v in part["prediction"]], dtype=np.int64))
    return Answers(predicted, proba)


@dataclass
class ShadowComparison:
    task: str
    metric: str
    champion_versions: list[str]
    challenger_version: str | None
    #: pairs compared, and the requests they came from
    rows: int
    requests: int
    #: shadow rows with no champion answer in the window to pair with
    unpaired: int
    #: answered rows since the challenger's first copy that it did not score (see ``ShadowPairs.unshadowed``)
    unshadowed: int
    #: share of pairs that agree (same class, or values within ``tolerance``); None without pairs
    agreement: float | None
    #: what agreeing means here, in words
    agreement_basis: str
    #: regression: the tolerance used; classification: None
    tolerance: float | None
    #: classification: the pairs that disagree, by (champion class, challenger class), most first
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    #: what the differences are of, and their distribution (challenger - champion)
    differences: dict[str, Any] = field(default_factory=dict)
    #: labelled pairs, and the labelled pairs needed before the realized comparison is judged
    labelled: int = 0
    min_labels: int = 0
    #: on the labelled pairs: the metric of each, the paired test, margin and significance
    realized: dict[str, Any] | None = None
    verdict: str = NOT_ENOUGH
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return plain({k: getattr(self, k) for k in self.__dataclass_fields__})


def shadow_comparison(pairs: ShadowPairs, *, metric: str, spec: ShadowSpec | None = None, margin: float = 0.0,
                      significance: float = 0.05, seed: int = 0) -> ShadowComparison:
    """Agreement, the differences and (with labels) the paired test of the challenger against the champion."""
    spec = spec or ShadowSpec()
    a, b, task = pairs.champion, pairs.challenger, pairs.task
    out = ShadowComparison(task=task, metric=metric, champion_versions=list(pairs.champion_versions),
                           challenger_version=pairs.challenger_version, rows=pairs.rows,
                           requests=int(pairs.frame["request_id"].nunique()) if pairs.rows else 0,
                           unpaired=pairs.unpaired, unshadowed=pairs.unshadowed, agreement=None, agreement_basis="", tolerance=None,
                           min_labels=spec.min_labels)
    if task == "regression":
        diff = b.labels - a.labels
        finite = np.isfinite(diff)
        tolerance = spec.tolerance
        if tolerance is None:
            spread = float(np.std(a.labels[np.isfinite(a.labels)])) if finite.any() else 0.0
            tolerance = 0.1 * spread
        out.tolerance = float(tolerance)
        source = "monitoring.shadow.tolerance" if spec.tolerance is not None else \
            "a tenth of the standard deviation of the champion's answers"
        out.agreement_basis = f"values within {tolerance:.4g} of each other ({source})"
        if pairs.rows:
            out.agreement = float(np.mean(np.abs(diff[finite]) <= tolerance + 1e-12)) if finite.any() else None
        out.differences = _distribution(diff[finite], "predicted value")
    else:
        out.agreement_basis = "the same class, each at its own decision threshold"
        if pairs.rows:
            out.agreement = float(np.mean(a.labels == b.labels))
            out.disagreements = _disagreements(a.labels, b.labels, pairs.classes)
        if a.proba is not None and b.proba is not None:
            if task == "binary":
                diff = b.proba[:, 1] - a.proba[:, 1]
                what = f"probability of {pairs.classes[1]!r}"
            else:
                diff = np.abs(b.proba - a.proba).max(axis=1) if pairs.rows else np.zeros(0)
                what = "largest change of any class's probability"
            out.differences = _distribution(diff, what)
    _judge(out, pairs, metric=metric, spec=spec, margin=margin, significance=significance, seed=seed)
    return out


def _judge(out: ShadowComparison, pairs: ShadowPairs, *, metric: str, spec: ShadowSpec, margin: float,
           significance: float, seed: int) -> None:
    y, a, b = pairs.labelled()
    out.labelled = int(y.size)
    if y.size < spec.min_labels:
        out.detail = (f"{y.size} labelled paired rows of {pairs.rows} compared; the realized comparison needs "
                      f"{spec.min_labels} (monitoring.shadow.min_labels)")
        return
    try:
        test = paired_test(pairs.task, metric, y, a, b, margin=margin, seed=seed)
    except ValueError as exc:
        out.detail = f"{metric} cannot be compared on the {y.size} labelled paired rows: {exc}"
        return
    better = test.difference >= margin - 1e-12 and test.difference > 0 and (
        significance >= 1 or test.p_value < significance)
    out.verdict = BETTER if better else NOT_BETTER
    out.realized = {"metric": metric, "champion": test.score_a, "challenger": test.score_b, "gain": test.difference,
                    "margin": margin, "significance": significance, "test": test.to_dict()}
    interval = ""
    if test.ci_low is not None and test.ci_high is not None and math.isfinite(test.ci_low):
        interval = f" (95% interval {test.ci_low:+.4f} to {test.ci_high:+.4f})"
    out.detail = (f"on {y.size} labelled paired rows: challenger {metric} {test.score_b:.4f} vs champion "
                  f"{test.score_a:.4f}, gain {test.difference:+.4f}{interval}, {test.test} one-sided p = "
                  f"{test.p_value:.3g}: " + ("the challenger is better" if better else
                                             f"not better by the margin {margin:g} at significance {significance:g}"))


def _distribution(diff: np.ndarray, what: str) -> dict[str, Any]:
    diff = np.asarray(diff, dtype="float64")
    diff = diff[np.isfinite(diff)]
    if not diff.size:
        return {"of": what, "rows": 0}
    low, high = float(diff.min()), float(diff.max())
    counts, edges = np.histogram(diff, bins=HISTOGRAM_BINS if high > low else 1,
                                 range=(low, high) if high > low else (low - 0.5, high + 0.5))
    return {
        "of": what, "rows": int(diff.size), "mean": float(diff.mean()), "mean_abs": float(np.abs(diff).mean()),
        "min": low, "max": high,
        "quantiles": {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, np.quantile(diff, QUANTILES),
                                                                   strict=True)},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _disagreements(a: np.ndarray, b: np.ndarray, classes: list[Any]) -> list[dict[str, Any]]:
    def name(i: int) -> Any:
        return classes[i] if 0 <= i < len(classes) else None

    differ = a != b
    if not differ.any():
        return []
    pairs = pd.DataFrame({"champion": a[differ], "challenger": b[differ]}).value_counts()
    return [{"champion": name(int(i)), "challenger": name(int(j)), "rows": int(n)} for (i, j), n in pairs.items()]
