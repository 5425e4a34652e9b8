"""The A/B summary over synthetic prediction logs (through the real app: tests/serving/test_serve_holdout_ab.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tabloop.monitoring import ab_summary, answered_variants, drift_report
from tabloop.monitoring._drift import compute_drift
from tabloop.spec import ABTestSpec, DriftSpec

CLASSES = ["no", "yes"]


def _log(n_champion: int, n_challenger: int, err_champion: float, err_challenger: float, *, labelled: float = 1.0,
         seed: int = 0) -> pd.DataFrame:
    """A binary log: each variant errs on a known share of its rows; ``labelled`` of them got a label."""
    rng = np.random.default_rng(seed)
    rows = []
    for variant, n, err in (("champion", n_champion, err_champion), ("challenger", n_challenger, err_challenger)):
        truth = rng.choice(CLASSES, n)
        wrong = rng.random(n) < err
        for i in range(n):
            pred = truth[i] if not wrong[i] else ("yes" if truth[i] == "no" else "no")
            p_yes = 0.8 if pred == "yes" else 0.2
            rows.append({
                "request_id": f"{variant}-{i // 2}", "row": i % 2, "ts": "2024-01-01T00:00:00.000+00:00",
                "source": "http", "version": "1" if variant == "champion" else "2", "variant": variant,
                "prediction": pred, "probabilities": {"no": 1 - p_yes, "yes": p_yes},
                "label": truth[i] if rng.random() < labelled else None,
            })
    return pd.DataFrame(rows)


def test_a_truly_better_challenger_is_detected_with_the_z_test_numbers() -> None:
    log = _log(2000, 2000, 0.30, 0.20)
    ab = ab_summary(log, task="binary", classes=CLASSES, metric="roc_auc")
    assert [v.variant for v in ab.variants] == ["champion", "challenger"]
    champ, chall = ab.variants
    assert (champ.requests, champ.rows, champ.labelled) == (1000, 2000, 2000)
    assert chall.errors["error_rate"] == pytest.approx(1 - chall.errors["accuracy"])
    assert chall.metric is not None and champ.metric is not None and chall.metric > champ.metric
    (c,) = ab.comparisons
    assert c.verdict == "challenger_better" and c.better == "challenger" and ab.verdict == "challenger_better"
    # the textbook two-proportion z-test, pooled for the p-value
    e1, e2 = champ.errors["error_rate"], chall.errors["error_rate"]
    pooled = (e1 + e2) / 2
    z = (e2 - e1) / math.sqrt(pooled * (1 - pooled) * (2 / 2000))
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert c.difference == pytest.approx(e2 - e1) and c.difference < 0
    assert c.ci_low < c.difference < c.ci_high < 0
    assert "challenger is better" in c.detail and "two-proportion z-test" in c.detail


def test_a_worse_challenger_makes_the_champion_the_winner() -> None:
    (c,) = ab_summary(_log(1500, 1500, 0.15, 0.25, seed=3), task="binary", classes=CLASSES, metric="accuracy").comparisons
    assert c.verdict == "champion_better" and c.difference > 0


def test_equal_variants_are_not_significant() -> None:
    # over many seeds, a test at alpha 0.05 should call equal variants different about 5% of the time
    calls = [ab_summary(_log(600, 600, 0.25, 0.25, seed=s), task="binary", classes=CLASSES,
                        metric="roc_auc").comparisons[0] for s in range(40)]
    assert sum(c.verdict != "no_significant_difference" for c in calls) <= 6
    c = calls[0]
    assert c.verdict == "no_significant_difference" and c.better is None
    assert c.ci_low < 0 < c.ci_high and c.p_value >= 0.05


def test_too_few_labels_are_reported_with_the_counts() -> None:
    log = _log(400, 400, 0.30, 0.10, labelled=0.05, seed=1)
    ab = ab_summary(log, task="binary", classes=CLASSES, metric="roc_auc", spec=ABTestSpec(min_labels=50))
    (c,) = ab.comparisons
    champ, chall = ab.variants
    assert c.verdict == "not_enough_labels" and c.p_value is None and c.ci_low is None
    assert f"champion has {champ.labelled}, challenger has {chall.labelled}" in c.detail
    assert "needs 50" in c.detail
    assert champ.metric is None  # below the minimum no realized metric either


def test_shadow_and_holdout_rows_are_left_out() -> None:
    log = _log(300, 300, 0.2, 0.2)
    shadow = log[log["variant"] == "champion"].assign(variant="challenger", source="shadow", version="2")
    held = log.head(10).assign(holdout=True)
    full = pd.concat([log.iloc[10:], held, shadow], ignore_index=True)
    ab = ab_summary(full, task="binary", classes=CLASSES, metric="roc_auc")
    assert ab.excluded == {"shadow": 300, "holdout": 10, "batch": 0}
    assert {v.variant: v.rows for v in ab.variants} == {"champion": 290, "challenger": 300}
    # a shadow-only challenger answered nothing: one variant, no comparison
    only_shadow = pd.concat([log[log["variant"] == "champion"], shadow], ignore_index=True)
    assert answered_variants(only_shadow) == ["champion"]
    assert ab_summary(only_shadow, task="binary", classes=CLASSES, metric="roc_auc").comparisons == []


def test_batch_scored_rows_are_no_variant_of_the_ab_test() -> None:
    # `tabloop predict` logs its rows with source "batch" (and variant "batch"): no served variant answered them
    log = _log(300, 300, 0.3, 0.2)
    batch = log[log["variant"] == "champion"].assign(source="batch", variant="batch", request_id="batch-1")
    ab = ab_summary(pd.concat([log, batch], ignore_index=True), task="binary", classes=CLASSES, metric="roc_auc")
    assert [v.variant for v in ab.variants] == ["champion", "challenger"]
    assert ab.excluded == {"shadow": 0, "holdout": 0, "batch": 300}
    assert [(c.baseline, c.variant) for c in ab.comparisons] == [("champion", "challenger")]
    # served champion and a batch run: one variant answered, so there is nothing to compare
    alone = pd.concat([log[log["variant"] == "champion"], batch], ignore_index=True)
    assert answered_variants(alone) == ["champion"]


def test_regression_uses_welch_on_squared_errors() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for variant, sd in (("champion", 2.0), ("challenger", 1.0)):
        y = rng.normal(10, 3, 800)
        pred = y + rng.normal(0, sd, 800)
        rows += [{"request_id": f"{variant}{i}", "row": 0, "source": "http", "variant": variant, "version": "1",
                  "prediction": float(p), "probabilities": None, "label": float(t)} for i, (p, t) in enumerate(zip(pred, y))]
    log = pd.DataFrame(rows)
    ab = ab_summary(log, task="regression", classes=[], metric="rmse")
    (c,) = ab.comparisons
    assert c.test == "Welch's t-test" and c.quantity == "mean squared error"
    a = (log.loc[log.variant == "champion", "label"] - log.loc[log.variant == "champion", "prediction"]) ** 2
    b = (log.loc[log.variant == "challenger", "label"] - log.loc[log.variant == "challenger", "prediction"]) ** 2
    assert c.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-6)
    assert c.verdict == "challenger_better"
    assert ab.variants[1].errors["rmse"] == pytest.approx(math.sqrt(b.mean()))
    mae = ab_summary(log, task="regression", classes=[], metric="mae").comparisons[0]
    assert mae.quantity == "mean absolute error" and mae.verdict == "challenger_better"


def test_the_report_carries_the_ab_section() -> None:
    ab = ab_summary(_log(500, 500, 0.3, 0.2), task="binary", classes=CLASSES, metric="roc_auc")
    frame = pd.DataFrame({"x": np.arange(100.0)})
    report = drift_report(compute_drift(frame, frame, policy=DriftSpec(), multivariate=False), frame, frame, ab=ab)
    assert report.data["ab"]["verdict"] == "challenger_better"
    assert report.data["ab"]["comparisons"][0]["p_value"] < 0.05
    html = report.to_html()
    assert "A/B test" in html and "challenger is better" in html


def test_tabloop_monitor_reports_ab_and_holdout(trained_project: Path, tmp_path: Path, hmda: pd.DataFrame) -> None:
    """The facade: an 'ab' section in the JSON and a table in the HTML when two variants answered."""
    import tabloop
    from tabloop.api._project import Project

    root = tmp_path / "proj"
    shutil.copytree(trained_project, root)
    proj = Project.open(root)
    for old in proj.predlog.directory.glob("*.jsonl"):
        old.unlink()
    bundle = proj.load_bundle(None)
    rows = hmda.sample(n=800, random_state=2).reset_index(drop=True)
    features = rows[bundle.contract.feature_names]
    out = bundle.predict(features).records()
    records = []
    for i, o in enumerate(out):
        variant = "challenger" if i % 2 else "champion"
        prediction = o["prediction"]
        if variant == "challenger" and i % 3 == 0:  # the challenger gets a third of its rows wrong on purpose
            prediction = "no" if rows["deny"].iloc[i] == "yes" else "yes"
        records.append({
            "request_id": f"q{i}", "row": 0, "ts": "2024-05-01T00:00:00.000+00:00", "source": "http",
            "model": bundle.name, "version": bundle.version if variant == "champion" else "99", "variant": variant,
            "inputs": features.iloc[i].to_dict(), "prediction": prediction, "probabilities": o["probabilities"],
            "latency_ms": 2.0, **({"holdout": True} if i % 20 == 0 else {}),
        })
    proj.predlog.append(records)
    pd.DataFrame({"request_id": [f"q{i}" for i in range(800)], "label": rows["deny"].to_numpy()}).to_csv(
        tmp_path / "labels.csv", index=False)
    tabloop.feedback(tmp_path / "labels.csv", project=root)
    res = tabloop.monitor(root)
    assert res.ab is not None and res.ab["verdict"] == "champion_better"
    assert res.ab["excluded"] == {"shadow": 0, "holdout": 40, "batch": 0}
    # every 20th row (all of them champion rows) was a holdout row, answered with the prior
    assert {v["variant"]: v["labelled"] for v in res.ab["variants"]} == {"champion": 360, "challenger": 400}
    assert res.performance is not None and res.performance["holdout"]["labelled"] == 40
    doc = json.loads(Path(res.report_json).read_text())
    assert doc["ab"]["comparisons"][0]["test"] == "two-proportion z-test"
    html = Path(res.report_html).read_text()
    assert "<h2>A/B test</h2>" in html and "champion is better" in html and "Feedback holdout" in html


def _zeros_and_ones(errors: int, n: int) -> np.ndarray:
    return np.r_[np.ones(errors), np.zeros(n - errors)]


def test_the_error_rate_interval_is_newcombes_and_agrees_with_the_test() -> None:
    from tabloop.monitoring._ab import _compare

    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339)
    c = _compare("champion", "challenger", _zeros_and_ones(48, 80), _zeros_and_ones(56, 70), "binary", "roc_auc",
                 ABTestSpec(min_labels=2))
    assert (round(c.ci_low, 4), round(c.ci_high, 4)) == (0.0524, 0.3339)
    # no error on either side: an interval, not the point the Wald interval collapses to
    none = _compare("champion", "challenger", np.zeros(60), np.zeros(60), "binary", "roc_auc", ABTestSpec())
    assert none.ci_low < 0 < none.ci_high and none.verdict == "no_significant_difference"
    # the detail never says "no difference" beside an interval that excludes 0 (1/50 vs 6/50 did, with Wald)
    edge = _compare("champion", "challenger", _zeros_and_ones(1, 50), _zeros_and_ones(6, 50), "binary", "roc_auc",
                    ABTestSpec())
    assert (edge.p_value < 0.05) == (not edge.ci_low <= 0 <= edge.ci_high)
