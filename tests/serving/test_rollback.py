"""The rollout guard's statistics against hand-computed cases, and its verdict: past the limit AND significant."""

from __future__ import annotations

from math import comb

import pytest
from scipy import stats

from tabloop.serving import GuardLimits
from tabloop.serving._rollback import Arm, Moments, fisher_greater, judge, welch_greater


def _moments(values: list[float]) -> Moments:
    m = Moments()
    for v in values:
        m.add(v)
    return m


def test_fisher_one_sided_by_hand() -> None:
    # challenger 3 errors of 5, champion 0 of 5: tables with 3 errors in the first row, margins fixed
    by_hand = comb(3, 3) * comb(7, 2) / comb(10, 5)
    assert fisher_greater(3, 2, 0, 5) == pytest.approx(by_hand)  # 21/252 = 0.0833
    # 10 of 20 against 1 of 20: the upper tail summed term by term
    tail = sum(comb(11, x) * comb(29, 20 - x) for x in range(10, 12)) / comb(40, 20)
    assert fisher_greater(10, 10, 1, 19) == pytest.approx(tail)
    assert fisher_greater(10, 10, 1, 19) == pytest.approx(
        stats.fisher_exact([[10, 10], [1, 19]], alternative="greater").pvalue)
    assert fisher_greater(0, 50, 0, 50) == 1.0  # no errors anywhere: nothing to see


def test_welch_one_sided_by_hand() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0]
    # means 2.5 and 5, variances 5/3 and 5/2: se^2 = 5/12 + 1/2 = 11/12, t = 2.5 / sqrt(11/12)
    t = 2.5 / (11 / 12) ** 0.5
    df = (11 / 12) ** 2 / ((5 / 12) ** 2 / 3 + (1 / 2) ** 2 / 4)
    assert welch_greater(_moments(a), _moments(b)) == pytest.approx(stats.t.sf(t, df))
    assert welch_greater(_moments(a), _moments(b)) == pytest.approx(
        stats.ttest_ind(b, a, equal_var=False, alternative="greater").pvalue)


def _arm(answered: int, errors: int, latency: list[float] | None = None, correct: int = 0, labelled: int = 0) -> Arm:
    arm = Arm(answered=answered, errors=errors)
    for v in latency or [10.0, 11.0] * (answered // 2):
        arm.latency_ms.add(v)
    for i in range(labelled):
        arm.reward.add(1.0 if i < correct else 0.0)
    return arm


LIMITS = GuardLimits(max_error_rate_increase=0.01, max_latency_ratio=2.0, max_metric_drop=0.02,
                     min_requests=100, min_labels=100, alpha=0.01)


def test_errors_past_the_limit_and_significant_fire() -> None:
    verdict = judge(_arm(1000, 0), _arm(950, 50), LIMITS, classifier=True)
    errors = next(c for c in verdict.checks if c.name == "error_rate")
    assert errors.challenger == pytest.approx(0.05) and errors.champion == 0.0
    assert errors.p_value < 1e-10 and errors.fired and verdict.regressed
    assert "error_rate" in verdict.why()


def test_past_the_limit_but_not_significant_does_not_fire() -> None:
    # 2 errors in 100 against none: 2 points over the champion, past the 1-point limit, yet p = 0.25
    verdict = judge(_arm(100, 0), _arm(98, 2), LIMITS, classifier=True)
    errors = next(c for c in verdict.checks if c.name == "error_rate")
    assert errors.past_limit and not errors.significant
    assert errors.p_value == pytest.approx(fisher_greater(2, 98, 0, 100))
    assert not verdict.regressed


def test_significant_but_within_the_limit_does_not_fire() -> None:
    # 0.5% errors on a million requests against none: certain, but under the 1-point limit
    verdict = judge(_arm(1_000_000, 0), _arm(995_000, 5000), LIMITS, classifier=True)
    errors = next(c for c in verdict.checks if c.name == "error_rate")
    assert errors.significant and not errors.past_limit and not verdict.regressed


def test_latency_and_accuracy_checks_and_waiting_for_enough_traffic() -> None:
    slow = judge(_arm(200, 0), _arm(200, 0, latency=[30.0, 33.0] * 100), LIMITS, classifier=True)
    latency = next(c for c in slow.checks if c.name == "latency_ratio")
    assert latency.difference == pytest.approx(31.5 / 10.5) and latency.fired
    assert slow.waiting == ("metric",)  # no labels yet
    worse = judge(_arm(200, 0, correct=180, labelled=200), _arm(200, 0, correct=140, labelled=200), LIMITS,
                  classifier=True)
    accuracy = next(c for c in worse.checks if c.name == "accuracy_drop")
    assert accuracy.difference == pytest.approx(0.2)
    assert accuracy.p_value == pytest.approx(stats.fisher_exact([[60, 140], [20, 180]], alternative="greater").pvalue)
    assert accuracy.fired
    few = judge(_arm(50, 0), _arm(40, 10), LIMITS, classifier=True)
    assert few.checks == () and set(few.waiting) == {"error_rate", "latency", "metric"}


def test_regression_metric_is_the_mean_absolute_error() -> None:
    base, cand = Arm(200, 0), Arm(200, 0)
    for i in range(200):
        base.reward.add(1.0 + (i % 3) * 0.1)
        cand.reward.add(1.5 + (i % 3) * 0.1)
    verdict = judge(base, cand, GuardLimits(max_error_rate_increase=None, max_latency_ratio=None, min_labels=100),
                    classifier=False)
    (mae,) = verdict.checks
    assert mae.name == "mae_increase" and mae.difference == pytest.approx(0.5 / base.reward.mean) and mae.fired
