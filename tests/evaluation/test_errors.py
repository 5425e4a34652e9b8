"""The most confidently wrong test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.evaluation import confident_errors

FEATURES = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 5.0], "colour": ["red", "blue", "red", "green", "red"]},
                        index=[10, 11, 12, 13, 14])


def test_wrong_answers_given_most_surely_come_first() -> None:
    y = np.array([0, 1, 0, 1, 0])
    p1 = np.array([0.95, 0.3, 0.6, 0.9, 0.1])  # wrong: rows 0 (0.95), 1 (0.7 sure of "no"), 2 (0.6)
    proba = np.column_stack([1 - p1, p1])
    rows = confident_errors("binary", FEATURES, y, count=2, classes=["no", "yes"], proba=proba,
                            y_pred=(p1 >= 0.5).astype(int))
    assert [r["row"] for r in rows] == [0, 1]
    first = rows[0]
    assert (first["true"], first["predicted"]) == ("no", "yes")
    assert first["probability"] == pytest.approx(0.95) and first["probability_of_true"] == pytest.approx(0.05)
    assert first["features"] == {"x": 1.0, "colour": "red"}
    assert rows[1]["probability"] == pytest.approx(0.7)
    third = confident_errors("binary", FEATURES, y, count=3, classes=["no", "yes"], proba=proba)[2]
    assert third["row"] == 2 and third["features"]["x"] is None  # a gap is null in JSON, not NaN
    assert len(confident_errors("binary", FEATURES, y, count=10, classes=["no", "yes"], proba=proba)) == 3
    assert confident_errors("binary", FEATURES, y, count=0, classes=["no", "yes"], proba=proba) == []


def test_regression_shows_the_largest_errors() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([1.1, 5.0, 3.0, 3.0, 5.5])
    rows = confident_errors("regression", FEATURES, y, count=3, y_pred=pred)
    assert [r["row"] for r in rows] == [1, 3, 4]
    assert rows[0]["error"] == pytest.approx(3.0) and rows[1]["error"] == pytest.approx(-1.0)
