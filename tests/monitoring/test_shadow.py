"""The shadow comparison over synthetic prediction logs (through the real server: tests/integration/test_shadow_http.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.evaluation import compute_metrics
from tabloop.loop import paired_gate
from tabloop.monitoring import shadow_comparison, shadow_pairs
from tabloop.spec import ShadowSpec
from tabloop.stats import delong_test

CLASSES = ["no", "yes"]


def _record(request_id: str, row: int, source: str, version: str, p_yes: float | None = None, *,
            value: float | None = None, label: object = None) -> dict[str, object]:
    rec: dict[str, object] = {"request_id": request_id, "row": row, "ts": "2026-01-01T00:00:00.000+00:00",
                              "source": source, "model": "m", "version": version,
                              "variant": "challenger" if source == "shadow" else "champion", "label": label}
    if value is not None:
        rec["prediction"] = value
    else:
        assert p_yes is not None
        rec["prediction"] = "yes" if p_yes >= 0.5 else "no"
        rec["probabilities"] = {"no": 1 - p_yes, "yes": p_yes}
    return rec


def test_pairs_by_request_and_row_with_hand_computed_agreement_and_differences() -> None:
    champion = [0.2, 0.6, 0.7, 0.4]
    challenger = [0.3, 0.4, 0.9, 0.45]
    rows = []
    for i, (a, b) in enumerate(zip(champion, challenger, strict=True)):
        rows.append(_record("r1" if i < 2 else "r2", i % 2, "http", "1", a))
    # the shadow copies arrive later and in another order, as the background thread writes them
    for i, b in reversed(list(enumerate(challenger))):
        rows.append(_record("r1" if i < 2 else "r2", i % 2, "shadow", "2", b))
    rows.append(_record("gone", 0, "shadow", "2", 0.9))  # its champion answer is not in the log
    rows.append(_record("r9", 0, "batch", "1", 0.9))  # batch scoring answered nobody: never paired
    rows.append(_record("r3", 0, "http", "1", 0.9))  # the challenger refused this row's copy (its contract)
    # a client reused the id r4: the copy holds other inputs than the answer kept, so the two are not a pair
    rows += [_record("r4", 0, "http", "1", 0.9), _record("r4", 0, "shadow", "2", 0.1)]
    log = pd.DataFrame(rows)
    log["inputs"] = [{"x": 1} for _ in range(len(log))]
    log.at[len(log) - 1, "inputs"] = {"x": 2}
    pairs = shadow_pairs(log, task="binary", classes=CLASSES)
    assert (pairs.rows, pairs.unpaired, pairs.challenger_version, pairs.champion_versions) == (4, 2, "2", ["1"])
    assert pairs.unshadowed == 2
    res = shadow_comparison(pairs, metric="roc_auc")
    assert (res.rows, res.requests, res.unshadowed) == (4, 2, 2)
    # classes at each model's threshold: no/no, yes/no, yes/yes, no/no: three of four agree
    assert res.agreement == pytest.approx(0.75)
    assert res.disagreements == [{"champion": "yes", "challenger": "no", "rows": 1}]
    diff = res.differences
    assert diff["of"] == "probability of 'yes'"
    # challenger - champion, row by row: +0.1, -0.2, +0.2, +0.05
    assert diff["mean"] == pytest.approx(0.0375) and diff["mean_abs"] == pytest.approx(0.1375)
    assert (diff["min"], diff["max"]) == (pytest.approx(-0.2), pytest.approx(0.2))
    assert diff["quantiles"]["p50"] == pytest.approx(0.075)
    assert sum(diff["histogram"]["counts"]) == 4 and len(diff["histogram"]["edges"]) == 11
    assert (res.labelled, res.realized, res.verdict) == (0, None, "not_enough_labels")
    assert "0 labelled paired rows of 4 compared" in res.detail
    assert res.to_dict()["agreement"] == pytest.approx(0.75)


def test_regression_agrees_within_the_tolerance_and_multiclass_reports_the_largest_change() -> None:
    rows = []
    for i, (a, b) in enumerate([(10.0, 10.5), (20.0, 23.0), (30.0, 29.0), (40.0, 40.0)]):
        rows += [_record(f"q{i}", 0, "http", "1", value=a), _record(f"q{i}", 0, "shadow", "2", value=b)]
    pairs = shadow_pairs(pd.DataFrame(rows), task="regression", classes=[])
    fixed = shadow_comparison(pairs, metric="rmse", spec=ShadowSpec(tolerance=1.0))
    assert fixed.agreement == pytest.approx(0.75) and fixed.tolerance == 1.0  # |3.0| is the one beyond 1
    assert fixed.differences["mean"] == pytest.approx((0.5 + 3.0 - 1.0 + 0.0) / 4)
    default = shadow_comparison(pairs, metric="rmse")
    # no tolerance set: a tenth of the standard deviation of the champion's answers (11.18...): 1.118
    assert default.tolerance == pytest.approx(0.1 * np.std([10.0, 20.0, 30.0, 40.0]))
    assert default.agreement == pytest.approx(0.75)

    three = ["a", "b", "c"]
    log = pd.DataFrame([
        {"request_id": "m", "row": 0, "source": "http", "version": "1", "prediction": "a",
         "probabilities": {"a": 0.6, "b": 0.3, "c": 0.1}},
        {"request_id": "m", "row": 0, "source": "shadow", "version": "2", "prediction": "b",
         "probabilities": {"a": 0.2, "b": 0.5, "c": 0.3}},
    ])
    multi = shadow_comparison(shadow_pairs(log, task="multiclass", classes=three), metric="log_loss")
    assert multi.agreement == 0.0 and multi.differences["mean"] == pytest.approx(0.4)  # a: 0.6 -> 0.2


def _labelled_log(n: int, *, challenger_noise: float, seed: int = 0, labelled: float = 1.0) -> pd.DataFrame:
    """Champion and shadow challenger on the same n rows; the challenger's probabilities are less noisy."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    champ = np.clip(0.5 + (truth - 0.5) * 0.3 + rng.normal(0, 0.35, n), 0.01, 0.99)
    chall = np.clip(0.5 + (truth - 0.5) * 0.3 + rng.normal(0, challenger_noise, n), 0.01, 0.99)
    has = rng.random(n) < labelled
    rows = []
    for i in range(n):
        label = CLASSES[truth[i]] if has[i] else None
        rows.append(_record(f"r{i}", 0, "http", "1", float(champ[i]), label=label))
        rows.append(_record(f"r{i}", 0, "shadow", "2", float(chall[i]), label=label))
    return pd.DataFrame(rows)


def test_labels_arriving_later_give_each_ones_metric_and_the_paired_test() -> None:
    full = _labelled_log(400, challenger_noise=0.1)
    before = full.assign(label=None)  # the answers are logged, no label came back yet
    early = shadow_comparison(shadow_pairs(before, task="binary", classes=CLASSES), metric="roc_auc")
    assert (early.rows, early.labelled, early.realized, early.verdict) == (400, 0, None, "not_enough_labels")

    pairs = shadow_pairs(full, task="binary", classes=CLASSES)
    res = shadow_comparison(pairs, metric="roc_auc", margin=0.0, significance=0.05)
    assert res.labelled == 400 and res.verdict == "challenger_better"
    y, a, b = pairs.labelled()
    champion_auc = compute_metrics("binary", y, proba=a.proba, y_pred=a.labels, metrics=["roc_auc"])["roc_auc"]
    challenger_auc = compute_metrics("binary", y, proba=b.proba, y_pred=b.labels, metrics=["roc_auc"])["roc_auc"]
    assert res.realized["champion"] == pytest.approx(champion_auc)
    assert res.realized["challenger"] == pytest.approx(challenger_auc) and challenger_auc > champion_auc
    # the test is DeLong's on the same pairs, and the loop's gate says the same on them
    expected = delong_test(y, a.proba[:, 1], b.proba[:, 1])
    assert res.realized["test"]["test"] == "delong" and res.realized["test"]["p_value"] == pytest.approx(expected.p_value)
    verdict = paired_gate("binary", "roc_auc", y, a, b, margin=0.0, significance=0.05)
    assert verdict.promote and verdict.test is not None and verdict.test.p_value == pytest.approx(expected.p_value)
    assert "the challenger is better" in res.detail and "delong one-sided p = " in res.detail

    # the same models, no real difference: not better, and the gate refuses as well
    same = _labelled_log(400, challenger_noise=0.35, seed=3)
    flat = shadow_pairs(same, task="binary", classes=CLASSES)
    even = shadow_comparison(flat, metric="roc_auc", margin=0.05)
    assert even.verdict == "challenger_not_better" and "not better by the margin 0.05" in even.detail


def test_a_partly_labelled_window_judges_only_from_min_labels_and_the_newest_challenger_is_compared() -> None:
    log = _labelled_log(100, challenger_noise=0.1, labelled=0.2, seed=1)
    pairs = shadow_pairs(log, task="binary", classes=CLASSES)
    res = shadow_comparison(pairs, metric="roc_auc", spec=ShadowSpec(min_labels=50))
    assert res.rows == 100 and 0 < res.labelled < 50 and res.verdict == "not_enough_labels"
    assert f"{res.labelled} labelled paired rows of 100 compared; the realized comparison needs 50" in res.detail
    # a newer challenger (v3) shadows after v2: the comparison follows the newest unless told which
    newer = pd.DataFrame([_record("n0", 0, "http", "1", 0.3), _record("n0", 0, "shadow", "3", 0.8)])
    both = pd.concat([log, newer], ignore_index=True)
    assert shadow_pairs(both, task="binary", classes=CLASSES).challenger_version == "3"
    assert shadow_pairs(both, task="binary", classes=CLASSES, challenger="2").rows == 100
    assert shadow_pairs(both, task="binary", classes=CLASSES, challenger="2", champion="7").rows == 0
