"""New statistics, the domain classifier, CBPE and performance windows, and the facade over a real log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tabloop.monitoring import (
    compute_drift,
    estimate_performance,
    expected_roc_auc,
    fit_calibration,
    performance_over_time,
    split_windows,
)
from tabloop.spec import DriftSpec, PerformanceSpec, TimelineSpec

POLICY = DriftSpec()


def test_wasserstein_is_scipys_divided_by_the_reference_sd() -> None:
    rng = np.random.default_rng(0)
    for n in (300, 30_000):  # both sides of the exact-KS cut-off
        a, b = np.round(rng.normal(0, 2, n), 1), rng.normal(0.4, 2, n + 17)
        f = compute_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), policy=POLICY, multivariate=False).feature("x")
        assert f.wasserstein == pytest.approx(stats.wasserstein_distance(a, b) / a.std(), rel=1e-9)
        assert f.statistic == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("effects", [("wasserstein", "jensen_shannon"), ("psi", "psi")])
@pytest.mark.parametrize("n", [500, 5_000, 100_000])
def test_each_effect_flags_exactly_the_drifted_columns(effects: tuple[str, str], n: int) -> None:
    rng = np.random.default_rng(n)
    policy = DriftSpec(numeric_effect=effects[0], categorical_effect=effects[1])

    def window(drift: bool) -> pd.DataFrame:
        return pd.DataFrame({
            "moved": rng.normal(0.6 if drift else 0.0, 1.0, n),
            "wider": rng.normal(0.0, 1.8 if drift else 1.0, n),
            "still": rng.exponential(2.0, n),
            "mix": rng.choice(np.array(["a", "b", "c"]), n, p=[0.2, 0.3, 0.5] if drift else [0.5, 0.3, 0.2]),
            "same": rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2]),
        })

    result = compute_drift(window(False), window(True), policy=policy, multivariate=False)
    assert sorted(result.drifted_features) == ["mix", "moved", "wider"]
    for f in result.features:
        assert f.effect == (effects[0] if f.kind == "numeric" else effects[1])


def test_tiny_shift_in_a_huge_window_is_below_the_wasserstein_threshold_too() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    result = compute_drift(pd.DataFrame({"x": rng.normal(0, 1, n)}), pd.DataFrame({"x": rng.normal(0.02, 1, n)}),
                           policy=DriftSpec(numeric_effect="wasserstein"), multivariate=False)
    x = result.feature("x")
    assert x.p_value_adjusted < 0.05 and x.wasserstein < 0.1 and not x.drifted


def test_domain_classifier_sees_a_joint_change_the_columns_miss() -> None:
    rng = np.random.default_rng(1)
    n = 3_000
    z = rng.normal(size=n)
    reference = pd.DataFrame({"u": z, "v": z + rng.normal(0, 0.3, n), "w": rng.normal(size=n)})
    z = rng.normal(size=n)
    current = pd.DataFrame({"u": z, "v": -z + rng.normal(0, 0.3, n), "w": rng.normal(size=n)})
    result = compute_drift(reference, current, policy=POLICY, seed=0)
    assert result.drifted_features == []  # each column alone looks the same
    mv = result.multivariate
    assert mv is not None and mv.drifted and mv.auc is not None and mv.auc > 0.9
    assert set(mv.separating) == {"u", "v"}
    assert result.status == "drift" and not result.policy_crossed
    assert compute_drift(reference, current, policy=DriftSpec(act_on_multivariate=True), seed=0).policy_crossed
    same = compute_drift(reference, reference.sample(frac=1.0, random_state=0).assign(
        u=lambda d: d["u"] + 0.0), policy=POLICY, seed=0, multivariate=False)
    assert same.multivariate is None


def test_domain_classifier_does_not_fire_on_the_same_world() -> None:
    rng = np.random.default_rng(2)
    n = 4_000

    def window() -> pd.DataFrame:
        return pd.DataFrame({"a": rng.normal(size=n), "b": rng.poisson(3, n), "k": rng.choice(np.array(["x", "y"]), n)})

    mv = compute_drift(window(), window(), policy=POLICY, seed=0).multivariate
    assert mv is not None and mv.auc is not None and not mv.drifted and abs(mv.auc - 0.5) < 0.05
    small = compute_drift(window().head(20), window().head(20), policy=POLICY).multivariate
    assert small is not None and small.auc is None and small.note == "too small to judge"


def test_importances_rank_the_drifted_features() -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    cur = pd.DataFrame({"a": rng.normal(1, 1, n), "b": rng.normal(1, 1, n), "c": rng.normal(size=n)})
    result = compute_drift(ref, cur, policy=POLICY, importances={"a": 0.1, "b": 0.6, "c": 0.3}, multivariate=False)
    assert [f.column for f in result.ranked][:2] == ["b", "a"]
    assert result.feature("b").importance == pytest.approx(0.6)
    assert result.to_dict()["ranked"][:2] == ["b", "a"]


def test_expected_auc_equals_the_true_auc_when_labels_follow_the_probabilities() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    p = rng.beta(2, 3, 200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_roc_auc(p, p) == pytest.approx(roc_auc_score(y, p), abs=0.005)
    proba = np.column_stack([1 - p, p])
    pred = (p >= 0.5).astype(int)
    est = estimate_performance("binary", proba, pred)
    assert est["accuracy"] == pytest.approx(np.mean(pred == y), abs=0.005)
    assert expected_roc_auc(np.array([0.5, 0.5]), np.array([1.0, 1.0])) is None


def test_cbpe_tracks_realized_performance_on_a_real_table(hmda: pd.DataFrame) -> None:
    """HMDA: train on 40%, calibrate on 30%, estimate on the last 30%, compare with the truth; five splits."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = hmda.select_dtypes("number").assign(y=(hmda["deny"] == "yes").astype(int)).dropna()
    X, y = df.drop(columns="y").to_numpy(), df["y"].to_numpy()
    acc_err, auc_err = [], []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(y))
        tr, ca, te = np.split(order, [int(0.4 * len(y)), int(0.7 * len(y))])
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[tr], y[tr])
        calibration = fit_calibration(model.predict_proba(X[ca]), y[ca])
        raw = model.predict_proba(X[te])
        pred = raw.argmax(axis=1)
        est = estimate_performance("binary", calibration.transform(raw), pred, score=raw)
        acc_err.append(abs(est["accuracy"] - accuracy_score(y[te], pred)))
        auc_err.append(abs(est["roc_auc"] - roc_auc_score(y[te], raw[:, 1])))
    # about 700 test rows with 85 denials each: the realized AUC itself is only good to about 0.03
    assert np.mean(acc_err) < 0.02
    assert np.mean(auc_err) < 0.05


def _log(n: int, *, labelled_share: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    truth = np.where(rng.random(n) < p, "yes", "no")
    label = np.where(rng.random(n) < labelled_share, truth, None)
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "row": 0,
        "ts": pd.date_range("2024-03-01", periods=n, freq="7min", tz="UTC").map(lambda t: t.isoformat()),
        "version": np.where(np.arange(n) < n // 2, "1", "2"), "variant": "champion",
        "prediction": np.where(p >= 0.5, "yes", "no"),
        "probabilities": [{"no": 1 - q, "yes": q} for q in p],
        "latency_ms": rng.gamma(2.0, 5.0, n), "label": label,
    })


def test_performance_windows_count_labels_and_compare_estimate_with_truth() -> None:
    log = _log(3_000, labelled_share=0.6)
    # labels arrive late: the newest rows have none yet
    log.loc[2_500:, "label"] = None
    perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc",
                                 timeline=TimelineSpec(rows=500), performance=PerformanceSpec(threshold=0.9))
    assert [w.rows for w in perf.windows] == [500] * 6
    assert [w.labelled for w in perf.windows][-1] == 0
    assert sum(w.labelled for w in perf.windows) == int(log["label"].notna().sum())
    first = perf.windows[0]
    assert first.realized["roc_auc"] is not None and first.estimated["roc_auc"] is not None
    assert abs(first.estimate_error["accuracy"]) < 0.05 and abs(first.estimate_error["roc_auc"]) < 0.06
    last = perf.windows[-1]
    assert last.realized["roc_auc"] is None and last.estimated["roc_auc"] is not None
    assert perf.latest is not None and perf.latest[0] == "estimated"
    assert perf.below_threshold is not None and "estimated roc_auc" in perf.below_threshold
    assert last.latency_ms["p50"] is not None and last.latency_ms["p50"] <= last.latency_ms["p99"]
    assert last.error_rate is None  # answered rows only: no error rate is invented
    assert [(g.version, g.rows) for g in perf.groups] == [("1", 1_500), ("2", 1_500)]
    json.dumps(perf.to_dict(), allow_nan=False)


def _refusals(log: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Error records refused at the times of ``positions``, charged to those rows' version and variant."""
    return pd.DataFrame({
        "kind": "error", "request_id": [f"e{i}" for i in positions], "ts": log["ts"].iloc[positions].to_numpy(),
        "source": "http", "version": log["version"].iloc[positions].to_numpy(),
        "variant": log["variant"].iloc[positions].to_numpy(), "status": 422, "code": "contract_violation",
    })


def test_error_rate_per_window_and_per_version_and_variant() -> None:
    log = _log(1_000, labelled_share=1.0).assign(source="http")
    # shadow copies share their request with the answer: rows of the log, not requests of the server
    shadow = log.iloc[:10].assign(source="shadow", version="3", variant="challenger")
    log = pd.concat([log, shadow], ignore_index=True)
    errors = _refusals(log, np.arange(0, 1_000, 10))  # 50 refusals under each version
    unrouted = _refusals(log, np.array([0, 1, 2, 3])).assign(version=None, variant=None, code="malformed_request")
    errors = pd.concat([errors, unrouted.assign(request_id=lambda d: "u" + d["request_id"])], ignore_index=True)
    timeline = TimelineSpec(by="time", every="1D")
    windows = split_windows(log, timeline, errors)
    assert sum(w.rows for w in windows) == 1_010 and len(windows) == 5  # refusals add no rows
    perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc",
                                 timeline=timeline, performance=PerformanceSpec(), errors=errors)
    for w, got in zip(windows, perf.windows, strict=True):
        answered = int((w.positions < 1_000).sum())
        refused = int(((w.positions < 1_000) & (w.positions % 10 == 0)).sum()) + (4 if w.index == 0 else 0)
        assert (got.rows, got.requests, got.errors) == (w.rows, answered + refused, refused)
        assert got.error_rate == pytest.approx(refused / (answered + refused))
    groups = {(g.version, g.variant): (g.rows, g.requests, g.errors, g.error_rate) for g in perf.groups}
    assert groups == {
        ("1", "champion"): (500, 550, 50, pytest.approx(50 / 550)),
        ("2", "champion"): (500, 550, 50, pytest.approx(50 / 550)),
        ("3", "challenger"): (10, 0, 0, None),  # shadow only: no request of its own, no error rate
        (None, None): (0, 4, 4, 1.0),  # refused before any model was chosen
    }
    assert (perf.requests, perf.errors) == (1_104, 104) and perf.error_rate == pytest.approx(104 / 1_104)
    doc = perf.to_dict()
    assert doc["error_rate"] == perf.error_rate and doc["windows"][0]["error_rate"] == perf.windows[0].error_rate
    json.dumps(doc, allow_nan=False)
    # without the error records no error rate is invented
    bare = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc",
                                 timeline=timeline, performance=PerformanceSpec())
    assert all(w.error_rate is None and w.requests is None for w in bare.windows) and bare.error_rate is None


def test_refusals_fall_in_the_window_of_their_time() -> None:
    ts = pd.date_range("2024-03-01 01:00", periods=6, freq="1h", tz="UTC")
    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(6)], "row": 0, "ts": ts.map(lambda t: t.isoformat()),
                        "version": "1", "variant": "champion", "prediction": "no",
                        "probabilities": [{"no": 0.9, "yes": 0.1}] * 6, "latency_ms": 1.0})
    at = [ts[0] - pd.Timedelta("1h"), ts[2] + pd.Timedelta("30min"), ts[5] + pd.Timedelta("5h"),
          ts[5] + pd.Timedelta("2D")]
    errors = pd.DataFrame({"kind": "error", "request_id": ["a", "b", "c", "d"], "ts": [t.isoformat() for t in at],
                           "version": None, "variant": None})

    def rates(timeline: TimelineSpec) -> list[tuple[int, int | None, float | None]]:
        perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc", timeline=timeline,
                                     performance=PerformanceSpec(), errors=errors)
        return [(w.rows, w.errors, w.error_rate) for w in perf.windows]

    # by rows: to the run being filled when the refusal came (before the first row: the first run)
    assert rates(TimelineSpec(by="rows", rows=3)) == [(3, 2, 2 / 5), (3, 2, 2 / 5)]
    # the runs cut off by max_windows take their refusals with them
    assert rates(TimelineSpec(by="rows", rows=3, max_windows=1)) == [(3, 2, 2 / 5)]
    # by time: to its calendar bin, and a bin of refusals alone is a window where every request failed
    assert rates(TimelineSpec(by="time", every="1D")) == [(6, 3, 3 / 9), (0, 1, 1.0)]


# --------------------------------------------------------------------------- the facade


@pytest.fixture()
def logged_project(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> Path:
    """A copy of the trained project with 1,200 logged predictions over four days, half of them labelled."""
    import tabloop
    from tabloop.api._project import Project

    root = tmp_path / "proj"
    shutil.copytree(trained_project, root)
    spec = (root / "tabloop.yaml").read_text().replace("    rows: 1000\n", "    rows: 300\n")
    (root / "tabloop.yaml").write_text(spec)
    proj = Project.open(root)
    # the shared trained project may already hold rows other tests logged; this window must be exactly ours
    for old in proj.predlog.directory.glob("*.jsonl"):
        old.unlink()
    bundle = proj.load_bundle(None)
    rows = hmda.sample(n=1_200, random_state=1).reset_index(drop=True)
    rows.loc[600:, "dir"] = rows.loc[600:, "dir"] * 1.5  # the second half drifts
    features = rows[bundle.contract.feature_names]
    out = bundle.predict(features).records()
    ts = pd.date_range("2024-05-01", periods=len(rows), freq="5min", tz="UTC")
    records = [
        {"request_id": f"q{i}", "row": 0, "ts": ts[i].isoformat(), "source": "http", "model": bundle.name,
         "version": bundle.version, "variant": "champion", "inputs": features.iloc[i].to_dict(),
         "prediction": o["prediction"], "probabilities": o["probabilities"], "latency_ms": 3.0 + i % 7}
        for i, o in enumerate(out)
    ]
    proj.predlog.append(records)
    labels = pd.DataFrame({"request_id": [f"q{i}" for i in range(0, 1_200, 2)],
                           "label": rows["deny"].iloc[0:1_200:2].to_numpy()})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    tabloop.feedback(tmp_path / "labels.csv", project=root)
    return root


def test_monitor_over_a_logged_project(logged_project: Path) -> None:
    import tabloop

    res = tabloop.monitor(logged_project)
    assert "dir" in res.drifted_features
    assert res.policy_crossed and any("dir" in r for r in res.reasons)
    assert res.ranked_drift[0] in res.drifted_features
    assert res.performance is not None and res.performance["labelled"] == 600 and res.performance["rows"] == 1_200
    doc = json.loads(Path(res.report_json).read_text())
    assert doc["decision"]["act"] is True
    tl = doc["timeline"]
    assert [w["rows"] for w in tl["windows"]] == [300] * 4
    # the drift statistic per window: low before the change, over the threshold after it
    dir_values = tl["values"]["dir"]
    assert dir_values[0] < tl["thresholds"]["dir"] <= dir_values[-1]
    assert tl["drifted"]["dir"] == [False, False, True, True]
    perf = doc["performance"]
    assert [w["labelled"] for w in perf["windows"]] == [150] * 4
    assert all(w["realized"]["roc_auc"] is not None and w["estimated"]["roc_auc"] is not None for w in perf["windows"])
    assert perf["calibrated"] is True
    assert doc["features"] and doc["multivariate"]["auc"] is not None
    # importances come from the saved reference sample, which also holds the model's outputs and the target
    importances = {f["column"]: f["importance"] for f in doc["features"] if f["column"] != "prediction"}
    assert importances and all(v is not None for v in importances.values()), importances
    html = Path(res.report_html).read_text()
    for heading in ("Drift over time", "Performance over time", "Multivariate drift"):
        assert f"<h2>{heading}</h2>" in html
    assert "600 of 1,200 logged rows have a label" in html


def test_monitor_reads_around_a_damaged_log_and_counts_what_it_left_out(logged_project: Path) -> None:
    import tabloop
    from tabloop.api._project import Project

    log = Project.open(logged_project).predlog
    (path,) = log.directory.glob("predictions-*.jsonl")
    good = path.read_bytes().splitlines(keepends=True)
    # a full disk's fragment ending in '}' (it used to stop monitor with a DataError), garbage, JSON that is no
    # record, and at the end a fragment without its newline
    path.write_bytes(b"".join(good[:600]) + b'{"request_id": "x", "row": 0, "inputs": {"dir": 0.3}\n' + b"\x00\x00garbage\n"
                     + b'{"dir": 0.3}\n' + b"".join(good[600:]) + b'{"a": 1}')
    with open(log.directory / "feedback.jsonl", "ab") as fh:
        fh.write(b'{"request_id": "q1", "row": 0, "lab')
    res = tabloop.monitor(logged_project)
    assert res.skipped_lines == 5
    assert res.performance is not None and res.performance["rows"] == 1_200 and res.performance["labelled"] == 600
    assert "dir" in res.drifted_features
    assert tabloop.monitor(logged_project).to_dict()["skipped_lines"] == 5


def test_batch_rows_are_no_ab_variant_and_shadow_copies_count_once_in_drift(
    logged_project: Path, tmp_path: Path, hmda: pd.DataFrame
) -> None:
    import tabloop
    from tabloop.api._project import Project

    proj = Project.open(logged_project)
    # a challenger in shadow scored copies of the newest 100 requests: same inputs, same request ids
    served = proj.predlog.read_predictions()
    proj.predlog.append(served.tail(100).assign(source="shadow", variant="challenger", version="99")
                        .to_dict(orient="records"))
    # and a file of 200 other applications was scored in batch
    hmda.sample(n=200, random_state=7).drop(columns=["deny"]).to_csv(tmp_path / "batch.csv", index=False)
    scored = tabloop.predict(tmp_path / "batch.csv", tmp_path / "scored.csv", project=logged_project)
    logged = proj.predlog.read_predictions()
    assert (logged["source"] == "batch").sum() == scored.logged == 200 and set(logged["variant"]) >= {"batch"}
    res = tabloop.monitor(logged_project)
    # the batch run answered no request of the server: no A/B "variant"; the shadow challenger answered none either
    assert res.ab is None
    # every input once: 1,200 answered rows and 200 batch rows, not the 100 shadow copies of answered ones
    assert res.current_rows == 1_400
    doc = json.loads(Path(res.report_json).read_text())
    assert sum(w["rows"] for w in doc["timeline"]["windows"]) == 1_400


def _refuse(proj_root: Path, version: str | None, n: int, *, unrouted: int) -> list[str]:
    """Error records as the server writes them, spread over the logged period; returns their request ids."""
    from tabloop.api._project import Project
    from tabloop.predlog import error_record

    proj = Project.open(proj_root)
    ts = pd.date_range("2024-05-01", periods=n + unrouted, freq="70min", tz="UTC")
    records = [
        error_record(request_id=f"bad{i}", status=422, code="contract_violation", message="column 'dir': bad",
                     dialect="tabloop", model=proj.spec.model_name, version=version, variant="champion", rows=1,
                     latency_ms=1.0, ts=ts[i].isoformat())
        for i in range(n)
    ] + [
        error_record(request_id=f"unrouted{i}", status=400, code="malformed_request", message="not JSON",
                     dialect="mlflow", ts=ts[n + i].isoformat())
        for i in range(unrouted)
    ]
    proj.predlog.append(records)
    return [r["request_id"] for r in records]


def test_monitor_and_dashboard_report_the_error_rate_and_nothing_else_sees_the_refusals(
    logged_project: Path, tmp_path: Path
) -> None:
    import tabloop
    from tabloop.api._dashboard_source import DashboardSource
    from tabloop.api._project import Project

    proj = Project.open(logged_project)
    bundle = proj.load_bundle(None)
    refused = _refuse(logged_project, bundle.version, 60, unrouted=20)
    # labels sent for refused requests find no prediction to join
    pd.DataFrame({"request_id": refused, "label": "yes"}).to_csv(tmp_path / "late.csv", index=False)
    fed = tabloop.feedback(tmp_path / "late.csv", project=logged_project)
    assert (fed.matched, fed.unmatched, fed.total_labelled) == (0, 80, 600)

    res = tabloop.monitor(logged_project)
    assert res.performance is not None and res.performance["rows"] == 1_200 and res.performance["labelled"] == 600
    assert (res.performance["requests"], res.performance["errors"]) == (1_280, 80)
    doc = json.loads(Path(res.report_json).read_text())
    # drift and performance windows hold the answered rows only
    assert [w["rows"] for w in doc["timeline"]["windows"]] == [300] * 4
    perf = doc["performance"]
    assert [w["rows"] for w in perf["windows"]] == [300] * 4 and [w["labelled"] for w in perf["windows"]] == [150] * 4
    assert res.current_rows == 1_200  # the predictions, none of the 80 refusals: they carry no inputs
    groups = {(g["version"], g["variant"]): (g["requests"], g["errors"], g["error_rate"]) for g in perf["groups"]}
    assert groups == {(bundle.version, "champion"): (1_260, 60, pytest.approx(60 / 1_260)),
                      (None, None): (20, 20, 1.0)}
    assert (perf["requests"], perf["errors"]) == (1_280, 80) and perf["error_rate"] == pytest.approx(80 / 1_280)
    assert sum(w["errors"] for w in perf["windows"]) == 80
    assert all(w["error_rate"] == pytest.approx(w["errors"] / w["requests"]) for w in perf["windows"])
    html = Path(res.report_html).read_text()
    assert "refused" in html and "error rate" in html

    # the dashboard's numbers are the report's
    data = DashboardSource(proj)(bundle)
    assert data["performance"]["groups"] == perf["groups"]
    assert [w["error_rate"] for w in data["performance"]["windows"]] == [w["error_rate"] for w in perf["windows"]]
    assert data["performance"]["error_rate"] == perf["error_rate"]


def test_dashboard_of_a_log_of_refusals_only_shows_the_error_rate(logged_project: Path) -> None:
    from tabloop.api._dashboard_source import DashboardSource
    from tabloop.api._project import Project

    proj = Project.open(logged_project)
    for old in proj.predlog.directory.glob("predictions-*.jsonl"):
        old.unlink()
    _refuse(logged_project, proj.load_bundle(None).version, 6, unrouted=2)
    data = DashboardSource(proj)(proj.load_bundle(None))
    perf = data["performance"]
    assert data["timeline"] is None and data["outputs"] is None
    assert perf["rows"] == 0 and (perf["requests"], perf["errors"], perf["error_rate"]) == (8, 8, 1.0)
    assert all(w["rows"] == 0 and w["error_rate"] == 1.0 for w in perf["windows"])


def test_a_window_judges_the_answers_not_the_shadow_copies_of_them() -> None:
    log = _log(600, labelled_share=1.0).assign(source="http")
    # the challenger in shadow predicts the opposite on a copy of every request, with the same label
    flipped = log.assign(source="shadow", version="3", variant="challenger",
                         prediction=np.where(log["prediction"] == "yes", "no", "yes"),
                         probabilities=[{"no": d["yes"], "yes": d["no"]} for d in log["probabilities"]])
    both = pd.concat([log, flipped], ignore_index=True).sort_values("ts", kind="stable", ignore_index=True)
    timeline, policy = TimelineSpec(rows=1_200), PerformanceSpec()
    alone = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc",
                                  timeline=timeline, performance=policy)
    shadowed = performance_over_time(both, task="binary", classes=["no", "yes"], metric="roc_auc",
                                     timeline=timeline, performance=policy)
    assert shadowed.windows[0].labelled == 600
    assert shadowed.windows[0].realized == pytest.approx(alone.windows[0].realized)
    assert shadowed.windows[0].estimated == pytest.approx(alone.windows[0].estimated)
    # the challenger's own figures stay in its group
    challenger = next(g for g in shadowed.groups if g.variant == "challenger")
    assert challenger.realized == pytest.approx(1 - alone.windows[0].realized["roc_auc"])


def test_error_records_without_a_time_are_counted_per_group_and_said_so() -> None:
    from tabloop.report._monitor_report import _performance_html

    log = _log(200, labelled_share=1.0).assign(source="http")
    errors = _refusals(log, np.arange(0, 200, 20)).assign(ts="not a time")
    perf = performance_over_time(log, task="binary", classes=["no", "yes"], metric="roc_auc",
                                 timeline=TimelineSpec(by="time", every="1D"), performance=PerformanceSpec(),
                                 errors=errors)
    assert all(w.requests is None for w in perf.windows)
    assert sum(g.errors or 0 for g in perf.groups) == 10
    html = _performance_html(perf)
    assert "placed in no window" in html and "were not read" not in html


def test_logged_rows_the_contract_refuses_are_left_out_and_counted(logged_project: Path, hmda: pd.DataFrame) -> None:
    """A batch run before the stream logged numbers as numbers wrote a CSV's cells as text ('32'): monitor
    used to refuse the whole window over them ("expected a number, got '32'")."""
    import tabloop
    from tabloop.api._project import Project

    proj = Project.open(logged_project)
    bundle = proj.load_bundle(None)
    features = hmda.head(3)[bundle.contract.feature_names]
    out = bundle.predict(features).records()
    old = [{"request_id": f"batch-old-{i}", "row": i, "ts": "2024-05-05T00:00:00+00:00", "source": "batch",
            "model": bundle.name, "version": bundle.version, "variant": "champion",
            "inputs": {k: str(v) if k in ("dir", "hir") else v for k, v in features.iloc[i].to_dict().items()},
            "prediction": o["prediction"], "probabilities": o["probabilities"], "latency_ms": 1.0}
           for i, o in enumerate(out)]
    proj.predlog.append(old)

    res = tabloop.monitor(logged_project)
    assert res.skipped_rows == 3
    # one entry per row, naming each column it broke
    assert len(res.skipped_rows_why) == 3
    assert all("'dir'" in w and "'hir'" in w and "batch-old-" in w for w in res.skipped_rows_why)
    assert res.performance is not None and res.performance["rows"] == 1_200  # the figures are the usable rows'
    assert "dir" in res.drifted_features  # and the verdict is the one without them
