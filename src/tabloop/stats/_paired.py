"""Paired comparisons of two models scored on the same rows: DeLong, McNemar, a paired bootstrap.

A promotion asks whether a challenger is better than the champion on the same labelled
rows. The two sets of predictions are correlated (same rows, often similar models), so
unpaired tests (two independent confidence intervals) are far too conservative: each
test here works on the per-row pairing. All p-values are one-sided, for "B is better
than A by more than ``margin``", because that is the only question a gate asks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

__all__ = ["PairedTest", "delong_test", "mcnemar_test", "paired_bootstrap"]


@dataclass(frozen=True)
class PairedTest:
    """One paired test: which, both scores, the difference B - A and a one-sided p-value for B better."""

    test: str
    score_a: float
    score_b: float
    difference: float
    statistic: float
    p_value: float
    #: a 95% confidence interval of the difference B - A (None where the test gives none)
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _normal_sf(z: float) -> float:
    return float(0.5 * special.erfc(z / math.sqrt(2.0)))


def _placements(y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components: for each positive, the share of negatives it outranks
    (ties half), and for each negative, the share of positives that outrank it."""
    pos, neg = score[y], score[~y]
    neg_sorted = np.sort(neg)
    pos_sorted = np.sort(pos)
    # counts by binary search: O((m + n) log(m + n)), where the definition's double loop is O(m n)
    v10 = (np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")) / (2.0 * neg.size)
    v01 = 1.0 - (np.searchsorted(pos_sorted, neg, "left") + np.searchsorted(pos_sorted, neg, "right")) / (2.0 * pos.size)
    return float(v10.mean()), v10, v01


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *, margin: float = 0.0) -> PairedTest:
    """DeLong, DeLong & Clarke-Pearson (1988): are the ROC AUCs of two correlated scorers different?

    ``y_true`` holds 1 for the positive class; ``score_*`` rank the rows (probabilities or any
    score). The variance of AUC_B - AUC_A comes from the covariance of the placement values;
    z = (AUC_B - AUC_A - margin) / SE, one-sided p = P(Z >= z).
    """
    y = np.asarray(y_true) == 1
    if y.all() or not y.any():
        raise ValueError("DeLong's test needs both classes among the rows")
    m, n = int(y.sum()), int((~y).sum())
    auc_a, a10, a01 = _placements(y, np.asarray(score_a, dtype="float64"))
    auc_b, b10, b01 = _placements(y, np.asarray(score_b, dtype="float64"))
    s10 = np.cov(np.vstack([a10, b10])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([a01, b01])) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = auc_b - auc_a
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:  # identical rankings, or both perfect: the difference is what it is, with no spread
        beyond = diff - margin
        z = math.inf if beyond > 0 else -math.inf if beyond < 0 else 0.0
        return PairedTest("delong", auc_a, auc_b, diff, z, 0.0 if beyond > 0 else 1.0, diff, diff)
    z = (diff - margin) / se
    return PairedTest("delong", auc_a, auc_b, diff, z, _normal_sf(z), diff - 1.959963984540054 * se,
                      diff + 1.959963984540054 * se)


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> PairedTest:
    """McNemar (1947): on the rows where exactly one model is right, is B right more often than A?

    ``b`` counts rows only A gets right, ``c`` rows only B gets right. Under "equally
    accurate" each discordant row is a fair coin: the one-sided p-value is the exact binomial
    tail P(X >= c | b + c, 1/2) (the mid-p would be less conservative; a gate wants the
    conservative one). ``statistic`` is the classic chi-square (b - c)^2 / (b + c).
    """
    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a = int((a & ~b_).sum())
    only_b = int((~a & b_).sum())
    discordant = only_a + only_b
    statistic = (only_a - only_b) ** 2 / discordant if discordant else 0.0
    # P(X >= only_b) for X ~ Binomial(discordant, 1/2) = I_{1/2}(only_b, discordant - only_b + 1)
    p = 1.0 if only_b == 0 else float(special.bdtrc(only_b - 1, discordant, 0.5))
    acc_a, acc_b = float(a.mean()), float(b_.mean())
    return PairedTest("mcnemar", acc_a, acc_b, acc_b - acc_a, float(statistic), p)


def paired_bootstrap(
    score_a: Callable[[np.ndarray], float],
    score_b: Callable[[np.ndarray], float],
    rows: int,
    *,
    greater_is_better: bool,
    margin: float = 0.0,
    resamples: int = 1000,
    seed: int = 0,
) -> PairedTest:
    """Resample the rows with replacement, the same rows for both models, and score each on them.

    ``score_a(index)`` and ``score_b(index)`` are the metric of A and of B on the rows ``index``. The gain is
    B - A where greater is better and A - B otherwise; the one-sided p-value is the share of
    resamples whose gain is not above ``margin`` (with the usual +1 so it is never 0), and the
    interval the 2.5-97.5 percentiles of the gain.
    """
    rng = np.random.default_rng(seed)
    full = np.arange(rows)
    a0, b0 = score_a(full), score_b(full)
    sign = 1.0 if greater_is_better else -1.0
    gains = []
    for _ in range(resamples):
        index = rng.integers(0, rows, rows)
        ga, gb = score_a(index), score_b(index)
        if math.isfinite(ga) and math.isfinite(gb):
            gains.append(sign * (gb - ga))
    g = np.asarray(gains)
    if g.size == 0:
        return PairedTest("paired_bootstrap", a0, b0, sign * (b0 - a0), float("nan"), 1.0)
    p = (1 + int((g <= margin).sum())) / (1 + g.size)
    low, high = np.percentile(g, [2.5, 97.5])
    return PairedTest("paired_bootstrap", a0, b0, sign * (b0 - a0), float(np.mean(g)), float(p), float(low),
                      float(high))
