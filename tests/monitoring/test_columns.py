"""How monitoring reads a column: the category labels are the cell-by-cell spelling, however they are computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.data import MISSING_LABEL, category_label, is_missing
from tabloop.monitoring._columns import category_labels


def _cell_by_cell(series: pd.Series) -> list[str]:
    return [MISSING_LABEL if is_missing(v) else category_label(v) for v in series]


@pytest.mark.parametrize("series", [
    pd.Series(["b", "a", None, "b", np.nan, "a", pd.NA], dtype=object),
    pd.Series([True, False, True]),
    pd.Series([3, 1, 3, -2], dtype="int64"),
    pd.Series([1.0, 2.5, np.nan, -0.0, 0.0, 1.0, np.inf], dtype="float64"),
    pd.Series([True, 1, 1.0, "1", None, False, 0], dtype=object),  # mixed: True and 1 hash alike
    pd.Series(["x", "y", None, "x"], dtype="category"),
    pd.Series(["x", "y", None], dtype="string"),
    pd.Series([], dtype=object),
], ids=["strings", "bools", "ints", "floats", "mixed", "categorical", "string-dtype", "empty"])
def test_category_labels_spell_each_cell_as_category_label_does(series: pd.Series) -> None:
    series.index = pd.RangeIndex(10, 10 + len(series))
    got = category_labels(series)
    assert got.tolist() == _cell_by_cell(series)
    assert got.index.equals(series.index)
