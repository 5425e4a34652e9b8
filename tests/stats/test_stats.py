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


@pytest.mark.parametrize("seed", range(6))
def test_chi2_homogeneity_matches_scipy_and_one_category_is_no_drift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 2 + seed % 4  # two categories: one degree of freedom, where scipy applies Yates' correction
    ref, cur = rng.integers(1, 60, k), rng.integers(1, 60, k)
    res = stats.chi2_contingency(np.vstack([ref, cur]))
    assert chi2_homogeneity(ref, cur) == pytest.approx((res.statistic, res.pvalue), rel=1e-9)
    assert chi2_homogeneity(ref, ref) == pytest.approx((0.0, 1.0))
    assert chi2_homogeneity(np.array([7]), np.array([9])) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("n1", "n2"), [(EXACT_KS_MAX_ROWS + 1, EXACT_KS_MAX_ROWS + 1), (1_200, 10_000), (1_500, 4_000), (5_000, 9_000)]
)
@pytest.mark.parametrize("p_target", [0.5, 0.1, 0.01, 0.001, 1e-5])
def test_ks_limiting_p_value_is_close_to_scipys_exact_one_above_the_exact_limit(
    n1: int, n2: int, p_target: float
) -> None:
    en = n1 * n2 / (n1 + n2)
    d = stats.kstwobign.isf(p_target) / math.sqrt(en)
    # the statistic a pair of samples can reach: a multiple of 1 / lcm(n1, n2)
    step = 1 / math.lcm(n1, n2)
    d = round(d / step) * step
    a, b = np.zeros(n1), np.zeros(n2)  # only the sizes matter above the limit
    _, p_value = ks_2samp_sorted(a, b, d)
    exact = _exact_ks(n1, n2, d)
    # the limiting distribution errs toward "no drift": never a smaller p-value, at most 7% larger
    assert exact * 0.999 <= p_value <= exact * 1.07


def _exact_ks(n1: int, n2: int, d: float) -> float:
    from scipy.stats import _stats_py

    ok, _, p = _stats_py._attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
    assert ok
    return float(p)


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


def test_the_written_out_p_value_functions_match_scipy_special() -> None:
    # the monitor's p-values come from these rather than from scipy.special (0.2 s of start-up)
    from scipy import special

    from tabloop.stats._tests import chi2_sf, kolmogorov_sf

    for y in [*np.linspace(0.01, 6.0, 600), 0.999999, 1.0, 1.000001, 8.0]:
        expected = float(special.kolmogorov(y))
        assert kolmogorov_sf(float(y)) == pytest.approx(expected, rel=1e-12, abs=1e-300), y
    for dof in [1, 2, 3, 4, 9, 10, 51, 400, 1001]:
        for x in np.geomspace(1e-6, 4_000.0, 120):
            expected = float(special.chdtrc(dof, x))
            assert chi2_sf(dof, float(x)) == pytest.approx(expected, rel=1e-11, abs=1e-300), (dof, x)
    assert kolmogorov_sf(0.0) == 1.0 and chi2_sf(3, 0.0) == 1.0
    with pytest.raises(ValueError, match="whole degrees of freedom"):
        chi2_sf(0, 1.0)


def test_a_standalone_drift_check_imports_no_scipy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from tabloop.monitoring import compute_drift\n"
        "from tabloop.spec import DriftSpec\n"
        "rng = np.random.default_rng(0)\n"
        "ref = pd.DataFrame({'x': rng.normal(size=3000), 'c': rng.choice(list('abc'), 3000)})\n"
        "cur = pd.DataFrame({'x': rng.normal(0.3, 1, 3000), 'c': rng.choice(list('abd'), 3000)})\n"
        "r = compute_drift(ref, cur, policy=DriftSpec(domain_classifier=False))\n"
        "assert r.drifted_features, r.summary\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib', 'sklearn')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
