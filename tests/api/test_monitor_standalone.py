"""tabloop monitor with two tables and no project: what it compares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import tabloop


def test_row_numbers_and_timestamps_are_not_compared_as_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600

    def window(start: int, day: str) -> pd.DataFrame:
        return pd.DataFrame({
            "row": np.arange(start, start + n),  # an R or pandas export's row numbers: always "drifted"
            "created": pd.date_range(day, periods=n, freq="min").astype(str),
            "x": rng.normal(0, 1, n),
            "c": rng.choice(["a", "b"], n),
        })

    res = tabloop.monitor(reference=window(0, "2026-01-01"), current=window(n, "2026-06-01"),
                          report_dir=tmp_path)
    assert res.not_compared == {"row": "identifier", "created": "datetime"}
    assert res.drifted_features == []
    assert [f["column"] for f in res.features] == ["x", "c"]
