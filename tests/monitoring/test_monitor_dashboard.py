"""The live dashboard's numbers: outputs per window, the drift panels worth drawing, and the assembled JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tabloop.monitoring import (
    DriftTimeline,
    dashboard_data,
    drift_over_time,
    outputs_over_time,
    performance_over_time,
    split_windows,
    top_drift_features,
)
from tabloop.spec import DriftSpec, PerformanceSpec, TimelineSpec


def _binary_log(n: int = 10) -> pd.DataFrame:
    p_yes = np.linspace(0.05, 0.95, n)
    return pd.DataFrame({
        "ts": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC").map(lambda t: t.isoformat()),
        "prediction": ["yes" if p >= 0.5 else "no" for p in p_yes],
        "probabilities": [{"no": 1 - p, "yes": p} for p in p_yes],
        "latency_ms": np.arange(n, dtype=float),
        "version": "1",
        "variant": "champion",
    })


def test_binary_positive_rate_and_mean_probability_per_window() -> None:
    log = _binary_log(10)
    windows = split_windows(log, TimelineSpec(by="rows", rows=4))
    out = outputs_over_time(log, windows, task="binary", classes=["no", "yes"], reference_signal=np.array([0.2, 0.4]))
    p = np.linspace(0.05, 0.95, 10)
    assert [w["rows"] for w in out.windows] == [4, 4, 2]
    assert out.series["positive_rate"] == pytest.approx([0.0, 0.75, 1.0])  # 0.45 | 0.55 0.65 0.75
    assert out.series["mean_probability"] == pytest.approx([p[:4].mean(), p[4:8].mean(), p[8:].mean()])
    assert out.reference == pytest.approx({"positive_rate": None, "mean_probability": 0.3})


def test_rows_without_an_answer_are_left_out_not_counted_as_misses() -> None:
    log = _binary_log(4)
    log.loc[1, "prediction"] = None
    log.at[1, "probabilities"] = None
    windows = split_windows(log, TimelineSpec(by="rows", rows=4))
    out = outputs_over_time(log, windows, task="binary", classes=["no", "yes"])
    answered = np.linspace(0.05, 0.95, 4)[[0, 2, 3]]
    assert out.series["positive_rate"] == pytest.approx([2 / 3])
    assert out.series["mean_probability"] == pytest.approx([answered.mean()])
    assert out.reference["mean_probability"] is None


def test_regression_mean_and_multiclass_shares() -> None:
    reg = pd.DataFrame({"prediction": [1.0, 3.0, 10.0, None]})
    windows = split_windows(reg, TimelineSpec(by="rows", rows=2))
    out = outputs_over_time(reg, windows, task="regression", classes=[], reference_signal=np.array([2.0, 4.0]))
    assert out.series == {"mean_prediction": [2.0, 10.0]}
    assert out.reference == {"mean_prediction": 3.0}

    multi = pd.DataFrame({"prediction": ["a", "b", "c", "c", "a", "a"]})
    windows = split_windows(multi, TimelineSpec(by="rows", rows=3))
    out = outputs_over_time(multi, windows, task="multiclass", classes=["a", "b", "c"],
                            reference_signal=np.array(["a", "a", "b", "c"]))
    assert out.series["share:a"] == pytest.approx([1 / 3, 2 / 3])
    assert out.series["share:c"] == pytest.approx([1 / 3, 1 / 3])
    assert out.reference == pytest.approx({"share:a": 0.5, "share:b": 0.25, "share:c": 0.25})
    json.dumps(out.to_dict(), allow_nan=False)


def test_top_features_rank_by_how_far_towards_the_threshold_they_went() -> None:
    timeline = DriftTimeline(
        windows=[], effects={"a": "psi", "b": "psi", "c": "jensen_shannon", "d": "psi", "__prediction__": "psi"},
        thresholds={"a": 0.1, "b": 0.2, "c": 0.05, "d": 0.1, "__prediction__": 0.1},
        values={"a": [0.01, 0.05], "b": [0.3, None], "c": [0.04, 0.02], "d": [None, None], "__prediction__": [9.0, 9.0]},
        drifted={},
    )
    # b: 1.5, c: 0.8, a: 0.5, d never judged
    assert top_drift_features(timeline, 3, exclude=("__prediction__",)) == ["b", "c", "a"]
    assert top_drift_features(timeline, 10, exclude=("__prediction__",)) == ["b", "c", "a", "d"]
    assert top_drift_features(timeline, 1) == ["__prediction__"]


def test_dashboard_data_holds_the_report_timelines_unchanged() -> None:
    rng = np.random.default_rng(0)
    n = 120
    reference = pd.DataFrame({"x": rng.normal(0, 1, 300), "k": rng.choice(["u", "v"], 300)})
    inputs = pd.DataFrame({"x": rng.normal(np.repeat([0.0, 0.0, 2.0], n // 3), 1), "k": rng.choice(["u", "v"], n)})
    log = _binary_log(n)
    log["label"] = [("yes" if rng.random() < p["yes"] else "no") if i < 60 else None
                    for i, p in enumerate(log["probabilities"])]
    timeline_spec = TimelineSpec(by="rows", rows=40)
    windows = split_windows(log, timeline_spec)
    policy = DriftSpec(min_rows=20)
    timeline = drift_over_time(reference, inputs, windows, policy=policy, columns=["x", "k"])
    perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc", timeline=timeline_spec,
                                 performance=PerformanceSpec(min_labels=10), windows=windows)
    outputs = outputs_over_time(log, windows, task="binary", classes=["no", "yes"])
    data = dashboard_data(timeline, perf, outputs, top=1)
    assert data["timeline"] == timeline.to_dict()
    assert data["performance"] == perf.to_dict()
    assert data["outputs"] == outputs.to_dict()
    assert data["top_features"] == ["x"]  # the shifted column, not the first one that happens to be listed
    assert timeline.drifted["x"] == [False, False, True]
    json.dumps(data, allow_nan=False)
    assert dashboard_data(None, None, None) == {"timeline": None, "performance": None, "outputs": None,
                                                "top_features": [], "prediction_column": None}


def test_dashboard_data_carries_the_error_rate_from_the_error_records() -> None:
    log = _binary_log(8).assign(request_id=[f"r{i}" for i in range(8)], row=0, source="http")
    errors = pd.DataFrame({"kind": "error", "request_id": ["x", "y"], "ts": [log["ts"].iloc[1], log["ts"].iloc[6]],
                           "version": "1", "variant": "champion", "status": [422, 413]})
    timeline_spec = TimelineSpec(by="rows", rows=4)
    windows = split_windows(log, timeline_spec, errors)
    perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc", timeline=timeline_spec,
                                 performance=PerformanceSpec(), windows=windows, errors=errors)
    data = dashboard_data(None, perf, outputs_over_time(log, windows, task="binary", classes=["no", "yes"]))
    got = data["performance"]
    assert [(w["rows"], w["requests"], w["errors"], w["error_rate"]) for w in got["windows"]] == [
        (4, 5, 1, 0.2), (4, 5, 1, 0.2)]
    assert (got["requests"], got["errors"], got["error_rate"]) == (10, 2, 0.2)
    assert [(g["version"], g["variant"], g["error_rate"]) for g in got["groups"]] == [("1", "champion", 0.2)]
    json.dumps(data, allow_nan=False)
