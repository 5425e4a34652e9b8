"""Feedback labels joined to the log keep their type: integer classes still match their predictions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tabloop.api._monitor import _with_labels
from tabloop.monitoring import ab_summary, performance_over_time
from tabloop.spec import PerformanceSpec, TimelineSpec


def _log(n: int) -> pd.DataFrame:
    predicted = np.arange(n) % 2
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "row": 0, "source": "http",
        "ts": pd.date_range("2024-03-01", periods=n, freq="1min", tz="UTC").map(lambda t: t.isoformat()),
        "version": "1", "variant": np.where(np.arange(n) < n // 2, "champion", "challenger"),
        "prediction": predicted,
        "probabilities": [{"0": 0.9, "1": 0.1} if p == 0 else {"0": 0.1, "1": 0.9} for p in predicted],
        "latency_ms": 1.0,
    })


def test_integer_labels_with_gaps_still_match_integer_predictions() -> None:
    log = _log(200)
    # 80% of the rows labelled, every label right; the rest not labelled yet
    labelled = log.iloc[:160]
    feedback = pd.DataFrame({"request_id": labelled["request_id"], "row": 0, "label": labelled["prediction"]})
    proj = SimpleNamespace(predlog=SimpleNamespace(read_feedback=lambda skipped=None: feedback))
    joined = _with_labels(proj, log)  # type: ignore[arg-type]
    assert int(joined["label"].notna().sum()) == 160
    ab = ab_summary(joined, task="binary", classes=[0, 1], metric="roc_auc")
    assert {v.variant: v.errors["error_rate"] for v in ab.variants} == {"champion": 0.0, "challenger": 0.0}
    perf = performance_over_time(joined, task="binary", classes=[0, 1], metric="roc_auc",
                                 timeline=TimelineSpec(rows=200), performance=PerformanceSpec())
    assert perf.windows[0].realized["accuracy"] == pytest.approx(1.0)
