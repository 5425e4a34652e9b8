"""The vectorised bootstrap: row counts, and AUC / average precision under weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tabloop.stats import bootstrap_counts, percentile_interval, weighted_auc, weighted_average_precision

RNG = np.random.default_rng(5)
Y = RNG.integers(0, 2, 200).astype(bool)
S = np.round(RNG.random(200) + 0.4 * Y, 1)  # rounded: many ties, as scikit-learn must break them too


def test_counts_draw_every_resample_with_replacement() -> None:
    w = bootstrap_counts(50, 300, seed=1)
    assert w.shape == (300, 50)
    assert (w.sum(axis=1) == 50).all()
    assert (w >= 0).all() and w.max() > 1
    assert np.array_equal(w, bootstrap_counts(50, 300, seed=1))
    assert 0.9 < w.mean(axis=0).mean() < 1.1
    assert bootstrap_counts(0, 5).shape == (5, 0)


def test_weighted_auc_and_ap_equal_scikit_learn_on_each_resample() -> None:
    w = bootstrap_counts(200, 8, seed=3)
    auc, ap = weighted_auc(Y, S, w), weighted_average_precision(Y, S, w)
    for i in range(8):
        rows = np.repeat(np.arange(200), w[i])
        assert auc[i] == pytest.approx(skm.roc_auc_score(Y[rows], S[rows]), abs=1e-12)
        assert ap[i] == pytest.approx(skm.average_precision_score(Y[rows], S[rows]), abs=1e-12)


def test_one_class_is_undefined_not_an_error() -> None:
    ones = np.ones((1, 4))
    assert np.isnan(weighted_auc(np.zeros(4, bool), np.arange(4.0), ones)).all()
    assert np.isnan(weighted_average_precision(np.zeros(4, bool), np.arange(4.0), ones)).all()
    assert weighted_auc(np.array([0, 1, 0, 1], bool), np.arange(4.0), ones)[0] == pytest.approx(0.75)


def test_percentile_interval_needs_enough_finite_values() -> None:
    assert percentile_interval(np.r_[np.arange(101.0), np.nan]) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.array([1.0, np.nan] * 4)) is None
