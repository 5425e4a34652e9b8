"""The paired test of two models' answers on the same labelled rows, chosen by the metric.

One choice for every place that asks "is B better than A on these rows": ``tabloop promote``'s
gate and the loop's (``tabloop.loop.paired_gate``, on re-scored holdout rows) and the shadow
comparison (``monitoring/_shadow.py``, on the answers both models logged for the same requests).
DeLong for binary ROC AUC, McNemar for accuracy with no margin, a paired bootstrap otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tabloop.evaluation import compute_metrics, greater_is_better
from tabloop.stats import PairedTest, delong_test, mcnemar_test, paired_bootstrap

__all__ = ["RESAMPLES", "Answers", "paired_test"]

#: resamples of the paired bootstrap: the p-value's resolution is 1 / (RESAMPLES + 1)
RESAMPLES = 1000


@dataclass(frozen=True)
class Answers:
    """One model's answers on the compared rows: encoded predicted labels and class probabilities (classification)
    or predicted values (regression, ``labels``)."""

    labels: np.ndarray
    proba: np.ndarray | None = None


def paired_test(task: str, metric: str, y: np.ndarray, a: Answers, b: Answers, *, margin: float,
                seed: int = 0) -> PairedTest:
    """The one-sided paired test of "``b`` beats ``a`` on ``metric`` by ``margin``" on the labelled rows ``y``.

    Raises ``ValueError`` when the metric cannot be computed on these rows (one class only, for example).
    """
    y = np.asarray(y)
    higher = greater_is_better(metric)
    if task == "binary" and metric == "roc_auc":
        if a.proba is None or b.proba is None:
            raise ValueError("roc_auc needs both models' probabilities")
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
