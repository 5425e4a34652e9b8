"""How a category is spelled, and the two markers for a missing one.

A category is compared as text, one spelling per value, so that ``1``, ``1.0`` and
``"1"`` (or ``True`` and ``"true"``) are one category whether the value came from a CSV,
a Parquet file or a JSON request. The contract's categories, the drift counts and the
domain classifier's codes all use :func:`category_label`.

The two missing markers mean different things and never meet:

- :data:`MISSING_LABEL` is what a person reads: the bucket missing values are counted
  under in drift tables and reports;
- :data:`MISSING_SENTINEL` travels inside an ONNX graph's string inputs, where a string
  has no NaN: a value no real category can be (the NUL byte), so that a gap is never
  confused with data. Export refuses a contract whose categories contain it.

:data:`UNKNOWN_CATEGORY` is what the contract's ``unknown`` policy puts in place of a
category never seen in training: one value no real category can be, which every encoder
answers as "none of the known categories" (all zeros one-hot, the rare bucket, the ordinal
code -1, the target mean), whatever the client sent, so both engines (pipeline and ONNX
graph) see the same input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MISSING_LABEL", "MISSING_SENTINEL", "UNKNOWN_CATEGORY", "category_label", "is_missing"]

#: the label missing values are counted and shown under (drift, reports)
MISSING_LABEL = "<missing>"
#: a categorical gap inside ONNX string inputs (ONNX strings have no NaN); never shown to a person
MISSING_SENTINEL = "\x00tabloop:missing"
#: an unseen category under the contract's ``unknown`` policy; never one of the trained categories
UNKNOWN_CATEGORY = "\x00tabloop:unknown"


def category_label(value: Any) -> str:
    """The one spelling of a category value: booleans lower-case, whole floats as integers, else ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def is_missing(value: Any) -> bool:
    """Whether one cell is missing (None, NaN, NaT, pd.NA); False for values pandas cannot judge (a list)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
