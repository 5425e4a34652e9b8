"""The paired promotion gate: does a candidate beat the champion on the same labelled rows, for real?

``decide_promotion`` compares two numbers; a holdout of a few hundred rows moves either by
more than most improvements. The gate here pairs the two models' answers row by row and
asks a significance test suited to the metric: DeLong for ROC AUC, McNemar for accuracy,
a paired bootstrap for everything else. A candidate is promoted when its gain reaches the
spec's margin (``retraining.min_improvement``) and the one-sided p-value for "better by at
least the margin" is below ``retraining.significance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabloop.evaluation import compute_metrics, greater_is_better
from tabloop.stats import PairedTest, delong_test, mcnemar_test, paired_bootstrap

__all__ = ["Answers", "GateVerdict", "paired_gate"]

#: resamples of the paired bootstrap: the p-value's resolution is 1 / (RESAMPLES + 1)
RESAMPLES = 1000


@dataclass
class GateVerdict:
    promote: bool
    metric: str
    rows: int
    margin: float
    significance: float
    test: PairedTest | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "metric": self.metric, "rows": self.rows, "margin": self.margin,
                "significance": self.significance, "test": None if self.test is None else self.test.to_dict(),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Answers:
    """One model's answers on the gate's rows: encoded predicted labels and class probabilities (classification)
    or predicted values (regression, ``labels``)."""

    labels: np.ndarray
    proba: np.ndarray | None = None


def paired_gate(
    task: str,
    metric: str,
    y: np.ndarray,
    champion: Answers,
    candidate: Answers,
    *,
    margin: float,
    significance: float,
    seed: int = 0,
) -> GateVerdict:
    """Judge ``candidate`` against ``champion`` on the labelled rows ``y`` (encoded labels, or values)."""
    y = np.asarray(y)
    verdict = GateVerdict(False, metric, int(y.size), margin, significance, None)
    higher = greater_is_better(metric)
    try:
        test = _test(task, metric, y, champion, candidate, margin=margin, higher=higher, seed=seed)
    except ValueError as exc:
        verdict.reasons.append(f"{metric} cannot be compared on these {y.size} rows: {exc}")
        return verdict
    verdict.test = test
    gain = test.difference  # each test reports the gain: B - A for AUC and accuracy, signed by direction otherwise
    direction = "higher" if higher else "lower"
    numbers = (f"candidate {metric} {test.score_b:.4f} vs champion {test.score_a:.4f} on {y.size} rows "
               f"({direction} is better): gain {gain:+.4f}")
    if test.ci_low is not None and test.ci_high is not None and math.isfinite(test.ci_low):
        numbers += f" (95% interval {test.ci_low:+.4f} to {test.ci_high:+.4f})"
    numbers += f", {test.test} one-sided p = {test.p_value:.3g}"
    if gain < margin - 1e-12 or gain <= 0:
        verdict.reasons.append(f"{numbers}; the gain does not reach the required margin {max(margin, 0):.4f}")
    elif significance < 1 and test.p_value >= significance:
        verdict.reasons.append(f"{numbers}; not significant at {significance:g}: the gain may be the holdout's noise")
    else:
        verdict.promote = True
        verdict.reasons.append(f"{numbers}; meets the margin {margin:.4f} at significance {significance:g}")
    return verdict


def _test(task: str, metric: str, y: np.ndarray, a: Answers, b: Answers, *, margin: float, higher: bool,
          seed: int) -> PairedTest:
    if task == "binary" and metric == "roc_auc":
        assert a.proba is not None and b.proba is not None
        return delong_test(y, a.proba[:, 1], b.proba[:, 1], margin=margin)
    if metric == "accuracy" and margin <= 0:
        # McNemar asks "is B right more often", which is a margin of zero; a positive margin needs the bootstrap
        return mcnemar_test(a.labels == y, b.labels == y)

    def scorer(answers: Answers):  # noqa: ANN202 - a closure over one model's answers
        def score(index: np.ndarray) -> float:
            proba = None if answers.proba is None else answers.proba[index]
            value = compute_metrics(task, y[index], proba=proba, y_pred=answers.labels[index], metrics=[metric])[metric]
            return math.nan if value is None else value
        return score

    test = paired_bootstrap(scorer(a), scorer(b), int(y.size), greater_is_better=higher, margin=margin,
                            resamples=RESAMPLES, seed=seed)
    if not (math.isfinite(test.score_a) and math.isfinite(test.score_b)):
        raise ValueError(f"{metric} is undefined for one of the models")
    return test
