"""The decision threshold in words a manager can act on: how many cases a day are flagged, how many missed.

The threshold comes from the spec's costs (the Bayes-optimal cut on calibrated probabilities) or,
when ``evaluation.target_recall`` / ``target_precision`` is set, from the test part's own curve.
Its consequences are the test part's rates scaled to ``evaluation.daily_volume``; a target chosen
on the test rows reads those rows' rates at their best, which the decision says.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tabloop.evaluation._metrics import cost_threshold
from tabloop.stats import percentile_interval

__all__ = ["Decision", "choose_threshold", "decide", "threshold_sentence"]

#: without a daily volume, the sentence counts per this many cases
PER_CASES = 1000


@dataclass
class Decision:
    """What happens at ``threshold``: the test part's counts, its rates, and per day (or per 1,000 cases)."""

    threshold: float
    #: costs, target_recall or target_precision
    rule: str
    rows: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    #: share of cases flagged (predicted positive), share of cases that are missed positives
    flagged_share: float
    missed_share: float
    false_negative_rate: float | None
    false_positive_rate: float | None
    precision: float | None
    recall: float | None
    daily_volume: float | None
    #: the cases the counts below are out of: the daily volume, else PER_CASES
    per: float
    flagged: float
    missed: float
    sentence: str
    #: the threshold the registered model predicts with (its costs when it was trained)
    served_threshold: float | None = None
    #: 95% bootstrap intervals of the rates and counts: name -> [low, high]
    intervals: dict[str, list[float] | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: flagged share and both error rates over a grid of thresholds, for the plot
    curve: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    *,
    costs: tuple[float, float],
    target_recall: float | None = None,
    target_precision: float | None = None,
) -> tuple[float, str, list[str]]:
    """``(threshold, rule, notes)`` for positives ``y`` (0/1) scored ``p``.

    target_recall: the highest threshold whose recall on these rows is at least the target (fewest
    flags that still find that share); target_precision: the lowest threshold whose precision is at
    least the target (most cases found at that precision). Else, or when the target cannot be met,
    the cost threshold ``c_fp / (c_fp + c_fn)``.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype="float64")
    fallback = cost_threshold(*costs)
    if target_recall is None and target_precision is None:
        return fallback, "costs", []
    positives = int(y.sum())
    if positives == 0:
        return fallback, "costs", ["the test part has no positive case, so no target can be met: the threshold "
                                   "comes from the costs"]
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # the end of each group of tied scores: a threshold at its score
    tp = np.cumsum(ys)[last]
    flagged = np.flatnonzero(last) + 1
    cuts = ps[last]
    chosen = " (chosen on the test part, whose rates it then shows at their best: confirm them on new labelled rows)"
    if target_recall is not None:
        ok = np.flatnonzero(tp / positives >= target_recall - 1e-12)
        return float(cuts[ok[0]]), "target_recall", [f"the highest threshold that finds {target_recall:.0%} of the "
                                                     f"true cases{chosen}"]
    assert target_precision is not None
    ok = np.flatnonzero(tp / flagged >= target_precision - 1e-12)
    if ok.size == 0:
        return fallback, "costs", [f"no threshold reaches precision {target_precision:.0%} on the test part: the "
                                   "threshold comes from the costs"]
    return float(cuts[ok[-1]]), "target_precision", [f"the lowest threshold whose flagged cases are true "
                                                     f"{target_precision:.0%} of the time{chosen}"]


def _about(count: float) -> str:
    if count == 0:
        return "0"
    if count < 0.5:
        return "fewer than one"
    return f"about {math.floor(count + 0.5):,}"  # half up: 0.5 a day is about 1, not 0


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _cut(threshold: float) -> str:
    return f"{threshold:.2f}" if 0.01 <= threshold <= 0.99 else f"{threshold:.3g}"


def threshold_sentence(threshold: float, flagged: float, missed: float, fnr: float | None, fpr: float | None,
                       daily_volume: float | None) -> str:
    """The decision as one sentence: "at threshold 0.31, of about 1,000 cases a day, about 48 are flagged ..."."""
    if daily_volume is not None:
        volume = f"{daily_volume:,.0f}" if daily_volume >= 1 else f"{daily_volume:g}"
        head = f"at threshold {_cut(threshold)}, of about {volume} cases a day"
    else:
        head = f"at threshold {_cut(threshold)}, of every {PER_CASES:,} cases"
    sentence = (f"{head}, {_about(flagged)} are flagged for review and {_about(missed)} true cases are missed "
                f"(false negative rate {_rate(fnr)}, false positive rate {_rate(fpr)})")
    if daily_volume is None:
        sentence += "; the expected daily volume is not set in the spec (evaluation.daily_volume)"
    return sentence


def decide(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    *,
    rule: str = "costs",
    daily_volume: float | None = None,
    weights: np.ndarray | None = None,
    served_threshold: float | None = None,
    notes: list[str] | None = None,
) -> Decision:
    """The consequences of cutting scores ``p`` of positives ``y`` (0/1) at ``threshold`` (flag when p >= it);
    ``weights`` (bootstrap counts, ``(resamples, rows)``) gives the rates' intervals."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype="float64")
    flag = p >= threshold
    tp = int((flag & (y == 1)).sum())
    fp = int((flag & (y == 0)).sum())
    fn = int((~flag & (y == 1)).sum())
    tn = int((~flag & (y == 0)).sum())
    n = max(len(y), 1)
    per = float(daily_volume) if daily_volume is not None else float(PER_CASES)
    fnr = fn / (tp + fn) if tp + fn else None
    fpr = fp / (fp + tn) if fp + tn else None
    flagged, missed = per * (tp + fp) / n, per * fn / n
    intervals: dict[str, list[float] | None] = {}
    if weights is not None and weights.size:
        w = np.asarray(weights, dtype="float64")
        total = w.sum(axis=1)
        c = {name: w @ mask.astype("float64") for name, mask in
             {"tp": flag & (y == 1), "fp": flag & (y == 0), "fn": ~flag & (y == 1), "tn": ~flag & (y == 0)}.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = {
                "false_negative_rate": c["fn"] / (c["tp"] + c["fn"]),
                "false_positive_rate": c["fp"] / (c["fp"] + c["tn"]),
                "flagged": per * (c["tp"] + c["fp"]) / total,
                "missed": per * c["fn"] / total,
            }
        for name, values in draws.items():
            ci = percentile_interval(values)
            intervals[name] = None if ci is None else list(ci)
    grid = np.linspace(0.0, 1.0, 51)
    sorted_p = np.sort(p)
    pos, neg = np.sort(p[y == 1]), np.sort(p[y == 0])
    flagged_share = 1.0 - np.searchsorted(sorted_p, grid, "left") / n
    curve = {
        "threshold": grid.tolist(),
        "flagged_share": flagged_share.tolist(),
        "false_negative_rate": (np.searchsorted(pos, grid, "left") / pos.size).tolist() if pos.size else [],
        "false_positive_rate": (1.0 - np.searchsorted(neg, grid, "left") / neg.size).tolist() if neg.size else [],
    }
    return Decision(
        threshold=float(threshold), rule=rule, rows=len(y), true_positives=tp, false_positives=fp,
        false_negatives=fn, true_negatives=tn, flagged_share=(tp + fp) / n, missed_share=fn / n,
        false_negative_rate=fnr, false_positive_rate=fpr,
        precision=tp / (tp + fp) if tp + fp else None, recall=tp / (tp + fn) if tp + fn else None,
        daily_volume=daily_volume, per=per, flagged=flagged, missed=missed,
        sentence=threshold_sentence(threshold, flagged, missed, fnr, fpr, daily_volume),
        served_threshold=served_threshold, intervals=intervals, notes=list(notes or []), curve=curve,
    )
