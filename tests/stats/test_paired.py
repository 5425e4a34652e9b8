"""Paired tests against published examples, the definitions, and their error rates under the null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tabloop.stats import delong_test, mcnemar_test, paired_bootstrap


def _hanley_mcneil_ct() -> tuple[np.ndarray, np.ndarray]:
    """Hanley & McNeil (1982), Table 1: 109 CT images rated 1-5 by a radiologist (58 normal, 51 abnormal)."""
    normal = [33, 6, 6, 11, 2]
    abnormal = [3, 2, 2, 11, 33]
    ratings = np.concatenate([np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)])
    truth = np.concatenate([np.zeros(sum(normal)), np.ones(sum(abnormal))])
    return truth, ratings.astype(float)


def test_delong_auc_is_the_published_one_and_its_variance_the_definition() -> None:
    y, rating = _hanley_mcneil_ct()
    res = delong_test(y, rating, rating)
    assert res.score_a == pytest.approx(0.893, abs=5e-4)  # the paper's area under the rating ROC curve
    assert res.difference == 0.0 and res.p_value == 1.0

    # the variance by DeLong's definition, placement values by the double loop, on random scorers
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    a = np.round(rng.normal(y * 0.8, 1.0), 1)  # ties on purpose
    b = np.round(a + rng.normal(0.3 * y, 0.7), 1)
    pos, neg = y == 1, y == 0

    def psi(x: float, z: float) -> float:
        return 1.0 if x > z else 0.5 if x == z else 0.0

    def components(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v10 = np.array([np.mean([psi(x, z) for z in s[neg]]) for x in s[pos]])
        v01 = np.array([np.mean([psi(x, z) for x in s[pos]]) for z in s[neg]])
        return v10, v01

    a10, a01 = components(a)
    b10, b01 = components(b)
    var = (np.var(b10 - a10, ddof=1) / pos.sum()) + (np.var(b01 - a01, ddof=1) / neg.sum())
    res = delong_test(y, a, b)
    assert res.score_a == pytest.approx(roc_auc_score(y, a))
    assert res.score_b == pytest.approx(roc_auc_score(y, b))
    assert res.statistic == pytest.approx(res.difference / math.sqrt(var))
    assert res.ci_low < res.difference < res.ci_high


def test_delong_rejects_at_about_its_level_when_two_scorers_are_equally_good() -> None:
    rng = np.random.default_rng(7)
    rejected = 0
    trials = 300
    for _ in range(trials):
        y = rng.integers(0, 2, 200)
        a, b = rng.normal(y * 0.7, 1.0), rng.normal(y * 0.7, 1.0)
        rejected += delong_test(y, a, b).p_value < 0.05
    assert 0.02 <= rejected / trials <= 0.09
    # and a clearly better scorer is found
    y = rng.integers(0, 2, 400)
    assert delong_test(y, rng.normal(y * 0.3, 1.0), rng.normal(y * 1.5, 1.0)).p_value < 1e-6


def test_mcnemar_on_agrestis_presidential_approval_table() -> None:
    # Agresti, Categorical Data Analysis, Table 10.1: approve/disapprove in two surveys of 1,600 people;
    # 794 approve twice, 150 approve then disapprove, 86 disapprove then approve, 570 disapprove twice
    first = np.repeat([1, 1, 0, 0], [794, 150, 86, 570]).astype(bool)
    second = np.repeat([1, 0, 1, 0], [794, 150, 86, 570]).astype(bool)
    res = mcnemar_test(second, first)  # is the first survey's approval higher? b = 86, c = 150
    assert res.statistic == pytest.approx(17.36, abs=0.005)  # the book's z^2 = 17.36 (z = 4.17)
    assert res.difference == pytest.approx((944 - 880) / 1600)
    assert res.p_value < 1e-4
    assert mcnemar_test(first, second).p_value > 0.99  # the other direction: no evidence at all


def test_mcnemar_small_counts_use_the_exact_binomial_tail() -> None:
    a = np.array([1] * 10 + [0] * 2 + [1] * 3, dtype=bool)
    b = np.array([1] * 10 + [1] * 2 + [0] * 3, dtype=bool)
    res = mcnemar_test(a, b)  # only B right: 2, only A right: 3 -> P(X >= 2 | 5, 1/2) = 26/32
    assert res.p_value == pytest.approx(26 / 32)
    assert mcnemar_test(a, a).p_value == 1.0


def test_paired_bootstrap_finds_a_real_gain_and_not_a_null_one() -> None:
    rng = np.random.default_rng(3)
    n = 400
    y = rng.normal(0, 1, n)
    good, bad = y + rng.normal(0, 0.5, n), y + rng.normal(0, 0.8, n)

    def rmse(pred: np.ndarray):
        return lambda index: float(np.sqrt(np.mean((pred[index] - y[index]) ** 2)))

    better = paired_bootstrap(rmse(bad), rmse(good), n, greater_is_better=False, resamples=500)
    assert better.difference > 0 and better.p_value < 0.01 and better.ci_low > 0
    same = paired_bootstrap(rmse(good), rmse(good), n, greater_is_better=False, resamples=200)
    assert same.p_value == 1.0
    # a margin larger than the gain is not met
    assert paired_bootstrap(rmse(bad), rmse(good), n, greater_is_better=False, margin=1.0, resamples=200).p_value == 1.0


def test_score_interval_is_the_corrected_t_interval() -> None:
    from scipy import stats as st

    from tabloop.stats import score_interval

    scores = [0.80, 0.82, 0.78, 0.85, 0.81]
    plain = st.t.interval(0.95, 4, loc=np.mean(scores), scale=np.std(scores, ddof=1) / math.sqrt(5))
    assert score_interval(scores) == pytest.approx(plain)
    low, high = score_interval(scores, test_to_train=0.25)  # 5-fold: a test fold is a quarter of its training part
    half = (high - low) / 2
    assert half == pytest.approx((plain[1] - plain[0]) / 2 * math.sqrt((1 / 5 + 0.25) / (1 / 5)))
    assert low < np.mean(scores) < high
    assert all(math.isnan(v) for v in score_interval([0.8]))
    assert all(math.isnan(v) for v in score_interval([0.8, float("nan")]))
