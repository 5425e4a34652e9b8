"""The statistics home (tabloop.stats): each number against SciPy or a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from tabloop.stats import (
    EXACT_KS_MAX_ROWS,
    PSI_EPSILON,
    cdf_distances,
    chi2_homogeneity,
    holm_adjust,
    jensen_shannon,
    ks_2samp_sorted,
    psi,
    quantile_bin_counts,
)


def test_holm_matches_hand_computation() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm_adjust([0.01, float("nan"), 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)
    assert holm_adjust([]).size == 0


def test_jensen_shannon_matches_scipy_base_2() -> None:
    p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.2, 0.3, 0.4, 0.1])
    assert jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q, base=2))
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [300, EXACT_KS_MAX_ROWS + 5_000])
def test_cdf_distances_and_ks_match_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = np.sort(np.round(rng.normal(0, 1, n), 1)), np.sort(rng.normal(0.1, 1, n + 7))
    d, w1 = cdf_distances(a, b)
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    statistic, p_value = ks_2samp_sorted(a, b, d)
    assert statistic == pytest.approx(d, abs=1e-12)
    assert p_value == pytest.approx(stats.ks_2samp(a, b).pvalue, abs=0.002)


def test_chi2_homogeneity_matches_scipy_and_one_category_is_no_drift() -> None:
    ref, cur = np.array([50, 30, 20]), np.array([40, 30, 30])
    res = stats.chi2_contingency(np.vstack([ref, cur]))
    assert chi2_homogeneity(ref, cur) == pytest.approx((res.statistic, res.pvalue))
    assert chi2_homogeneity(np.array([7]), np.array([9])) == (0.0, 1.0)


def test_psi_by_hand_with_an_empty_bin() -> None:
    ref, cur = np.array([50, 50]), np.array([100, 0])
    eps = PSI_EPSILON
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert psi(ref, cur) == pytest.approx(expected)


def test_quantile_bins_are_the_reference_deciles() -> None:
    a = np.arange(1000, dtype="float64")
    ref_counts, cur_counts = quantile_bin_counts(a, a + 0.0)
    assert ref_counts.tolist() == [100] * 10 and cur_counts.tolist() == [100] * 10
    ref_counts, cur_counts = quantile_bin_counts(a, np.full(10, 2000.0))
    assert cur_counts.tolist() == [0] * 9 + [10]


def test_rank_auc_is_sklearns_roc_auc_with_ties_and_nan_without_both_classes() -> None:
    from sklearn.metrics import roc_auc_score

    from tabloop.stats import roc_auc

    rng = np.random.default_rng(7)
    for n in (7, 200, 5000):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        score = np.round(rng.normal(size=n) + 0.4 * y, 1)  # rounded: many ties
        assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(5), np.arange(5.0)))
