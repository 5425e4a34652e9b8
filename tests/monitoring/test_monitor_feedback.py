"""Self-reinforcing feedback: the warning when labels come only from the model's choices, and holdout performance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabloop.monitoring import label_selection_warning, performance_over_time
from tabloop.spec import PerformanceSpec, TimelineSpec

CLASSES = ["no", "yes"]


def _log(n: int = 1000, *, seed: int = 0) -> pd.DataFrame:
    """A binary log: the model says 'yes' on about 30% of rows, right 80% of the time; no labels yet."""
    rng = np.random.default_rng(seed)
    p_yes = np.clip(rng.beta(2, 4, n), 0.01, 0.99)
    pred = np.where(p_yes >= 0.5, "yes", "no")
    truth = np.where(rng.random(n) < 0.8, pred, np.where(pred == "yes", "no", "yes"))
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "row": 0, "ts": "2024-01-01T00:00:00.000+00:00",
        "source": "http", "version": "1", "variant": "champion", "prediction": pred,
        "probabilities": [{"no": 1 - p, "yes": p} for p in p_yes], "truth": truth, "label": None,
    })


def test_labels_only_for_predicted_positives_warn_with_counts() -> None:
    log = _log()
    chosen = log["prediction"] == "yes"
    log.loc[chosen, "label"] = log.loc[chosen, "truth"]
    warning = label_selection_warning(log, "binary")
    n_yes, n_no = int(chosen.sum()), int((~chosen).sum())
    assert warning is not None
    assert f"{n_yes} of {n_yes} predicted 'yes' are labelled" in warning
    assert f"none of the {n_no} predicted 'no'" in warning
    assert "serving.feedback_holdout.share" in warning
    perf = performance_over_time(log, task="binary", classes=CLASSES, metric="roc_auc", timeline=TimelineSpec(),
                                 performance=PerformanceSpec())
    assert perf.label_bias == warning and perf.to_dict()["label_bias"] == warning
    assert perf.holdout is None  # no holdout rows in this log


def test_labels_at_random_do_not_warn() -> None:
    log = _log(seed=1)
    some = np.random.default_rng(2).random(len(log)) < 0.2
    log.loc[some, "label"] = log.loc[some, "truth"]
    assert label_selection_warning(log, "binary") is None


def test_a_rarely_predicted_class_without_labels_is_not_suspicious() -> None:
    log = _log(seed=3)
    log.loc[:4, "prediction"] = "maybe"  # five rows of a third class, none labelled
    some = np.random.default_rng(4).random(len(log)) < 0.1
    some[:5] = False
    log.loc[some, "label"] = log.loc[some, "truth"]
    assert label_selection_warning(log, "multiclass") is None
    assert label_selection_warning(log.assign(label=None), "binary") is None  # no labels: nothing to judge
    assert label_selection_warning(log, "regression") is None


def test_holdout_rows_are_reported_apart_and_named_in_the_warning() -> None:
    log = _log(2000, seed=5)
    held = np.random.default_rng(6).random(len(log)) < 0.1
    log["holdout"] = held
    # the business labels what the model approved, and every holdout row
    chosen = (log["prediction"] == "yes") | held
    log.loc[chosen, "label"] = log.loc[chosen, "truth"]
    warning = label_selection_warning(log, "binary")
    assert warning is not None and f"the {int(held.sum())} labelled holdout rows" in warning
    perf = performance_over_time(log, task="binary", classes=CLASSES, metric="accuracy", timeline=TimelineSpec(),
                                 performance=PerformanceSpec(min_labels=30))
    h = perf.holdout
    assert h is not None and (h.rows, h.labelled) == (int(held.sum()), int(held.sum()))
    expected = float((log.loc[held, "prediction"] == log.loc[held, "truth"]).mean())
    assert abs(h.realized["accuracy"] - expected) < 1e-12
    decided = chosen & ~held
    assert h.decided_labelled == int(decided.sum())
    assert abs(h.decided_realized["accuracy"] - float((log.loc[decided, "prediction"] == log.loc[decided, "truth"]).mean())) < 1e-12
    assert perf.to_dict()["holdout"]["labelled"] == int(held.sum())
    few = performance_over_time(log, task="binary", classes=CLASSES, metric="accuracy", timeline=TimelineSpec(),
                                performance=PerformanceSpec(min_labels=10_000))
    assert few.holdout is not None and few.holdout.realized["accuracy"] is None
    assert "too few to judge" in (few.holdout.note or "")


def test_shadow_rows_do_not_count_as_decided() -> None:
    log = _log(seed=8)
    some = np.random.default_rng(9).random(len(log)) < 0.3
    log.loc[some, "label"] = log.loc[some, "truth"]
    # the shadow challenger's class never got a label, but its answers were never returned: no selection by it
    shadow = log.assign(source="shadow", variant="challenger", prediction="maybe", label=None)
    assert label_selection_warning(pd.concat([log, shadow], ignore_index=True), "multiclass") is None
    assert label_selection_warning(pd.concat([log, shadow.assign(source="http")], ignore_index=True), "multiclass")


def test_a_model_that_predicts_one_class_only_warns_even_with_every_row_labelled() -> None:
    log = _log(seed=10).assign(prediction="no")
    log["label"] = log["truth"]
    warning = label_selection_warning(log, "binary")
    assert warning is not None and f"all {len(log)} labels came back for rows the model predicted 'no'" in warning
