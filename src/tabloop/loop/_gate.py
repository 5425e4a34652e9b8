"""The paired promotion gate: does a candidate beat the champion on the same labelled rows, for real?

Comparing two scores is not enough: a holdout of a few hundred rows moves either by more
than most improvements. The gate here pairs the two models' answers row by row and
asks a significance test suited to the metric: DeLong for ROC AUC, McNemar for accuracy,
a paired bootstrap for everything else. A candidate is promoted when its gain reaches the
spec's margin (``retraining.min_improvement``) and the one-sided p-value for "better by at
least the margin" is below ``retraining.significance``. ``tabloop promote``, ``tabloop retrain`` and
``tabloop loop run`` all judge through it (``api/_gate.py``, the model tests after it); the loop
also on the live rows a shadowing challenger answered beside the champion (``monitoring/_shadow.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabloop.evaluation import greater_is_better
from tabloop.monitoring import Answers, paired_test
from tabloop.stats import PairedTest

__all__ = ["Answers", "GateVerdict", "paired_gate", "with_model_tests"]


@dataclass
class GateVerdict:
    promote: bool
    metric: str
    rows: int
    margin: float
    significance: float
    test: PairedTest | None
    reasons: list[str] = field(default_factory=list)
    #: which rows judged: the candidate's held-out test part, a given table, the loop's recent holdout, live shadow rows
    source: str = ""
    #: the model tests' counts (passed, failed, error, skipped) when they ran after the paired test
    model_tests: dict[str, int] | None = None
    #: what refused the candidate: ``paired`` (the test or its margin) or ``model_tests``; None when promoted
    refused_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"promote": self.promote, "metric": self.metric, "rows": self.rows, "margin": self.margin,
               "significance": self.significance, "test": None if self.test is None else self.test.to_dict(),
               "reasons": list(self.reasons), "source": self.source, "refused_by": self.refused_by}
        if self.model_tests is not None:
            out["model_tests"] = dict(self.model_tests)
        return out


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
    source: str = "",
    noise: str = "the holdout's noise",
) -> GateVerdict:
    """Judge ``candidate`` against ``champion`` on the labelled rows ``y`` (encoded labels, or values).

    ``source`` names the rows in the verdict; ``noise`` is what a gain that is not significant may be.
    """
    y = np.asarray(y)
    verdict = GateVerdict(False, metric, int(y.size), margin, significance, None, source=source, refused_by="paired")
    higher = greater_is_better(metric)
    try:
        test = paired_test(task, metric, y, champion, candidate, margin=margin, seed=seed)
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
        verdict.reasons.append(f"{numbers}; not significant at {significance:g}: the gain may be {noise}")
    else:
        verdict.promote, verdict.refused_by = True, None
        verdict.reasons.append(f"{numbers}; meets the margin {margin:.4f} at significance {significance:g}")
    return verdict



def with_model_tests(verdict: GateVerdict, *, version: str, passed: bool, counts: dict[str, int],
                     failures: str) -> GateVerdict:
    """The paired verdict with the candidate's model tests after it: a failing test refuses, naming each failure."""
    verdict.model_tests = dict(counts)
    if not passed:
        verdict.promote, verdict.refused_by = False, "model_tests"
        verdict.reasons.append(f"its model tests failed: {failures}")
    return verdict
