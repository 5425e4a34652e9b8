"""Drift statistics and decisions on synthetic windows with known truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tabloop.data import MISSING_LABEL, ColumnContract, Contract
from tabloop.errors import DataError
from tabloop.monitoring import DriftResult, compute_drift
from tabloop.monitoring import _drift as drift_mod
from tabloop.stats import PSI_EPSILON
from tabloop.spec import DriftSpec

POLICY = DriftSpec()  # p 0.05, Wasserstein 0.1 / Jensen-Shannon 0.1, min_rows 50, max_drifted_features 0


def window(rng: np.random.Generator, n: int, *, shift: float = 0.0, mix: list[float] | None = None) -> pd.DataFrame:
    """A mixed table: shift moves num_a by that many sd, mix changes cat_k's category shares."""
    return pd.DataFrame(
        {
            "num_a": rng.normal(10.0 + 2.0 * shift, 2.0, n),
            "num_skew": rng.lognormal(0.0, 1.0, n),
            "num_int": rng.poisson(3.0, n),  # many ties, as counts in real tables have
            "cat_k": rng.choice(np.array(["a", "b", "c"]), n, p=mix or [0.5, 0.3, 0.2]),
            "cat_flag": rng.random(n) < 0.3,
        }
    )


@pytest.mark.parametrize("n", [200, 2_000, 50_000])
def test_same_distribution_flags_nothing(n: int) -> None:
    rng = np.random.default_rng(7)
    result = compute_drift(window(rng, n), window(rng, n), policy=POLICY)
    assert not result.too_small
    assert [f.column for f in result.features] == ["num_a", "num_skew", "num_int", "cat_k", "cat_flag"]
    assert result.drifted_features == []
    assert result.status == "no_drift"
    assert not result.policy_crossed
    kinds = {f.column: (f.kind, f.test) for f in result.features}
    assert kinds["num_int"] == ("numeric", "ks")
    assert kinds["cat_flag"] == ("categorical", "chi2")


@pytest.mark.parametrize("n", [2_000, 50_000])
def test_mean_shift_and_new_mix_flag_exactly_those_columns(n: int) -> None:
    rng = np.random.default_rng(11)
    reference = window(rng, n)
    current = window(rng, n, shift=0.5, mix=[0.3, 0.3, 0.4])
    result = compute_drift(reference, current, policy=POLICY)
    assert sorted(result.drifted_features) == ["cat_k", "num_a"]
    assert result.status == "drift"
    assert result.policy_crossed  # 2 > max_drifted_features 0
    a = result.feature("num_a")
    assert a.psi >= POLICY.psi_threshold and a.p_value_adjusted < POLICY.p_value
    assert a.current_mean is not None and a.reference_mean is not None
    assert a.current_mean - a.reference_mean == pytest.approx(1.0, abs=0.2)
    k = result.feature("cat_k")
    assert k.current_shares is not None and k.current_shares["c"] == pytest.approx(0.4, abs=0.04)
    assert not compute_drift(reference, current, policy=DriftSpec(max_drifted_features=2)).policy_crossed


#: shares of a five-category column, and the same mix after its most common category
#: lost 30% of its share to the second: PSI 0.09 (under 0.1), Jensen-Shannon 0.127 (base 2)
MIX = [0.4, 0.25, 0.15, 0.12, 0.08]
MIX_MOVED = [0.28, 0.37, 0.15, 0.12, 0.08]
MODERATE = ["mean_0.2sd", "scale_x1.3", "scale_x0.7", "mix_30pct"]


def moderate_window(rng: np.random.Generator, n: int, *, drift: bool) -> pd.DataFrame:
    """Four columns with moderate shifts (when ``drift``) beside four that never change."""
    cats = np.array(list("abcde"))
    return pd.DataFrame(
        {
            "mean_0.2sd": rng.normal(0.2 if drift else 0.0, 1.0, n),
            "scale_x1.3": rng.normal(5.0, 1.3 if drift else 1.0, n),
            "scale_x0.7": rng.normal(-3.0, 0.7 if drift else 1.0, n),
            "mix_30pct": rng.choice(cats, n, p=MIX_MOVED if drift else MIX),
            "same_normal": rng.normal(10.0, 3.0, n),
            "same_skewed": rng.lognormal(0.0, 1.0, n),
            "same_counts": rng.poisson(4.0, n).astype("float64"),
            "same_mix": rng.choice(cats, n, p=MIX),
        }
    )


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_moderate_shifts_are_flagged_as_evidently_flags_them(n: int) -> None:
    # Evidently's DataDriftPreset (Wasserstein / Jensen-Shannon >= 0.1 above 1,000 rows) flags all
    # four; the former default (PSI >= 0.1) flagged only scale_x0.7 (PSI 0.04, 0.09, 0.18, 0.07 at 10k)
    rng = np.random.default_rng(2024)
    result = compute_drift(moderate_window(rng, n, drift=False), moderate_window(rng, n, drift=True), policy=POLICY)
    assert sorted(result.drifted_features) == sorted(MODERATE)
    mean, mix = result.feature("mean_0.2sd"), result.feature("mix_30pct")
    assert mean.psi < POLICY.psi_threshold and mix.psi < POLICY.psi_threshold  # what PSI missed
    assert (mean.effect, mix.effect) == ("wasserstein", "jensen_shannon")
    assert mean.wasserstein == pytest.approx(0.2, abs=0.03)
    assert result.feature("scale_x1.3").wasserstein == pytest.approx(0.3 * math.sqrt(2 / math.pi), abs=0.03)


@pytest.mark.parametrize("seed", range(5))
def test_undrifted_columns_stay_unflagged_over_seeds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    result = compute_drift(moderate_window(rng, 10_000, drift=False), moderate_window(rng, 10_000, drift=False),
                           policy=POLICY, multivariate=False)
    assert result.drifted_features == []
    # far from the line, not just under it
    assert all(f.effect_value < f.effect_threshold / 2 for f in result.features)


def test_tiny_shift_is_significant_but_below_the_effect_size() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, n), "y": rng.normal(0.0, 1.0, n)})
    current = pd.DataFrame({"x": rng.normal(0.02, 1.0, n), "y": rng.normal(0.0, 1.0, n)})
    result = compute_drift(reference, current, policy=POLICY)
    x = result.feature("x")
    assert x.p_value_adjusted < POLICY.p_value  # the test alone would call this drift...
    # ...but the change is far too small to matter, by the deciding effect (Wasserstein) and by PSI
    assert x.effect == "wasserstein" and x.effect_value < x.effect_threshold
    assert x.psi < POLICY.psi_threshold
    assert not x.drifted
    assert result.drifted_features == []


def test_noisy_psi_in_a_small_window_is_not_drift_without_significance() -> None:
    rng = np.random.default_rng(0)
    # 80 rows over 10 bins: PSI is mostly sampling noise, so the test must veto it
    reference = pd.DataFrame({"x": rng.normal(size=80)})
    current = pd.DataFrame({"x": rng.normal(size=80)})
    x = compute_drift(reference, current, policy=POLICY).feature("x")
    assert x.psi >= POLICY.psi_threshold
    assert x.p_value_adjusted >= POLICY.p_value
    assert not x.drifted


@pytest.mark.parametrize(("n_ref", "n_cur"), [(30, 30), (5_000, 49), (10, 5_000)])
def test_too_small_windows_are_never_judged(n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(5)
    # a shift this large would be flagged at any judged size
    result = compute_drift(window(rng, n_ref), window(rng, n_cur, shift=3.0, mix=[0.1, 0.1, 0.8]), policy=POLICY)
    assert result.too_small
    assert result.drifted_features == []
    assert not any(f.drifted for f in result.features)
    assert not result.policy_crossed
    assert result.status == "too_small"
    payload = result.to_dict()
    assert payload["status"] == "too_small"
    assert "too small to judge" in payload["summary"].lower()
    assert "no drift" not in json.dumps(payload).lower()


def test_empty_current_window_is_too_small_not_an_error() -> None:
    rng = np.random.default_rng(5)
    reference = window(rng, 500)
    result = compute_drift(reference, reference.iloc[:0], policy=POLICY)
    assert result.too_small and result.drifted_features == []
    json.dumps(result.to_dict(), allow_nan=False)


def test_unseen_categories_and_missing_are_counted() -> None:
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"k": rng.choice(np.array(["a", "b", "c"]), 1_000)})
    cur = rng.choice(np.array(["a", "b", "c"]), 1_000).astype(object)
    cur[:37] = "d"
    cur[37:40] = "e"
    cur[40:45] = None
    current = pd.DataFrame({"k": cur})
    f = compute_drift(reference, current, policy=POLICY).feature("k")
    assert f.unseen_categories == 40  # "d" and "e" rows; missing is not a category the model never saw
    assert f.current_missing == pytest.approx(5 / 1_000)
    assert f.reference_missing == 0.0
    assert f.current_shares is not None and MISSING_LABEL in f.current_shares


def test_integer_and_float_spellings_are_one_category() -> None:
    # a missing value turns an integer column into floats: 1 and 1.0 must still match
    reference = pd.DataFrame({"k": pd.Series([1, 2, 3] * 100, dtype="int64")})
    current = pd.DataFrame({"k": pd.Series([1.0, 2.0, 3.0] * 100 + [np.nan])})
    contract = Contract(columns=[ColumnContract(name="k", kind="categorical", nullable=True)])
    f = compute_drift(reference, current, policy=POLICY, contract=contract).feature("k")
    assert f.test == "chi2"
    assert f.unseen_categories == 0
    assert not f.drifted


def test_compute_drift_applies_holm_across_features() -> None:
    rng = np.random.default_rng(21)
    reference = window(rng, 3_000)
    current = window(rng, 3_000, shift=0.08, mix=[0.46, 0.32, 0.22])
    result = compute_drift(reference, current, policy=POLICY)
    raw = np.array([f.p_value for f in result.features])
    m = raw.size
    order = np.argsort(raw)
    expected = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * raw[i]))
        expected[i] = running
    assert [f.p_value_adjusted for f in result.features] == pytest.approx(list(expected))
    assert any(f.p_value_adjusted > f.p_value for f in result.features)


def test_psi_matches_hand_computation() -> None:
    reference = pd.DataFrame({"k": ["a"] * 50 + ["b"] * 50})
    current = pd.DataFrame({"k": ["a"] * 100})
    f = compute_drift(reference, current, policy=POLICY).feature("k")
    eps = PSI_EPSILON
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert f.psi == pytest.approx(expected)


def test_numeric_psi_uses_reference_deciles() -> None:
    reference = pd.DataFrame({"x": np.arange(1_000, dtype=float)})
    same = compute_drift(reference, reference.copy(), policy=POLICY).feature("x")
    assert same.psi == pytest.approx(0.0)
    assert same.statistic == 0.0 and same.p_value == pytest.approx(1.0)
    # everything beyond the reference's top edge lands in the open outer bin
    current = pd.DataFrame({"x": np.full(1_000, 5_000.0)})
    far = compute_drift(reference, current, policy=POLICY).feature("x")
    eps = PSI_EPSILON
    expected = 9 * (eps - 0.1) * math.log(eps / 0.1) + (1.0 - 0.1) * math.log(1.0 / 0.1)
    assert far.psi == pytest.approx(expected, rel=1e-3)
    assert far.drifted


def test_large_sample_ks_agrees_with_scipy() -> None:
    rng = np.random.default_rng(4)
    # rounded values: plenty of ties within and across the samples
    a = np.round(rng.normal(0.0, 1.0, 20_000), 1)
    b = np.round(rng.normal(0.03, 1.0, 15_000), 1)
    ours = compute_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), policy=POLICY).feature("x")
    ref = stats.ks_2samp(a, b)
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.005)


def test_missing_numbers_are_left_out_and_reported() -> None:
    rng = np.random.default_rng(8)
    ref = rng.normal(0.0, 1.0, 4_000)
    ref[rng.random(4_000) < 0.3] = np.nan
    ref[:3] = np.inf
    cur = rng.normal(0.0, 1.0, 4_000)
    f = compute_drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), policy=POLICY).feature("x")
    assert f.reference_missing == pytest.approx(np.mean(~np.isfinite(ref)))
    assert f.current_missing == 0.0
    assert not f.drifted
    assert math.isfinite(f.p_value) and math.isfinite(f.psi)


def test_a_numeric_column_that_lost_every_value_is_drifted() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    current = pd.DataFrame({"x": np.full(500, np.nan), "y": rng.normal(size=500)})
    result = compute_drift(reference, current, policy=POLICY)
    x = result.feature("x")
    assert x.drifted and x.current_missing == 1.0 and x.note
    assert result.drifted_features == ["x"]
    assert math.isnan(x.p_value)
    # the untestable column stays out of the Holm family
    y = result.feature("y")
    assert y.p_value_adjusted == pytest.approx(y.p_value)
    json.dumps(result.to_dict(), allow_nan=False)


def test_to_dict_is_strict_json() -> None:
    rng = np.random.default_rng(1)
    reference = window(rng, 300).assign(const=1.0, empty=np.nan)
    current = window(rng, 300).assign(const=1.0, empty=np.nan)
    result = compute_drift(reference, current, policy=POLICY, prediction_column="num_skew")
    payload = result.to_dict()
    text = json.dumps(payload, allow_nan=False)
    back = json.loads(text)
    assert back["reference_rows"] == 300 and back["policy"]["psi_threshold"] == POLICY.psi_threshold
    empty = next(f for f in back["features"] if f["column"] == "empty")
    assert empty["p_value"] is None and empty["psi"] is None and empty["drifted"] is False
    assert back["prediction"]["column"] == "num_skew"
    assert {"status", "summary", "drifted_features", "policy_crossed", "features"} <= set(back)


def test_prediction_drift_is_judged_outside_the_feature_family() -> None:
    rng = np.random.default_rng(12)
    n = 3_000
    reference = window(rng, n).assign(score=rng.beta(2, 5, n))
    current = window(rng, n).assign(score=rng.beta(5, 2, n))
    with_pred = compute_drift(reference, current, policy=POLICY, prediction_column="score")
    without = compute_drift(reference, current, policy=POLICY, columns=list(window(rng, 1).columns))
    assert with_pred.prediction is not None and with_pred.prediction.drifted
    assert with_pred.prediction.p_value_adjusted == with_pred.prediction.p_value
    assert "score" not in [f.column for f in with_pred.features]
    assert with_pred.drifted_features == []
    assert not with_pred.policy_crossed
    assert with_pred.status == "drift"
    assert [f.p_value_adjusted for f in with_pred.features] == [f.p_value_adjusted for f in without.features]
    # labels are compared as categories
    labels = compute_drift(
        reference.assign(label=np.where(reference["score"] > 0.5, "yes", "no")),
        current.assign(label=np.where(current["score"] > 0.5, "yes", "no")),
        policy=POLICY,
        columns=["num_a"],
        prediction_column="label",
    ).prediction
    assert labels is not None and labels.test == "chi2" and labels.drifted
    # absent from a window: no prediction verdict, and no error
    assert compute_drift(reference, current.drop(columns="score"), policy=POLICY, prediction_column="score").prediction is None


def test_contract_sets_columns_and_kinds() -> None:
    rng = np.random.default_rng(6)
    reference = window(rng, 1_000).assign(target=rng.integers(0, 2, 1_000), extra=1.0)
    current = window(rng, 1_000).assign(target=rng.integers(0, 2, 1_000), extra=2.0)
    contract = Contract(
        columns=[
            ColumnContract(name="num_a", kind="numeric", nullable=False),
            ColumnContract(name="num_int", kind="categorical", nullable=False),
        ],
        target="target",
    )
    result = compute_drift(reference, current, policy=POLICY, contract=contract)
    assert [(f.column, f.test) for f in result.features] == [("num_a", "ks"), ("num_int", "chi2")]
    only = compute_drift(reference, current, policy=POLICY, contract=contract, columns=["num_int"])
    assert [f.column for f in only.features] == ["num_int"]
    with pytest.raises(DataError, match="extra"):
        compute_drift(reference, current, policy=POLICY, contract=contract, columns=["extra"])


def test_a_column_missing_from_the_current_window_is_named() -> None:
    rng = np.random.default_rng(6)
    reference = window(rng, 100)
    with pytest.raises(DataError, match="cat_k"):
        compute_drift(reference, reference.drop(columns="cat_k"), policy=POLICY)
    with pytest.raises(DataError, match="nope"):
        compute_drift(reference, reference, policy=POLICY, columns=["num_a", "nope"])


def test_non_numbers_in_a_numeric_column_are_a_data_error() -> None:
    reference = pd.DataFrame({"x": np.arange(100.0)})
    current = pd.DataFrame({"x": ["oops"] * 100})
    contract = Contract(columns=[ColumnContract(name="x", kind="numeric", nullable=False)])
    with pytest.raises(DataError, match="'x'"):
        compute_drift(reference, current, policy=POLICY, contract=contract)


def test_datetimes_are_compared_as_numbers() -> None:
    start = pd.Timestamp("2024-01-01")
    reference = pd.DataFrame({"t": start + pd.to_timedelta(np.arange(500), unit="h")})
    current = pd.DataFrame({"t": start + pd.to_timedelta(np.arange(500) + 10_000, unit="h")})
    f = compute_drift(reference, current, policy=POLICY).feature("t")
    assert (f.kind, f.test) == ("numeric", "ks")
    assert f.statistic == 1.0 and f.drifted


def test_threaded_and_serial_runs_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(13)
    reference, current = window(rng, 20_000), window(rng, 20_000, shift=0.3)
    monkeypatch.setattr(drift_mod, "_PARALLEL_MIN_CELLS", 10**12)
    serial = compute_drift(reference, current, policy=POLICY).to_dict()
    monkeypatch.setattr(drift_mod, "_PARALLEL_MIN_CELLS", 0)
    threaded = compute_drift(reference, current, policy=POLICY).to_dict()
    assert serial == threaded


def test_result_type() -> None:
    rng = np.random.default_rng(0)
    result = compute_drift(window(rng, 100), window(rng, 100), policy=POLICY)
    assert isinstance(result, DriftResult)
    assert result.policy == POLICY.model_dump()
