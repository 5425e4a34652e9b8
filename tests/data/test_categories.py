"""Category spelling and the two missing markers (tabloop.data._categories)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tabloop.data import MISSING_LABEL, MISSING_SENTINEL, category_label, is_missing


def test_one_spelling_per_value() -> None:
    assert [category_label(v) for v in (1, 1.0, "1", np.float64(2.0), 2.5)] == ["1", "1", "1", "2", "2.5"]
    assert [category_label(v) for v in (True, np.bool_(False), "x")] == ["true", "false", "x"]


def test_missing_cells() -> None:
    assert all(is_missing(v) for v in (None, math.nan, pd.NaT, pd.NA))
    assert not any(is_missing(v) for v in ("", 0, [1, 2]))


def test_the_two_markers_differ_and_the_sentinel_is_no_text_a_person_types() -> None:
    assert MISSING_LABEL != MISSING_SENTINEL
    assert MISSING_SENTINEL.startswith("\x00")
    assert MISSING_LABEL == "<missing>"
